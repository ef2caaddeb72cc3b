"""schemathesis generates requests from the OpenAPI spec and sends them to a real server:
no 5xx, and every answer conforms to the documented responses.

schemathesis' own pytest plugin does not run under pytest 9, so the operations are driven
through its Python API with hypothesis directly. Its `positive_data_acceptance` check is left
out: the spec cannot say which procedure codes and file parts a valid submission names, so a
schema-valid request is rightly refused with 422."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from service.process import ServerProcess

KEY = "loopback-key"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory):
    server = ServerProcess(Path(tmp_path_factory.mktemp("schemathesis"))).start()
    yield schemathesis.openapi.from_url(f"{server.base}/openapi.json")
    server.stop()


def test_every_operation_conforms_to_its_spec(api_schema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/score", "/v1/procedures", "/healthz"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def conforms(case) -> None:
            case.call_and_validate(headers={"X-API-Key": KEY}, timeout=60,
                                   excluded_checks=[positive_data_acceptance])

        conforms()

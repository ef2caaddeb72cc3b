from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from moderation.settings import Settings
from service.app import create_app
from tests import photos

API_KEY = "test-key-1"
POSTGRES_BASE_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


def make_settings(data_dir: Path, database_url: str | None = None, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, api_keys=[API_KEY, "test-key-2"],
                    **overrides)


def postgres_available() -> str | None:
    """None if the server answers, else why not."""
    try:
        engine = create_engine(POSTGRES_BASE_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except OperationalError as exc:
        return f"PostgreSQL at 127.0.0.1:5432 does not answer ({type(exc.orig).__name__})"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    return POSTGRES_BASE_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh schema in the `test` database for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{postgres_server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Storage tests take this fixture to run against both databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'moderation.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def submission_json(**overrides: object) -> str:
    body: dict[str, object] = {
        "case_id": "c-1042", "member_id": "m-77", "procedure": "rhinoplasty",
        "consent_confirmed": True,
        "description": "Open rhinoplasty with spreader grafts; 14 months post-op.",
        "fields": {"approach": "open", "months_since_surgery": 14},
        "photo_sets": [{"view": "frontal", "before": "b1", "after": "a1"}],
    }
    body.update(overrides)
    return json.dumps(body)


def post_score(client: TestClient, submission: str | None = None,
               files: dict[str, bytes] | None = None, key: str | None = API_KEY):
    if files is None:
        files = {"b1": photos.jpeg(photos.scene(seed=1)), "a1": photos.jpeg(photos.scene(seed=2))}
    multipart = [("submission", (None, submission or submission_json(), "application/json"))]
    multipart += [(name, (f"{name}.jpg", data, "image/jpeg")) for name, data in files.items()]
    headers = {"X-API-Key": key} if key else {}
    return client.post("/v1/score", files=multipart, headers=headers)


LARGE_WATERMARK = "large-untrained"  # the version the fixture below registers


@pytest.fixture(scope="session")
def large_watermark_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry root holding a MobileNetV3-Large watermark network (width 1.0, learnt at a
    640-px side) with seeded, untrained weights, exported as training exports one: what the
    code does with that architecture is tested without shipping ~24 MiB of trained weights
    (the GPU-trained 1.3 and 1.4 left the registry to keep the working tree light)."""
    import torch

    from models.registry import ModelRegistry
    from models.watermark import ONNX_FILE, TORCHSCRIPT_FILE, MarkNet
    from training.train_watermark import write_served_files

    root, staging = tmp_path_factory.mktemp("large-registry"), tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    write_served_files(MarkNet(1.0, "large"), staging, long_side=640)
    ModelRegistry([root]).add(
        "watermark", LARGE_WATERMARK,
        {name: staging / name for name in (ONNX_FILE, TORCHSCRIPT_FILE)},
        config={"arch": "large", "width": 1.0, "freeze_to": 8, "long_side": 640},
        thresholds={"score": 0.5})
    return root

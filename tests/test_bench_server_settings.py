"""`bench/score_latency.py --config` (and `bench/load.py`'s): a settings file reaches the server
they time (`ServerProcess` drops the caller's MODERATION_CONFIG), and a missing one is refused
before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import load, score_latency
from service.process import ServerProcess


def test_a_settings_file_reaches_the_timed_server(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "join.toml"
    config.write_text('[checks.watermark.options]\nalso_version = "1.8"\n')
    monkeypatch.setenv("MODERATION_CONFIG", "/elsewhere.toml")  # the caller's: not passed on
    server = ServerProcess(tmp_path, settings_file=config)
    assert server.env["MODERATION_CONFIG"] == str(config.resolve())
    assert "MODERATION_CONFIG" not in ServerProcess(tmp_path).env


@pytest.mark.parametrize("bench", [score_latency, load])
def test_a_missing_settings_file_is_refused(bench, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as stopped:
        bench.main(["--config", "/no/such/settings.toml"])
    assert stopped.value.code == 2
    assert "--config /no/such/settings.toml is not a file" in capsys.readouterr().err

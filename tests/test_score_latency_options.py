"""`bench/score_latency.py --config`: a settings file reaches the server it times (the server
process drops the caller's MODERATION_CONFIG), and a missing one is refused before anything
starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import score_latency
from service.process import ServerProcess


def test_a_settings_file_reaches_the_timed_server(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "join.toml"
    config.write_text('[checks.watermark.options]\nalso_version = "1.4"\n')
    monkeypatch.setenv("MODERATION_CONFIG", "/elsewhere.toml")  # the caller's: not passed on
    server = ServerProcess(tmp_path, env=score_latency.server_env(config))
    assert server.env["MODERATION_CONFIG"] == str(config.resolve())
    assert "MODERATION_CONFIG" not in ServerProcess(tmp_path, env=score_latency.server_env(None)).env


def test_a_missing_settings_file_is_refused(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as stopped:
        score_latency.main(["--config", "/no/such/settings.toml"])
    assert stopped.value.code == 2
    assert "--config /no/such/settings.toml is not a file" in capsys.readouterr().err

"""The suite cannot be changed by a developer's .env, and cannot reach beyond this machine."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_a_dot_env_in_the_working_directory_is_not_read(tmp_path, monkeypatch):
    from app.config import Settings

    (tmp_path / ".env").write_text("JINGCE_DATA_DIR=/from/a/dot/env\nANSWER_TOP_K=3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert str(settings.data_dir) != "/from/a/dot/env" and settings.answer.top_k != 3


def test_a_connection_beyond_loopback_is_refused():
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1: never routed anyway


def test_a_jingce_subprocess_inherits_no_setting_of_the_shell(tmp_path, monkeypatch):
    import subprocess
    import sys

    from tests.conftest import clean_env

    monkeypatch.setenv("ANSWER_TOP_K", "3")  # as if exported in the developer's shell
    monkeypatch.setenv("QDRANT_URL", "http://192.0.2.1:6333")
    env = clean_env(JINGCE_DATA_DIR=str(tmp_path / "data"))
    assert "ANSWER_TOP_K" not in env and "QDRANT_URL" not in env and env["JINGCE_ENV_FILE"] == ""
    (tmp_path / ".env").write_text("ANSWER_TOP_K=4\n", encoding="utf-8")
    code = "from app.config import Settings; s = Settings(); print(s.answer.top_k, s.qdrant.url, s.data_dir)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout.split()
    from app.config import AnswerSettings

    assert out == [str(AnswerSettings.model_fields["top_k"].default), "None", str(tmp_path / "data")]

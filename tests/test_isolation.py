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

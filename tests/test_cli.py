"""The `jingce` command as a user runs it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import app


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("JINGCE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _last_json(output: str):
    return json.loads(output.strip().splitlines()[-1])


def test_ingest_search_stats(env, small_corpus):
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", str(small_corpus), "--json"])
    assert first.exit_code == 0, first.output
    summary = _last_json(first.stdout)
    assert summary["added"] == 5 and summary["failed"] == [] and summary["chunks_written"] > 20
    assert {"load", "chunk", "embed", "sparse", "write"} <= set(summary["seconds"])

    again = _last_json(runner.invoke(app, ["ingest", str(small_corpus), "--json"]).stdout)
    assert again["skipped"] == 5 and again["chunks_written"] == 0

    found = runner.invoke(app, ["search", "养老服务补贴津贴", "--json", "-k", "2"])
    hits = _last_json(found.stdout)
    assert hits[0]["doc_id"] == "bj-2019-elderly-subsidy" and hits[0]["document"]["doc_number"]

    stats = json.loads(runner.invoke(app, ["stats"]).stdout)
    assert stats["documents"] == 5 and stats["incomplete_documents"] == []
    assert stats["by_status"] == {"现行有效": 3, "已废止": 1, "未知": 1}


def test_search_on_an_empty_index_says_so(env):
    result = CliRunner().invoke(app, ["search", "低保"])
    assert result.exit_code == 0 and "index is empty" in result.output


def test_bad_arguments_are_clear(env):
    runner = CliRunner()
    missing = runner.invoke(app, ["ingest", str(env / "nope")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    bad_date = runner.invoke(app, ["search", "低保", "--from", "2024-13-45"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output

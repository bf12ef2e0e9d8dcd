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
    assert stats["by_validity"] == {"现行有效": 3, "已废止": 1, "未知": 1}


def test_search_on_an_empty_index_says_so(env):
    result = CliRunner().invoke(app, ["search", "低保"])
    assert result.exit_code == 0 and "index is empty" in result.output


def test_bad_arguments_are_clear(env):
    runner = CliRunner()
    missing = runner.invoke(app, ["ingest", str(env / "nope")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    bad_date = runner.invoke(app, ["search", "低保", "--from", "2024-13-45"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output


def test_train_routing_then_route(env, monkeypatch):
    """`jingce train routing` writes the model the service loads; `--if-changed` keeps a fit of the same
    data; a missing training file is said, not failed (make run goes on)."""
    texts = {"劳动和社会保障": ["公司拖欠工资三个月", "单位不给缴纳社保", "失业保险金怎么领取"],
             "城乡建设": ["小区电梯坏了没人修", "路灯不亮好几天了", "物业乱收停车费"]}
    train = env / "train.jsonl"
    train.write_text("\n".join(json.dumps({"留言主题": t, "留言详情": t + "，请处理。", "一级分类": c}, ensure_ascii=False)
                               for c, ts in texts.items() for t in ts), encoding="utf-8")
    monkeypatch.setenv("ROUTING_TRAIN_PATH", str(train))
    runner = CliRunner()
    fitted = runner.invoke(app, ["train", "routing", "--if-changed"])
    assert fitted.exit_code == 0 and "6 tickets, 2 categories" in fitted.output, fitted.output
    assert (env / "data" / "routing-model.npz").exists()
    again = runner.invoke(app, ["train", "routing", "--if-changed"])
    assert again.exit_code == 0 and "is up to date (6 tickets)" in again.output

    routed = runner.invoke(app, ["route", "老板拖欠工资不给，电话13812345678", "--no-draft", "--json"])
    assert routed.exit_code == 0, routed.output
    suggestion = _last_json(routed.stdout)
    assert suggestion["category"]["level1"] == "劳动和社会保障" and suggestion["model"]["trained_on"] == 6
    assert suggestion["departments"][0]["department"]["id"] == "bj-rsj" and "13812345678" not in suggestion["ticket"]

    monkeypatch.setenv("ROUTING_TRAIN_PATH", str(env / "missing.jsonl"))
    missing = runner.invoke(app, ["train", "routing"])
    assert missing.exit_code == 0 and "no labelled tickets" in missing.output

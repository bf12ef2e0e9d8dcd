"""The question bank (tests/data/bank) holds what issue 21 asks of it, mechanically: enough questions of
every kind, every gold document in the corpus, evidence verbatim, residents' words, and a split by
document that no question can cross."""

from __future__ import annotations

import json

import pytest

from app.question_bank import (COPY_RUN, KINDS, MAX_COPIED, check_bank, copied_run, load_bodies, read_bank, split_key,
                               split_of, write_splits)


@pytest.fixture(scope="module")
def bank():
    return read_bank()


@pytest.fixture(scope="module")
def bodies():
    return load_bodies()


def test_the_whole_bank_passes_its_checks(bank, bodies):
    report = check_bank(bank, bodies)
    assert report.errors == []
    assert report.answerable >= 500 and report.near_miss >= 100
    assert set(report.by_kind) == set(KINDS), "every kind asked"
    assert report.copied_share <= MAX_COPIED
    assert report.thin_documents == []


def test_the_split_follows_the_document_and_holds_a_third(bank):
    by_document: dict[str, set[str]] = {}
    for record in bank:
        by_document.setdefault(split_key(record), set()).add(record["split"])
    assert all(len(splits) == 1 for splits in by_document.values()), "a document's questions share one split"
    test = sum(r["split"] == "test" for r in bank) / len(bank)
    assert 0.2 <= test <= 0.45, test
    assert read_bank(split="test") and all(r["split"] == "test" for r in read_bank(split="test"))


def test_the_checks_catch_what_they_name(tmp_path, bodies):
    """A broken record of each kind is reported (the checks can fail)."""
    good = {"qid": "x-1", "question": "低保一个月给多少钱？", "history": [], "gold_doc_ids": ["bj-2024-minimum-living-allowance"],
            "must_contain": ["1450元"], "answer": "每人每月1450元。", "evidence": "本市低保标准从每人每月1395元调整为1450元",
            "kind": "superseded"}
    good["split"] = split_of(split_key(good))
    broken = [
        {**good, "qid": "x-2", "gold_doc_ids": ["no-such-document"]},
        {**good, "qid": "x-3", "evidence": "本市低保标准调整为每人每月9999元"},
        {**good, "qid": "x-4", "must_contain": ["1500元"]},
        {**good, "qid": "x-5", "kind": "followup"},  # a followup without its history
        {**good, "qid": "x-6", "split": "test" if good["split"] == "train" else "train"},
        {**good, "qid": "x-7", "gold_doc_ids": [], "must_contain": [], "kind": "near_miss"},  # no reason given
        {**good, "qid": "x-1"},  # the same qid twice
    ]
    path = tmp_path / "broken.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [good, *broken]) + "\n", encoding="utf-8")
    report = check_bank(read_bank([path]), bodies, whole=False)
    flagged = {error.split(":")[1].strip() for error in report.errors}
    assert len(report.errors) >= len(broken), report.errors
    assert {"2", "3", "4", "5", "6", "7", "8"} <= flagged, report.errors  # line numbers of the broken records


def test_a_question_that_copies_its_evidence_is_flagged():
    evidence = "对居家养老基本养老服务对象在养老助餐点获取午餐或晚餐的，每人每天给予5元就餐补贴。"
    assert copied_run("养老助餐点获取午餐或晚餐的有补贴吗", evidence) >= COPY_RUN
    assert copied_run("老人在社区食堂吃饭一天能补几块钱？", evidence) < COPY_RUN


def test_splits_are_written_from_the_hash(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"qid": "y-1", "question": "？", "gold_doc_ids": ["bj-2018-dibao-rules"]}) + "\n")
    assert write_splits(path) == 1
    assert json.loads(path.read_text())["split"] == split_of("bj-2018-dibao-rules") == "test"

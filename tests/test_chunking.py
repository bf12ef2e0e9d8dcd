"""Chunks follow the structure of official documents and never cut a sentence."""

import re

from app.domain import Document
from ingestion.chunking import chunk_document, embedding_text

BODY = """北京市城乡居民最低生活保障及低收入家庭救助制度实施细则
为进一步完善我市城乡居民最低生活保障制度，切实保障城乡低收入居民的基本生活，制定本实施细则。
一、城乡低保标准
（一）本市实施城乡统一的最低生活保障标准。城乡低保标准主要考虑居民必需的基本生活需要。
（二）城乡低保标准的确定和调整，每年由市民政局会同市财政等相关部门研究提出方案。
二、城乡低保范围
（一）符合下列条件之一的本市户籍人员，直接纳入城乡低保范围：
1.低收入家庭中残疾等级为一、二级的重度残疾人；
2.依靠兄弟姐妹或60周岁及以上的老人扶养的成年无业重度残疾人。
第三条 申请人应当如实提供家庭收入和财产状况。""" + "街道办事处应当自受理申请之日起进行入户调查，并在社区公示。" * 20


def _doc(body=BODY):
    return Document(doc_id="d1", title="实施细则", body=body)


def test_chunk_text_is_exactly_the_body_span():
    for chunk in chunk_document(_doc(), max_chars=200):
        assert _doc().body[chunk.start:chunk.end] == chunk.text


def test_heading_paths_follow_the_document_structure():
    chunks = chunk_document(_doc(), max_chars=200, min_chars=20)
    standard = next(c for c in chunks if "统一的最低生活保障标准" in c.text)
    assert standard.heading_path[0] == "一、城乡低保标准"
    scope = next(c for c in chunks if "直接纳入" in c.text)
    assert scope.heading_path[0] == "二、城乡低保范围"
    assert "一、城乡低保标准" not in scope.text, "a new 一、 section starts a new chunk"


def test_sections_do_not_share_a_chunk():
    chunks = chunk_document(_doc(), max_chars=360, min_chars=20)
    for chunk in chunks:
        assert not ("一、城乡低保标准" in chunk.text and "二、城乡低保范围" in chunk.text)


def test_long_clauses_split_only_at_sentence_ends():
    chunks = chunk_document(_doc(), max_chars=120)
    long_clause = [c for c in chunks if "入户调查" in c.text]
    assert len(long_clause) > 1
    for chunk in long_clause:
        assert len(chunk.text) <= 120
        assert re.search(r"[。；！？]$", chunk.text), chunk.text[-10:]


def test_lists_stay_whole_when_they_fit():
    chunks = chunk_document(_doc(), max_chars=360, min_chars=20)
    items = [c for c in chunks if "1.低收入家庭" in c.text]
    assert len(items) == 1 and "2.依靠兄弟姐妹" in items[0].text


def test_run_together_web_text_splits_at_spaces_between_sentences():
    body = "标题在这里 第一段讲政策。内容很多。" * 3 + " " + "第二段也很长，讲的是另一件事情。" * 30
    chunks = chunk_document(_doc(body), max_chars=150)
    assert len(chunks) >= len(body) // 150 and sum(len(c.text) for c in chunks) >= 0.9 * len(body.replace(" ", ""))
    assert all(len(c.text) <= 150 for c in chunks)
    assert all(body[c.start:c.end] == c.text for c in chunks)


def test_text_without_punctuation_is_still_bounded():
    body = "甲" * 1000
    chunks = chunk_document(_doc(body), max_chars=300)
    assert [len(c.text) for c in chunks] == [300, 300, 300, 100]


def test_embedding_text_carries_title_and_heading():
    doc = _doc()
    chunk = next(c for c in chunk_document(doc, max_chars=200, min_chars=20) if "直接纳入" in c.text)
    text = embedding_text(doc, chunk)
    assert text.startswith("实施细则\n") and "二、城乡低保范围" in text


def test_chunk_ids_are_stable_and_positional():
    a = chunk_document(_doc())
    b = chunk_document(_doc())
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)


def test_tables_stay_whole_when_they_fit_and_split_between_rows_otherwise():
    rows = "\n".join(f"第{i}类 | 每人每月{1000 + i}元" for i in range(12))
    body = "一、补贴标准\n" + rows + "\n二、申请程序\n由本人向街道提出申请。"
    whole = chunk_document(_doc(body), max_chars=360, min_chars=20)
    assert any(rows in c.text for c in whole)
    split = chunk_document(_doc(body), max_chars=80, min_chars=20)
    table_chunks = [c for c in split if " | " in c.text]
    assert len(table_chunks) > 1
    assert all(c.text.split("\n")[-1].endswith("元") for c in table_chunks), "cut only between rows"

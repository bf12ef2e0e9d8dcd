"""What a document's text says about other documents, and how search snippets mark matched words."""

from __future__ import annotations

from app.lookup.highlight import snippet
from ingestion.references import find_references
from tests.conftest import BUNDLED


def test_a_repealing_clause_names_what_it_repeals():
    text = (BUNDLED / "beijing" / "bj-2019-disabled-children-rehabilitation.txt").read_text(encoding="utf-8")
    refs = find_references(text, own_number="京残发〔2019〕42号")
    assert "京残发〔2013〕37号" in refs.repeals_numbers  # written "(京残发 [ 2013 ] 37号)同时废止"
    assert "北京市残疾儿童少年康复服务办法" in refs.repeals_titles
    assert "京残发〔2013〕37号" in refs.cites_numbers


def test_citing_is_not_repealing_and_a_document_does_not_cite_itself():
    text = ("根据《北京市最低生活保障审核确认办法》（京民社救发〔2018〕390号），制定本通知。"
            "本通知自印发之日起施行。京民社救发〔2024〕80号")
    refs = find_references(text, own_number="京民社救发〔2024〕80号")
    assert refs.cites_numbers == ["京民社救发〔2018〕390号"] and refs.repeals_numbers == []
    assert refs.cites_titles == ["北京市最低生活保障审核确认办法"] and refs.repeals_titles == []


def test_snippet_centres_on_the_matched_terms_and_marks_them():
    text = "总则部分。" * 30 + "二、申请程序：申请养老服务补贴津贴的老年人，向户籍所在地街道提出申请。" + "附则。" * 30
    s = snippet(text, chunk_start=1000, terms=["养老", "补贴", "申请"], width=60)
    assert "养老服务补贴津贴" in s.text and len(s.text) <= 60
    assert s.start == 1000 + text.index(s.text)
    assert all(text[h.start - 1000:h.end - 1000] == h.term for h in s.highlights)
    assert s.marked().count("<mark>") == len(s.highlights) >= 4


def test_snippet_html_escapes_the_text():
    s = snippet("<script>alert(1)</script> 低保标准", 0, ["低保"], width=60)
    assert "<script>" not in s.marked() and "<mark>低保</mark>" in s.marked()

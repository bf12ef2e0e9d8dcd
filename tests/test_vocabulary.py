"""The people's words: the curated list, the short names the corpus defines, and how a question is
expanded with them (never the text quoted back)."""

from __future__ import annotations

import pytest

from app.config import REPO_ROOT
from app.vocabulary import CorpusVocabulary, TermGroup, Vocabulary, question_terms, read_pairs
from ingestion.aliases import find_aliases

CURATED = REPO_ROOT / "policies" / "dictionaries" / "colloquial.txt"


def _segment(text: str) -> list[str]:
    import jieba

    return list(jieba.cut(text))


# ---- the curated list ----

def test_the_curated_list_names_the_common_words_residents_use():
    pairs = dict.fromkeys(read_pairs(CURATED))
    for people, policy in [("失业金", "失业保险金"), ("低保", "最低生活保障"), ("公租房", "公共租赁住房"),
                           ("廉租房", "廉租住房"), ("医保", "医疗保险"), ("社保卡", "社会保障卡"),
                           ("失独", "独生子女死亡"), ("五保", "特困人员"), ("残疾证", "残疾人证")]:
        assert (people, policy) in pairs


def test_a_malformed_line_names_the_file_and_line(tmp_path):
    bad = tmp_path / "words.txt"
    bad.write_text("低保 = 最低生活保障\n低保户 最低生活保障家庭\n", encoding="utf-8")
    with pytest.raises(ValueError, match="words.txt line 2"):
        read_pairs(bad)


def test_words_work_in_both_directions_and_longest_first():
    vocabulary = Vocabulary(read_pairs(CURATED))
    assert "最低生活保障" in vocabulary.expansion("北京低保现在一个月多少钱？")
    assert "低保" in vocabulary.expansion("最低生活保障标准是多少")
    # "低保户" is matched whole and hides the "低保" inside it, but lends it its meaning
    matches = vocabulary.matches("我们家是低保户")
    assert [m.word for m in matches] == ["低保户"]
    assert {"最低生活保障家庭", "最低生活保障"} <= set(matches[0].alternatives)
    # what the question already says is not added again
    assert "失业保险金" not in vocabulary.expansion("失业保险金和失业金是一回事吗")


def test_one_character_words_are_never_keys():
    vocabulary = Vocabulary([("车", "机动车"), ("低保", "最低生活保障")])
    assert vocabulary.expansion("有车吗") == []


def test_a_number_is_found_only_as_a_whole_number():
    eighty = TermGroup("80", ("80",))
    assert eighty.found_in("1.80周岁至89周岁的老年人") and not eighty.found_in("每人每月800元")


def test_question_terms_group_each_word_with_its_equivalents():
    vocabulary = Vocabulary(read_pairs(CURATED))
    groups = question_terms("失业金去哪儿领", ["失业", "业金", "失业金", "领"], vocabulary)
    first = groups[0]
    assert first.word == "失业金" and "失业保险金" in first.alternatives
    assert first.found_in("失业保险金由经办机构按月发放")
    # the words inside a vocabulary word are not counted again
    assert [g.word for g in groups] == ["失业金", "领"]


# ---- short names the corpus defines ----

@pytest.mark.parametrize("text,pair", [
    ("为进一步完善我市城乡居民最低生活保障（以下简称城乡低保）制度", ("城乡低保", "城乡居民最低生活保障")),
    ("为进一步减轻公共租赁住房（以下简称“公租房”）保障家庭负担", ("公租房", "公共租赁住房")),
    ("建设自由贸易试验区（以下简称自贸试验区）", ("自贸试验区", "自由贸易试验区")),
    ("从通过质量和疗效一致性评价（简称一致性评价，下同）的仿制药中", None),  # a piece of the full name
    ("《国家组织药品集中采购和使用试点方案》（以下简称《方案》）", None),  # a self-reference
    ("在法定劳动年龄内的下列残疾人（以下简称个体就业残疾人）", None),  # a definition, not a short name
])
def test_short_names_are_mined_only_where_they_abbreviate(text, pair):
    found = find_aliases(text, _segment)
    assert found == ([pair] if pair else [])


def test_the_bundled_corpus_defines_short_names_the_index_serves(services, small_corpus, tmp_path):
    # a document of the bundled corpus that defines a short name, synced with the small corpus
    import shutil

    shutil.copy(REPO_ROOT / "policies" / "beijing" / "bj-2015-public-rental-subsidy.txt", small_corpus)
    services.indexer.sync([small_corpus])
    vocabulary = CorpusVocabulary([], services.store, refresh_s=3600)
    assert ("公租房", "公共租赁住房") in vocabulary.mined_pairs()
    assert "公共租赁住房" in vocabulary.current().expansion("公租房租金补贴怎么算")


def test_a_segmentation_artefact_across_a_vocabulary_word_is_not_a_question_word():
    vocabulary = Vocabulary(read_pairs(CURATED))
    groups = question_terms("失业金去哪儿领", ["失业", "失业金", "金去", "哪儿", "领"], vocabulary)
    assert [g.word for g in groups] == ["失业金", "哪儿", "领"]


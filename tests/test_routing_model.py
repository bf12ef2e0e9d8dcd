"""The category model trained ahead: written and read back it predicts exactly as it did; a file
written for another embedding model, in another format or damaged is refused with the reason; the
ranking policy file is checked when read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.routing.catalogue import Taxonomy, load_ranking_policy
from app.routing.classifier import Ticket
from app.routing.trained import ModelFileError, load_trained, stored_digest, train_routing, training_digest
from app.config import Settings

TAXONOMY = Taxonomy({
    "城乡建设": {"城市建设和市政管理": ["公共汽车", "路灯", "道路维修"], "住房保障": ["物业管理", "电梯维修"]},
    "劳动和社会保障": {"劳动保障": ["拖欠工资", "社会保险"], "就业": ["失业保险金"]},
    "教育文体": {"教育": ["入学", "收费"], "体育": ["健身器材"]},
})
LABELLED = {
    "城乡建设": ["小区电梯坏了一个月没人修", "路灯不亮好几天了", "公交车总是晚点", "物业乱收停车费"],
    "劳动和社会保障": ["公司拖欠工资三个月", "单位不给缴纳社保", "失业保险金怎么领取", "工伤认定申请被拒"],
    "教育文体": ["孩子上小学需要什么材料", "学校乱收补课费", "公园健身器材损坏", "幼儿园学位不够"],
}
UNSEEN = ["小区门口的路灯坏了", "老板欠薪不还", "学校食堂太贵", "健身步道坑洼不平"]


@pytest.fixture(scope="module")
def trained(embedder):
    tickets = [Ticket(t, t + "，请尽快处理。") for texts in LABELLED.values() for t in texts]
    labels = [c for c, texts in LABELLED.items() for _ in texts]
    return train_routing(embedder, TAXONOMY, tickets, labels, 0.95, "test"), tickets, labels


def test_a_saved_model_predicts_as_the_fitted_one(trained, embedder, tmp_path):
    model, tickets, labels = trained
    path = tmp_path / "routing-model.npz"
    model.save(path)
    loaded = load_trained(path, embedder)
    unseen = [Ticket.of(t) for t in UNSEEN]
    expected = model.model.predict_proba(model.featurizer(unseen))
    got = loaded.model.predict_proba(loaded.featurizer(unseen))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert loaded.model.classes == model.model.classes and loaded.model.threshold == model.model.threshold
    assert loaded.version == model.version and loaded.trained_on == 12
    np.testing.assert_allclose(loaded.featurizer.leaf_vectors, model.featurizer.leaf_vectors, rtol=1e-6)


def test_the_digest_follows_what_the_model_is_fitted_from(trained, embedder, tmp_path):
    model, tickets, labels = trained
    path = tmp_path / "m.npz"
    model.save(path)
    same = training_digest(tickets, labels, TAXONOMY, embedder.model_id, 0.95)
    assert stored_digest(path) == same
    relabelled = labels[:-1] + ["城乡建设"]
    assert training_digest(tickets, relabelled, TAXONOMY, embedder.model_id, 0.95) != same
    assert training_digest(tickets, labels, TAXONOMY, "another/model", 0.95) != same
    assert training_digest(tickets, labels, Taxonomy({}), embedder.model_id, 0.95) != same
    assert stored_digest(tmp_path / "missing.npz") is None


def test_files_that_cannot_be_used_are_refused_with_the_reason(trained, embedder, tmp_path):
    model, _, _ = trained
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError, match="not a routing model file.*jingce train routing"):
        load_trained(damaged, embedder)
    with pytest.raises(ModelFileError, match="not a routing model file"):
        load_trained(tmp_path / "missing.npz", embedder)

    other = tmp_path / "other.npz"
    model.about["embedding_model"] = "bge-m3"
    try:
        model.save(other)
    finally:
        model.about["embedding_model"] = embedder.model_id
    with pytest.raises(ModelFileError, match="embedding model bge-m3.*jingce train routing"):
        load_trained(other, embedder)

    with np.load(other, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    about = json.loads(str(arrays["about"]))
    arrays["about"] = np.array(json.dumps({**about, "format": 99, "embedding_model": embedder.model_id}))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    with pytest.raises(ModelFileError, match="format 99"):
        load_trained(old, embedder)


def test_saving_replaces_the_file_whole(trained, tmp_path):
    model, _, _ = trained
    path = tmp_path / "routing-model.npz"
    path.write_bytes(b"old")
    model.save(path)
    assert stored_digest(path) == model.about["training_digest"]
    assert not list(tmp_path.glob("*.partial"))


def test_the_ranking_policy_is_checked_when_read(tmp_path):
    policy = load_ranking_policy(Settings().routing.ranking_path)
    assert set(policy.weights) == {"category", "keywords", "responsibilities", "decisions", "llm"}
    text = Path(Settings().routing.ranking_path).read_text(encoding="utf-8")
    for broken, message in [(text.replace("llm: 1.0", "lm: 1.0"), "weights must name"),
                            (text.replace("co_handlers: 2", "co_handlers: -2"), "≥ 0"),
                            (text + "\nsurprise: 1\n", "unknown \\['surprise'\\]")]:
        path = tmp_path / "ranking.yml"
        path.write_text(broken, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            load_ranking_policy(path)

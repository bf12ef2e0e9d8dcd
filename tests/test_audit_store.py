"""The audit store on SQLite (default) and on a real PostgreSQL server: events round-trip, the hash
chain catches whatever is done to the table in SQL, appends from several writers leave one valid
chain, retention leaves a verifiable chain behind, old databases are migrated onto the chain."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
from sqlalchemy import create_engine, insert, text

from app.audit.chain import link_hash, row_hash
from app.audit.heads import load_signer, read_heads
from app.audit.schema import audit_events
from app.audit.store import AuditEvent, AuditStore, EventFilter, HeadSchedule, _raw
from app.composition import build_services
from app.pipeline.context import AnswerContext


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    server = request.getfixturevalue("postgres_url")
    name = "t" + uuid.uuid4().hex[:12]
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def _events(store: AuditStore, n: int) -> list[str]:
    return [store.record(AuditEvent("answer", "web", "answered", f"问题{i}", f"回答{i}。[1]",
                                    {"retrieved": [{"chunk_id": f"c{i}", "score": 0.5 + i / 1000}]}, session_id="s"))
            for i in range(n)]


def _as_attacker(store: AuditStore, *statements: str, **values) -> None:
    """SQL run by someone with direct access to the database, who first turns the append-only triggers off."""
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            conn.execute(text("ALTER TABLE audit_anchors DISABLE TRIGGER audit_anchors_append_only"))
        else:
            for trigger in ("audit_events_append_only", "audit_events_no_delete", "audit_anchors_no_update",
                            "audit_anchors_no_delete"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        for statement in statements:
            conn.execute(text(statement), values)


def _rehash_from(store: AuditStore, seq: int, answer: str) -> None:
    """A careful forger: changes the answer of event `seq` and recomputes every hash from there on, so that
    each link holds again (the seals stay as they were: signing them needs the key)."""
    with store.engine.connect() as conn:
        rows = conn.execute(text(f"{_raw(store.dialect)} WHERE seq >= :s ORDER BY seq"), {"s": seq - 1}).all()
    previous = rows[0][15] if rows[0][1] == seq - 1 else "0" * 64
    for row in rows:
        if row[1] < seq:
            continue
        values = list(row[:14])
        values[12] = answer if row[1] == seq else values[12]
        values[13] = previous
        previous = link_hash(values, row[14])
        _as_attacker(store, "UPDATE audit_events SET answer = :a, prev_hash = :p, hash = :h WHERE id = :id",
                     a=values[12], p=values[13], h=previous, id=row[0])


def _append_forged(store: AuditStore) -> int:
    """An event appended after the head with its hash computed right (and no seal: that needs the key)."""
    with store.engine.connect() as conn:
        seq, head = conn.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).one()
    forged = {"id": str(uuid.uuid4()), "seq": seq + 1, "created_at": dt.datetime.now(dt.timezone.utc),
              "kind": "answer", "channel": "web", "status": "answered", "session_id": None, "actor": None,
              "department": None, "degraded": None, "agreed": None, "question": "低保标准是多少",
              "answer": "每人每月发放100000元。[1]", "details": {}, "prev_hash": head}
    forged["hash"] = row_hash(forged)
    with store.engine.begin() as conn:
        conn.execute(insert(audit_events).values(**forged))
    return seq + 1


def test_round_trip(db_url):
    store = AuditStore(db_url)
    details = {"retrieved": [{"chunk_id": "c1", "score": 0.5}], "question_words": "低保 标准"}
    event_id = store.record(AuditEvent("answer", "web", "answered", "低保标准是多少", "1450元。[1]", details,
                                       session_id="s", actor="citizen anonymous", degraded=False,
                                       evidence={"ab" * 32: "城乡低保标准为每人每月1450元。"}))
    row = store.get(event_id)
    assert row["details"] == details and row["question"] == "低保标准是多少" and row["status"] == "answered"
    assert row["seq"] == 1 and row["prev_hash"] == "0" * 64 and len(row["hash"]) == 64
    assert store.evidence(["ab" * 32]) == {"ab" * 32: "城乡低保标准为每人每月1450元。"}
    assert store.get("missing") is None and store.count() == 1
    assert store.verify().ok
    store.close()


@pytest.mark.parametrize("tamper, kind, victim", [
    ("UPDATE audit_events SET answer = '2000元。[1]' WHERE seq = 3", "edited", 3),
    ("DELETE FROM audit_events WHERE seq = 3", "missing", 4),
    ("UPDATE audit_events SET seq = 100 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; "
     "UPDATE audit_events SET seq = 3 WHERE seq = 100", "edited", 2),
])
def test_verify_names_the_event_tampered_with(db_url, tamper, kind, victim):
    store = AuditStore(db_url)
    ids = _events(store, 5)
    assert store.verify().ok
    _as_attacker(store, *tamper.split("; "))
    report = store.verify()
    assert not report.ok and report.first_break.kind == kind and report.first_break.seq == victim
    # reordered rows carry each other's numbers: the event reported is the one now at that place
    assert report.first_break.event_id == (ids[victim - 1] if "seq = 100" not in tamper else ids[2])
    store.close()


def test_an_inserted_event_is_caught_even_with_a_recomputed_hash(db_url):
    from app.audit.chain import row_hash

    store = AuditStore(db_url)
    ids = _events(store, 4)
    row = store.get(ids[1])
    forged = {**row, "id": str(uuid.uuid4()), "question": "伪造的问题", "seq": 3, "details": {}}
    forged["hash"] = row_hash(forged)  # a careful forger links it to event 2 and hashes it right…
    _as_attacker(store, "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 3")
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (id, seq, created_at, kind, channel, status, question, details, "
                          "prev_hash, hash) VALUES (:id, 3, :created_at, 'answer', 'web', 'answered', :question, "
                          "'{}', :prev_hash, :hash)"), {**forged, "hash": forged["hash"]})
    report = store.verify()
    # …but the renumbered events after it no longer match their own hashes
    assert not report.ok and report.first_break.seq in (3, 1003)
    assert report.first_break.event_id in (forged["id"], ids[2])
    store.close()


def test_a_cut_off_tail_is_caught_by_the_anchor(db_url, tmp_path):
    store = AuditStore(db_url)
    _events(store, 6)
    head = store.anchor()
    assert head["seq"] == 6 and store.verify().ok and store.verify().anchors_checked == 1
    _as_attacker(store, "DELETE FROM audit_events WHERE seq >= 5")
    report = store.verify()
    assert not report.ok and report.first_break.kind == "truncated" and report.first_break.seq == 5
    # an anchor kept elsewhere catches it too when the anchor table was emptied as well
    _as_attacker(store, "DELETE FROM audit_anchors")
    assert store.verify().ok
    assert store.verify(anchors=[head]).first_break.kind == "truncated"
    store.close()


def _signed_store(db_url: str, tmp_path, every: int = 4) -> AuditStore:
    schedule = HeadSchedule(load_signer(tmp_path / "head-key.pem"), tmp_path / "elsewhere" / "heads.jsonl",
                            every_events=every, every_seconds=3600)
    return AuditStore(db_url, heads=schedule)


def _verify(store: AuditStore):
    """As an auditor would: the table's heads and the file kept elsewhere, with the store's public key."""
    return store.verify(anchors=read_heads(store.heads.file))


@pytest.mark.parametrize("attack, kind, first_bad", [
    ("append with a recomputed hash", "unsealed", 11),
    ("edit the last event and rehash", "unsealed", 10),
    ("edit a signed event and rehash the rest", "rewritten", 9),
    ("delete the last five", "truncated", 6),
    ("rewrite from sequence 3", "rewritten", 3),
    ("empty the anchor table", "heads_missing", 1),
    ("sign a head with another key", "forged_head", 10),
])
def test_a_rewrite_without_the_signing_key_is_caught_where_it_starts(db_url, tmp_path, attack, kind, first_bad):
    store = _signed_store(db_url, tmp_path)
    _events(store, 10)  # heads signed at 1, 5 and 9 (every 4 events); event 10 sealed, under no head yet
    before = _verify(store)
    assert before.ok and before.heads_checked == 3 and before.last_signed_seq == 9 and before.unsigned == 1
    assert [h["seq"] for h in read_heads(store.heads.file)] == [1, 5, 9]
    if attack == "append with a recomputed hash":
        _append_forged(store)
    elif attack == "edit the last event and rehash":
        _rehash_from(store, 10, "每人每月发放100000元。[1]")
    elif attack == "edit a signed event and rehash the rest":
        _rehash_from(store, 9, "每人每月发放100000元。[1]")
    elif attack == "delete the last five":
        _as_attacker(store, "DELETE FROM audit_events WHERE seq >= 6")
    elif attack == "rewrite from sequence 3":
        _rehash_from(store, 3, "每人每月发放100000元。[1]")
    elif attack == "empty the anchor table":
        _as_attacker(store, "DELETE FROM audit_anchors")
    else:
        other = load_signer(tmp_path / "attacker-key.pem")
        previous = read_heads(store.heads.file)[-1]
        with store.engine.connect() as conn:
            seq, digest = conn.execute(text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).one()
        head = other.head(seq, digest, previous, dt.datetime.now(dt.timezone.utc))
        _as_attacker(store, "INSERT INTO audit_anchors (seq, hash, created_at, previous, key_id, signature) VALUES "
                     "(:seq, :hash, :t, :previous, :key_id, :signature)", **{**head, "t": dt.datetime.now(dt.timezone.utc)})
    report = _verify(store)
    assert not report.ok, attack
    assert (report.first_break.kind, report.first_break.seq) == (kind, first_bad), report.first_break
    store.close()


def test_the_chain_verifies_with_the_public_key_alone_in_another_process(db_url, tmp_path):
    """An auditor with the database, the file of heads and the published key; no service, no private key."""
    import subprocess
    import sys

    store = _signed_store(db_url, tmp_path)
    _events(store, 7)
    public = tmp_path / "auditor" / "jingce-audit.pub"
    public.parent.mkdir()
    public.write_text(store.heads.signer.public_pem())
    command = [sys.executable, "-m", "app.audit.verify", "--database-url", db_url, "--public-key", str(public),
               "--heads", str(store.heads.file), "--json"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "auditor")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    clean = json.loads(done.stdout)
    assert clean["ok"] and clean["heads_checked"] == 2 and clean["unsigned"] == 2 and clean["key_id"]
    _rehash_from(store, 3, "每人每月发放100000元。[1]")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert json.loads(done.stdout)["first_break"]["seq"] == 3
    store.close()


def test_the_database_refuses_update_and_delete(db_url):
    store = AuditStore(db_url)
    _events(store, 2)
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE audit_events SET status = 'refused_no_evidence' WHERE seq = 1"))
    with pytest.raises(Exception, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_events WHERE seq = 1"))
    store.anchor()
    for statement in ("UPDATE audit_anchors SET seq = 1", "DELETE FROM audit_anchors"):
        with pytest.raises(Exception, match="append-only"):
            with store.engine.begin() as conn:
                conn.execute(text(statement))
    assert store.count() == 2 and store.verify().ok
    store.close()


def test_eight_writers_leave_one_valid_chain(db_url):
    stores = [AuditStore(db_url) for _ in range(8)]  # eight engines: as eight workers would
    errors: list[Exception] = []

    def write(store: AuditStore, n: int) -> None:
        try:
            for i in range(n):
                store.record(AuditEvent("lookup", "api", "ok", f"查询{i}", None, {"i": i}))
        except Exception as exc:  # noqa: BLE001 - collected and shown below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, 1250)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    report = stores[0].verify()
    assert report.ok and report.checked == 10_000 and report.head_seq == 10_000
    for store in stores:
        store.close()


def test_retention_leaves_a_signed_checkpoint_and_a_verifiable_chain(db_url):
    store = AuditStore(db_url, signing_key="k1")
    _events(store, 5)
    removed = store.prune(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
    assert removed["removed"] == 5 and removed["through_seq"] == 5
    _events(store, 2)
    report = store.verify()
    assert report.ok and report.first_seq == 6 and report.head_seq == 8 and report.notes
    assert store.count(EventFilter(kinds=["admin"])) == 1  # the removal itself is an event
    assert not AuditStore(db_url, signing_key="another key").verify().ok  # a checkpoint rewritten without the key
    store.close()


def test_a_database_made_before_migrations_is_put_on_the_chain(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    old = create_engine(url)
    with old.begin() as conn:  # the schema create_all made, with two events in it
        conn.execute(text("CREATE TABLE audit_events (id VARCHAR(36) PRIMARY KEY, created_at DATETIME NOT NULL, "
                          "kind VARCHAR(32) NOT NULL, channel VARCHAR(32) NOT NULL, status VARCHAR(40) NOT NULL, "
                          "session_id VARCHAR(64), question TEXT, answer TEXT, details JSON NOT NULL)"))
        for i, when in enumerate(["2026-11-01 10:00:00.000000", "2026-11-02 10:00:00.000000"]):
            conn.execute(text("INSERT INTO audit_events VALUES (:id, :t, 'answer', 'web', 'answered', NULL, :q, NULL, "
                              "'{}')"), {"id": f"e{i}", "t": when, "q": f"旧问题{i}"})
    old.dispose()
    store = AuditStore(url)
    assert store.revision == "0005"
    report = store.verify()
    assert report.ok and report.checked == 2 and store.get("e0")["seq"] == 1
    store.record(AuditEvent("answer", "web", "answered", "新问题"))
    assert store.verify().head_seq == 3
    store.close()


def test_answers_are_recorded_in_postgres(postgres_url, settings, embedder, small_corpus):
    cfg = settings.model_copy(update={"database": settings.database.model_copy(update={"url": postgres_url})})
    services = build_services(cfg, embedder=embedder)
    try:
        services.indexer.sync([small_corpus])
        ctx = services.pipeline.run(AnswerContext("养老服务补贴津贴怎么申请", channel="web"))
        row = services.audit.get(ctx.audit_id)
        assert row["status"] == ctx.status == "answered" and row["channel"] == "web"
        assert row["details"]["citations"][0]["doc_id"] == "bj-2019-elderly-subsidy"
        frozen = services.audit.evidence([r["text_sha256"] for r in row["details"]["retrieved"]])
        assert set(frozen.values()) == {s.text for s in ctx.sources}  # what it rested on, kept as it was
    finally:
        services.close()


def test_unreachable_database_fails_at_start_up(settings, embedder):
    cfg = settings.model_copy(update={"database": settings.database.model_copy(
        update={"url": "postgresql+psycopg://postgres@127.0.0.1:9/none"})})
    with pytest.raises(RuntimeError, match="audit database .* is not reachable"):
        build_services(cfg, embedder=embedder)

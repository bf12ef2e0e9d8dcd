"""The project's own question bank (tests/data/bank/*.jsonl): residents' questions over the bundled
corpus to learn from, and a test split that nothing is tuned on.

Each line has the shared dev file's format — qid, question, history, gold_doc_ids, must_contain,
answer, evidence, kind — plus `split` and, for a near-miss question the corpus cannot answer,
`near_doc_ids` (the documents that look as if they answer it) and `reason` (why they do not).

The split is fixed by the document, not the question: a hash of the first gold document id (of the
first near document for a near miss; of the qid when there is none) puts about a third of the
documents in `test`. Every question about a test document is a test question, so a rule or model
fitted on `train` never saw the documents it is scored on. Tuning reads `train` only; `test` is
scored whole (`jingce eval answers --split test`) and never read question by question.

`python -m app.question_bank check [FILES]` runs the mechanical checks the bank is held to: gold
documents exist; the evidence is verbatim in a gold document and every must-contain string in the
evidence; questions are written as residents talk (a question sharing a run of 8 or more characters
with its evidence is flagged, and at most 10 % may be); every Beijing document has at least 8
questions; the split field matches the hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from app.config import REPO_ROOT

BANK = REPO_ROOT / "tests" / "data" / "bank"
BUNDLED = [REPO_ROOT / "policies" / "beijing", REPO_ROOT / "policies" / "state-council"]
KINDS = ("amount", "deadline", "who", "age", "material", "condition", "eligibility", "procedure", "superseded",
         "followup")
NEAR_MISS = "near_miss"
SPLITS = ("train", "test")
TEST_SHARE = 3  # one document in three is a test document
# The salt was fixed before any question was written: the first of bank-0: … bank-9: that puts a third
# of the Beijing documents (12 of 36) in test; plain sha256 put 7 there.
SPLIT_SALT = "bank-2:"
COPY_RUN = 8  # a question sharing this many characters in a row with its evidence reads like the document
MAX_COPIED = 0.10
MIN_PER_BEIJING_DOCUMENT = 8
_SPACE = re.compile(r"\s+")


def split_of(key: str) -> str:
    """`test` for about one key in three, by a hash that no tuning can move."""
    digest = hashlib.sha256((SPLIT_SALT + key).encode("utf-8")).hexdigest()
    return "test" if int(digest[:8], 16) % TEST_SHARE == 0 else "train"


def split_key(record: dict[str, Any]) -> str:
    for ids in (record.get("gold_doc_ids"), record.get("near_doc_ids")):
        if ids:
            return str(ids[0])
    return str(record["qid"])


def answerable(record: dict[str, Any]) -> bool:
    return bool(record.get("gold_doc_ids")) and record.get("kind") != NEAR_MISS


def _flat(text: str) -> str:
    return _SPACE.sub("", text)


def copied_run(question: str, evidence: str) -> int:
    """The longest run of characters a question shares with its evidence, spaces left out."""
    a, b = _flat(question), _flat(evidence)
    return SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def bank_files(paths: list[Path] | None = None) -> list[Path]:
    paths = paths or [BANK]
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.glob("*.jsonl")))


def read_bank(paths: list[Path] | None = None, split: str = "all") -> list[dict[str, Any]]:
    """The bank's records (every file of tests/data/bank by default), of one split or all."""
    records = []
    for path in bank_files(paths):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
                record["_where"] = f"{path.name}:{number}"
                records.append(record)
    if split != "all":
        if split not in SPLITS:
            raise ValueError(f"split must be one of train, test, all — not {split!r}")
        records = [r for r in records if split_of(split_key(r)) == split]
    return records


@dataclass
class BankReport:
    errors: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)  # where, of each question flagged as copied
    answerable: int = 0
    near_miss: int = 0
    by_kind: Counter = field(default_factory=Counter)
    by_split: Counter = field(default_factory=Counter)
    by_document: Counter = field(default_factory=Counter)
    thin_documents: list[str] = field(default_factory=list)  # Beijing documents with fewer than 8 questions

    @property
    def copied_share(self) -> float:
        return len(self.copied) / max(self.answerable, 1)

    def summary(self) -> dict[str, Any]:
        return {"answerable": self.answerable, "near_miss": self.near_miss, "by_kind": dict(sorted(self.by_kind.items())),
                "by_split": dict(self.by_split), "copied_share": round(self.copied_share, 3),
                "documents": len(self.by_document), "thin_beijing_documents": self.thin_documents,
                "errors": len(self.errors)}


def load_bodies(paths: list[Path] | None = None) -> dict[str, tuple[str, str]]:
    """doc_id → (title, body) of the bundled corpus, as ingestion parses it."""
    from ingestion.loaders import discover, load_file

    return {doc.doc_id: (doc.title, doc.body) for path in discover([str(p) for p in paths or BUNDLED])
            for doc in load_file(path, 64 * 2**20).documents}


def check_bank(records: list[dict[str, Any]], bodies: dict[str, tuple[str, str]],
               whole: bool = True) -> BankReport:
    """The mechanical checks; `whole`: the records are the whole bank (coverage of the documents is
    checked too)."""
    report = BankReport()
    seen: set[str] = set()
    flat = {doc_id: _flat(body) for doc_id, (_, body) in bodies.items()}
    for r in records:
        where = r.get("_where", r.get("qid"))
        qid, question = r.get("qid"), r.get("question")
        if not qid or not isinstance(question, str) or not question.strip():
            report.errors.append(f"{where}: qid and question are required")
            continue
        if qid in seen:
            report.errors.append(f"{where}: qid {qid} is used twice")
        seen.add(qid)
        history = r.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, str) and h.strip() for h in history):
            report.errors.append(f"{where}: history must be a list of earlier questions")
        expected = split_of(split_key(r))
        if r.get("split") != expected:
            report.errors.append(f"{where}: split is {r.get('split')!r}, the hash of {split_key(r)} says {expected!r}")
        report.by_split[expected] += 1
        if not answerable(r):
            report.near_miss += 1
            if r.get("kind") != NEAR_MISS:
                report.errors.append(f"{where}: a question without gold documents has kind near_miss")
            if r.get("must_contain"):
                report.errors.append(f"{where}: a near miss has nothing it must contain")
            if not str(r.get("reason") or "").strip():
                report.errors.append(f"{where}: a near miss says why the corpus cannot answer it (reason)")
            for doc_id in r.get("near_doc_ids") or []:
                if doc_id not in bodies:
                    report.errors.append(f"{where}: near document {doc_id} is not in the corpus")
            continue
        report.answerable += 1
        kind = r.get("kind")
        report.by_kind[kind] += 1
        if kind not in KINDS:
            report.errors.append(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)} or {NEAR_MISS}")
        if kind == "followup" and not history:
            report.errors.append(f"{where}: a followup has the earlier questions of its conversation (history)")
        gold = r["gold_doc_ids"]
        missing = [d for d in gold if d not in bodies]
        if missing:
            report.errors.append(f"{where}: gold document(s) {missing} not in the corpus")
            continue
        for d in gold:
            report.by_document[d] += 1
        evidence, must = r.get("evidence") or "", r.get("must_contain") or []
        if not evidence or not must or not str(r.get("answer") or "").strip():
            report.errors.append(f"{where}: evidence, must_contain and answer are required")
            continue
        if not any(_flat(evidence) in flat[d] for d in gold):
            report.errors.append(f"{where}: the evidence is not verbatim in {gold}")
        for fact in must:
            if _flat(fact) not in _flat(evidence):
                report.errors.append(f"{where}: must_contain {fact!r} is not in the evidence")
        if copied_run(question, evidence) >= COPY_RUN:
            report.copied.append(where)
    if whole:
        report.thin_documents = sorted(d for d in bodies if d.startswith("bj-")
                                       and report.by_document[d] < MIN_PER_BEIJING_DOCUMENT)
        if report.copied_share > MAX_COPIED:
            report.errors.append(f"{len(report.copied)} questions ({report.copied_share:.0%}) share a run of "
                                 f"{COPY_RUN} characters with their evidence; at most {MAX_COPIED:.0%} may")
    return report


def write_splits(path: Path) -> int:
    """Sets the split field of every line of a bank file from its hash; how many changed."""
    lines, changed = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            split = split_of(split_key(record))
            changed += record.get("split") != split
            record["split"] = split
            line = json.dumps(record, ensure_ascii=False)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


USAGE = """usage: python -m app.question_bank check [FILES or folders; default the whole bank, tests/data/bank]
       python -m app.question_bank split FILE   (writes each line's split field from the hash)"""


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "split":
        print(f"{write_splits(Path(argv[1]))} split field(s) written")
        return 0
    if not argv or argv[0] != "check":
        print(USAGE, file=sys.stderr)
        return 2
    paths = [Path(a) for a in argv[1:]] or None
    report = check_bank(read_bank(paths), load_bodies(), whole=paths is None)
    for error in report.errors:
        print("error:", error)
    for where in report.copied:
        print(f"copied ({COPY_RUN}+ characters of the evidence):", where)
    print(json.dumps(report.summary(), ensure_ascii=False, indent=1))
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Checking the chain against its signed heads and the events' seals (heads.py), after the hash links
have been walked (chain.walk): the links catch what was changed without rehashing; this catches what
was rehashed by someone without the signing key, and names the first sequence number that is wrong.

- Every signed head, in the table or in the anchor file, must verify with the public key, and each
  must name the one before it: a head deleted from the table (or the table emptied) is found from the
  file, one deleted from both breaks the heads' own chain.
- The event at a head's sequence number must carry the hash the head signed; where it does not, the
  events since the head before are read for the first whose seal fails: that is where the rewrite began.
- A head beyond the chain's end says the tail was deleted.
- Events after the last signed head must each carry a valid seal (an append with a recomputed hash, or
  an edit of the tail, has none); a leading run of events written before signing began has none and
  no head: that is noted, not a break.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.audit.chain import GENESIS, Report
from app.audit.heads import HeadVerifier, head_digest

if TYPE_CHECKING:
    from app.audit.store import AuditStore


@dataclass(frozen=True)
class Disagreement:
    head_seq: int  # the head (or unsigned anchor) the chain disagrees with
    truncated: bool  # the chain ends before it; else the event at head_seq has another hash
    event_id: str | None
    since: int  # the head before it agreed: a rewrite began after this sequence number


def disagreement(store: "AuditStore", heads: list[dict[str, Any]], start_seq: int, end: int) -> Disagreement | None:
    """The first of `heads` (signed heads or the unsigned anchors of earlier versions; those at or
    before `start_seq` name events retention removed) that the chain ending at `end` disagrees with."""
    placed = sorted((h for h in heads if h["seq"] > start_seq), key=lambda h: h["seq"])
    stored = store.hashes_at([h["seq"] for h in placed if h["seq"] <= end])
    since = start_seq
    for head in placed:
        if head["seq"] > end:
            return Disagreement(head["seq"], True, None, since)
        event_id, digest = stored.get(head["seq"], (None, None))
        if digest != head["hash"]:
            return Disagreement(head["seq"], False, event_id, since)
        since = head["seq"]
    return None


class HeadCheck:
    def __init__(self, store: "AuditStore", verifier: HeadVerifier, report: Report, start_seq: int) -> None:
        self.store, self.verifier, self.report, self.start_seq = store, verifier, report, start_seq

    def run(self, table: list[dict[str, Any]], file: list[dict[str, Any]]) -> Report:
        report = self.report
        for head in table + file:
            if not self.verifier.head_ok(head):
                where = "the anchor table" if head in table else "the anchor file"
                return report.broken("forged_head", head["seq"], None, f"a signed head in {where} does not verify "
                                     f"with the published key ({self.verifier.key_id}): written without the key")
        held = {(h["seq"], h["signature"]) for h in table}
        lost = sorted((h for h in file if (h["seq"], h["signature"]) not in held), key=lambda h: h["seq"])
        if lost:
            return report.broken("heads_missing", lost[0]["seq"], None, f"the anchor file holds {len(lost)} signed "
                                 f"head(s) the anchor table lacks, the first at sequence {lost[0]['seq']}: heads "
                                 "were deleted from the table")
        heads = sorted({(h["seq"], h["signature"]): h for h in table + file}.values(), key=lambda h: h["seq"])
        report.heads_checked = len(heads)
        previous = GENESIS
        for head in heads:
            if head["previous"] != previous:
                return report.broken("heads_missing", head["seq"], None, "the signed head before this one is "
                                     "missing from the table and the file: heads were deleted")
            previous = head_digest(head)
        if not self._heads_match(heads):
            return report
        return self._tail(heads[-1]["seq"] if heads else None)

    def _heads_match(self, heads: list[dict[str, Any]]) -> bool:
        report = self.report
        end = report.head_seq if report.head_seq is not None else self.start_seq
        found = disagreement(self.store, heads, self.start_seq, end)
        if found is None:
            return True
        if found.truncated:
            report.broken("truncated", end + 1, None, f"a signed head says the chain reached {found.head_seq}; it "
                          f"now ends at {end}: events {end + 1}…{found.head_seq} were deleted from the end")
        else:
            seq, bad_id = self._first_bad_seal(found.since, found.head_seq) or (found.head_seq, found.event_id)
            report.broken("rewritten", seq, bad_id, f"the chain differs from the head signed at sequence "
                          f"{found.head_seq}; from this event on it was rewritten and rehashed without the key")
        return False

    def _first_bad_seal(self, after: int, through: int | None) -> tuple[int, str] | None:
        for seq, event_id, digest, seal in self.store.seals(after, through):
            if not self.verifier.seal_ok(seq, digest, seal):
                return seq, event_id
        return None

    def _tail(self, last_signed: int | None) -> Report:
        report = self.report
        after = max(last_signed or 0, self.start_seq)
        unsigned = 0
        legacy = last_signed is None  # no head yet: events from before signing began carry no seal
        for seq, event_id, digest, seal in self.store.seals(after):
            if legacy and seal is None:
                unsigned += 1
                continue
            legacy = False
            if not self.verifier.seal_ok(seq, digest, seal):
                return report.broken("unsealed", seq, event_id, "the event carries no seal that verifies with the "
                                     "published key: appended or edited (and rehashed) without the key")
            unsigned += 1
        report.unsigned = unsigned
        report.last_signed_seq = last_signed
        if last_signed is None:
            report.notes.append(f"no signed head yet: {unsigned} events unsigned")
        elif unsigned:
            report.notes.append(f"{unsigned} events after the last signed head (sequence {last_signed}) are "
                                "sealed but not yet under a signed head")
        return report

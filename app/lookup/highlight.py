"""Snippets with the query's terms marked, for lookup matches and search hits: which words matched, where.

Offsets are into the document body (the chunk's start plus the position in the chunk), the same
coordinates as citations, so a page can highlight the span in the full text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass
class Highlight:
    start: int  # in the document body
    end: int
    term: str


@dataclass
class Snippet:
    text: str
    start: int  # offset of the snippet's first character in the document body
    end: int
    highlights: list[Highlight]

    def marked(self) -> str:
        """The snippet as HTML with <mark> around each matched term (the text is escaped)."""
        out, at = [], self.start
        for h in self.highlights:
            out.append(html.escape(self.text[at - self.start:h.start - self.start]))
            out.append(f"<mark>{html.escape(self.text[h.start - self.start:h.end - self.start])}</mark>")
            at = h.end
        out.append(html.escape(self.text[at - self.start:]))
        return "".join(out)


def find_terms(text: str, terms: list[str]) -> list[tuple[int, int, str]]:
    """Non-overlapping occurrences of the terms, longest terms first where they compete."""
    taken = [False] * len(text)
    found = []
    for term in sorted(set(t for t in terms if t), key=lambda t: (-len(t), t)):
        at = text.find(term)
        while at >= 0:
            if not any(taken[at:at + len(term)]):
                found.append((at, at + len(term), term))
                for i in range(at, at + len(term)):
                    taken[i] = True
            at = text.find(term, at + 1)
    return sorted(found)


def snippet(chunk_text: str, chunk_start: int, terms: list[str], width: int = 120) -> Snippet:
    """The `width`-character window of the chunk that holds the most distinct query terms (the
    chunk's start when none match), with each occurrence inside it."""
    matches = find_terms(chunk_text, terms)
    best_start, best_key = 0, (-1, 0)
    for i, (s, _, _) in enumerate(matches):
        inside = [m for m in matches[i:] if m[1] <= s + width]
        key = (len({m[2] for m in inside}), sum(m[1] - m[0] for m in inside))
        if key > best_key:
            best_start, best_key = s, key
    # a little context before the first match, without running past the end
    start = max(0, min(best_start - 10, len(chunk_text) - width))
    end = min(len(chunk_text), start + width)
    highlights = [Highlight(chunk_start + s, chunk_start + e, t) for s, e, t in matches if s >= start and e <= end]
    return Snippet(chunk_text[start:end], chunk_start + start, chunk_start + end, highlights)

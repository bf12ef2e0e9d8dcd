"""What a document's text says about other documents: the 文号 and 《titles》 it cites, and those it
repeals ("《…》（京民社救发〔2014〕182号）同时废止").

Stored with each document so that the policy-lookup API can link a document to the ones it cites
or repeals, and to those that cite or repeal it, with one keyword filter each — computed from the
document's own text, so incremental ingestion keeps it right without re-reading other documents.
"""

from __future__ import annotations

import re
from app.domain import DOC_NUMBER_RE, normalize_doc_number
from dataclasses import dataclass, field


_TITLE = re.compile(r"《([^《》\n]{4,80})》")
# a sentence (or clause list) that ends an earlier document's life
_REPEALING = re.compile(r"[^。；;\n]*(?:同时废止|予以废止|停止执行|同时失效|不再执行)[^。；;\n]*")


@dataclass
class References:
    cites_numbers: list[str] = field(default_factory=list)  # canonical 文号 (normalize_doc_number)
    cites_titles: list[str] = field(default_factory=list)
    repeals_numbers: list[str] = field(default_factory=list)
    repeals_titles: list[str] = field(default_factory=list)


def _numbers(text: str) -> list[str]:
    found = (normalize_doc_number(m.group(0)) for m in DOC_NUMBER_RE.finditer(text))
    return list(dict.fromkeys(n for n in found if n))


def _titles(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1).strip() for m in _TITLE.finditer(text)))


def find_references(body: str, own_number: str | None = None, own_title: str | None = None) -> References:
    own = normalize_doc_number(own_number) if own_number else None
    repealing = "。".join(m.group(0) for m in _REPEALING.finditer(body))
    refs = References(
        cites_numbers=[n for n in _numbers(body) if n != own],
        cites_titles=[t for t in _titles(body) if t != own_title],
        repeals_numbers=[n for n in _numbers(repealing) if n != own],
        repeals_titles=[t for t in _titles(repealing) if t != own_title],
    )
    return refs

"""HTML → text with one line per block element and table rows as `cell | cell` lines."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser as HTMLParser

_BLOCK_CLOSE = re.compile(r"</(p|div|h[1-6]|li|tr|table|section|article|blockquote|pre|ul|ol)\s*>|<br\s*/?>", re.I)
_CELL_CLOSE = re.compile(r"</t[dh]\s*>", re.I)
_NEWLINE_MARK = "\u2029"  # a character no page contains, survives text extraction
_CELL_MARK = "\u2028"


def html_to_text(html: str) -> str:
    marked = _CELL_CLOSE.sub(_CELL_MARK, html)
    marked = _BLOCK_CLOSE.sub(lambda m: m.group(0) + _NEWLINE_MARK, marked)
    tree = HTMLParser(marked)
    for node in tree.css("script, style, noscript"):
        node.decompose()
    root = tree.body or tree.root
    text = root.text(separator="") if root is not None else ""
    lines = []
    for raw in text.split(_NEWLINE_MARK):
        cells = [c.strip() for c in raw.split(_CELL_MARK)]
        cells = [re.sub(r"\s+", " ", c) for c in cells if c.strip()]
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)

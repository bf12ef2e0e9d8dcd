"""Turn raw bytes into text: UTF-8 (with or without BOM), GB18030/GBK, or a clear refusal.

Government sites still publish GBK pages; a binary file with a `.txt` name must be refused, not
indexed as mojibake.
"""

from __future__ import annotations

import codecs

from ingestion.errors import IngestError


def looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return control / len(sample) > 0.05


def decode_text(data: bytes) -> str:
    """Decode bytes to str, trying UTF-8 first, then GB18030 (a superset of GBK and GB2312)."""
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        return _strip_bom(data.decode("utf-16"))
    if looks_binary(data):
        raise IngestError("binary content, not text (is this really a text file?)")
    try:
        return _strip_bom(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    if text is not None and _mostly_cjk_or_ascii(text):
        return text
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise IngestError("cannot determine the text encoding (tried UTF-8, GB18030 and detection)")
    return _strip_bom(str(best))


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _mostly_cjk_or_ascii(text: str) -> bool:
    # GB18030 decodes almost any byte string; accept it only when the result reads as Chinese.
    sample = text[:4000]
    good = sum(1 for c in sample if c.isascii() or "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef")
    return good / max(len(sample), 1) > 0.9

"""The audit log's codes in officials' words (policies/audit/labels.yml): what the review page, its
filters and the CSV export show for a kind, channel, status or caller, and the code a filter typed in
Chinese means. Times are shown in Beijing time with the zone said; days are Beijing days."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from app.config import REPO_ROOT
from app.domain import in_utc

BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")  # no daylight saving: a fixed offset is exact
FIELDS = ("kinds", "channels", "statuses")


@dataclass(frozen=True)
class Labels:
    kinds: dict[str, str]
    channels: dict[str, str]
    statuses: dict[str, str]
    status_patterns: tuple[tuple[re.Pattern[str], str], ...]
    actor_words: dict[str, str]
    export_columns: dict[str, str]

    def label(self, field: str, code: str | None) -> str | None:
        """The label of a code (`field`: kinds, channels, statuses); an unknown code as it is."""
        if code is None:
            return None
        known = getattr(self, field).get(code)
        if known is not None:
            return known
        if field == "statuses":
            for pattern, shown in self.status_patterns:
                match = pattern.fullmatch(code)
                if match:
                    return shown.format(*match.groups())
        return code

    def code(self, field: str, typed: str | None) -> str | None:
        """The code a filter value means: a code itself, or its label (spaces and case aside)."""
        if typed is None:
            return None
        typed = typed.strip()
        table = getattr(self, field)
        if typed in table:
            return typed
        wanted = re.sub(r"\s+", "", typed)
        for code, shown in table.items():
            if re.sub(r"\s+", "", shown) == wanted:
                return code
        if field == "statuses":
            for pattern, shown in self.status_patterns:
                template = re.escape(re.sub(r"\s+", "", shown)).replace(r"\{0\}", r"(\d+)")
                match = re.fullmatch(template, wanted)
                if match:
                    return pattern.pattern.replace(r"(\d+)", match.group(1))
        return typed

    def actor(self, actor: str | None) -> str | None:
        """"agent key:1a2b3c4d5e6f" → "坐席 密钥1a2b3c4d5e6f"."""
        if not actor:
            return actor
        out = actor
        for word, shown in sorted(self.actor_words.items(), key=lambda kv: -len(kv[0])):
            out = out.replace(word, shown)
        return out

    def actor_code(self, typed: str | None) -> str | None:
        if not typed:
            return typed
        out = typed.strip()
        for word, shown in sorted(self.actor_words.items(), key=lambda kv: -len(kv[1])):
            out = out.replace(shown, word)
        return out


@lru_cache(maxsize=1)
def labels() -> Labels:
    data: dict[str, Any] = yaml.safe_load((REPO_ROOT / "policies" / "audit" / "labels.yml").read_text(encoding="utf-8"))
    patterns = tuple((re.compile(p), shown) for p, shown in (data.get("status_patterns") or {}).items())
    return Labels({**data["kinds"]}, {**data["channels"]}, {**data["statuses"]}, patterns,
                  {**data["actor_words"]}, {**data["export_columns"]})


def beijing_time(moment: dt.datetime | None) -> str | None:
    """"2026-12-06 14:03:21 +08:00": what a reader in Beijing reads, with the zone said."""
    if moment is None:
        return None
    return in_utc(moment).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S +08:00")

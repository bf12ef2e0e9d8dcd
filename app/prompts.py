"""Prompts as data: `prompts/<step>.yml`, each with a version that goes into the audit record."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from app.config import REPO_ROOT

PROMPTS = REPO_ROOT / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    data: dict[str, str]

    @property
    def version(self) -> str:
        return self["version"]

    def __getitem__(self, key: str) -> str:
        try:
            return self.data[key]
        except KeyError:
            raise KeyError(f"prompts/{self.name}.yml has no '{key}'") from None


@lru_cache(maxsize=None)
def load_prompt(name: str) -> Prompt:
    path = PROMPTS / f"{name}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no prompt file {path}")
    prompt = Prompt(name, yaml.safe_load(path.read_text(encoding="utf-8")))
    prompt["version"]  # every prompt must carry one
    return prompt

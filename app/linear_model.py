"""A linear model kept as data (JSON): the models the answer path learns — the answerability
decision and the document ranker — are small enough to read, diff and review, and loading one
needs no learning library at run time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LinearModel:
    features: tuple[str, ...]
    mean: list[float]  # standardisation: (value - mean) / scale before the coefficients
    scale: list[float]
    coef: list[float]
    intercept: float = 0.0
    threshold: float | None = None  # a decision threshold on the probability, when the model has one
    version: str = ""
    report: dict[str, Any] = field(default_factory=dict)  # how it was trained and its cross-validated numbers

    def decision(self, values: dict[str, float]) -> float:
        return self.intercept + sum(c * (values[name] - m) / s for name, c, m, s
                                    in zip(self.features, self.coef, self.mean, self.scale))

    def probability(self, values: dict[str, float]) -> float:
        return 1.0 / (1.0 + math.exp(-max(min(self.decision(values), 60.0), -60.0)))

    @classmethod
    def load(cls, path: Path, known: tuple[str, ...], trained_by: str) -> "LinearModel":
        """Fails with a message naming the command that writes the file."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(tuple(data["features"]), data["mean"], data["scale"], data["coef"], data.get("intercept", 0.0),
                        data.get("threshold"), data["version"], data.get("report", {}))
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeError(f"model {path} cannot be read ({exc}); `{trained_by}` writes it") from exc
        unknown = set(model.features) - set(known)
        if unknown or not (len(model.features) == len(model.mean) == len(model.scale) == len(model.coef)):
            raise RuntimeError(f"model {path} does not fit this version's features (unknown: {sorted(unknown)}); "
                               f"run `{trained_by}` again")
        return model

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": self.version, "features": list(self.features), "mean": self.mean, "scale": self.scale,
                "coef": self.coef, "intercept": self.intercept, "threshold": self.threshold, "report": self.report}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

"""The category model, trained ahead (`jingce train routing`) and loaded when the service starts —
never inside a request: training embeds a few hundred tickets, minutes on a cold cache.

One file (`ROUTING_MODEL_PATH`, under the data folder) holds what routing needs to classify without
embedding anything but the ticket: the fitted model (arrays only, read without pickle), the taxonomy
and its leaves' embeddings, and what it was trained from: the embedding model, the training data's hash and when. A file written for another
embedding model, or in another format, is refused with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.clients.embeddings import ArrayEmbeddings
from app.routing.catalogue import Taxonomy
from app.routing.classifier import CategoryModel, Featurizer, Progress, Ticket

FORMAT = 3  # 3: no training tickets kept (agents are shown only their own hotline's decided tickets)


class ModelFileError(ValueError):
    """The model file cannot be used; the message says why and what to run."""


@dataclass
class TrainedRouting:
    model: CategoryModel
    featurizer: Featurizer
    about: dict[str, Any]  # trained_at, trained_on, training_digest, embedding_model, review_target, source

    @property
    def trained_on(self) -> int:
        return int(self.about["trained_on"])

    @property
    def version(self) -> str:
        return f"cat-{self.trained_on}-{self.about['training_digest'][:8]}"

    def save(self, path: Path) -> None:
        """Written next to `path` and renamed over it: a reader sees the old file or the new one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"model_{k}": v for k, v in self.model.arrays().items()}
        arrays.update(
            about=np.array(json.dumps({**self.about, "format": FORMAT, "options": self.model.options,
                                       "taxonomy": self.featurizer.taxonomy.tree}, ensure_ascii=False)),
            leaf_vectors=self.featurizer.leaf_vectors.astype(np.float32))
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            np.savez_compressed(out, **arrays)
        os.replace(partial, path)


def training_digest(tickets: list[Ticket], labels: list[str], taxonomy: Taxonomy, embedding_model: str,
                    review_target: float) -> str:
    """Changes when anything the model is fitted from changes."""
    digest = hashlib.sha256(f"{FORMAT}|{embedding_model}|{review_target}".encode())
    digest.update(json.dumps(taxonomy.tree, ensure_ascii=False, sort_keys=True).encode())
    for ticket, label in zip(tickets, labels):
        digest.update(f"\x1e{ticket.title}\x1f{ticket.body}\x1f{label}".encode())
    return digest.hexdigest()


def train_routing(embedder: ArrayEmbeddings, taxonomy: Taxonomy, tickets: list[Ticket], labels: list[str],
                  review_target: float, source: str, progress: Progress | None = None,
                  groups: dict[str, str] | None = None) -> TrainedRouting:
    """`groups`: each category's lead rule (categories.yml): the review threshold is then calibrated on
    whether the rule that picks the 主办 is right, not the exact category."""
    featurizer = Featurizer(embedder, taxonomy)
    features = featurizer(tickets, progress)
    model = CategoryModel(featurizer).fit(features, labels)
    model.calibrate(features, labels, review_target, groups=groups)
    about = {"trained_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
             "trained_on": len(tickets), "embedding_model": embedder.model_id, "review_target": review_target,
             "training_digest": training_digest(tickets, labels, taxonomy, embedder.model_id, review_target),
             "source": source}
    return TrainedRouting(model, featurizer, about)


def _read(path: Path, only_about: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The file's description and arrays (only the description when that is all a caller needs:
    the arrays are most of the file)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in (["about"] if only_about else data.files)}
        return json.loads(str(arrays.pop("about"))), arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a routing model file ({exc}); run `jingce train routing`") from None


def stored_digest(path: Path) -> str | None:
    """The training digest of the model at `path`; None when there is no readable one."""
    try:
        return _read(path, only_about=True)[0].get("training_digest")
    except ModelFileError:
        return None


def load_trained(path: Path, embedder: ArrayEmbeddings) -> TrainedRouting:
    about, arrays = _read(path)
    if about.get("format") != FORMAT:
        raise ModelFileError(f"{path}: format {about.get('format')}, this version reads {FORMAT}; "
                             "run `jingce train routing`")
    if about.get("embedding_model") != embedder.model_id:
        raise ModelFileError(f"{path}: trained with the embedding model {about.get('embedding_model')}, the service "
                             f"uses {embedder.model_id}; run `jingce train routing`")
    featurizer = Featurizer(embedder, Taxonomy(about.pop("taxonomy")), leaf_vectors=arrays["leaf_vectors"])
    model = CategoryModel.from_arrays(featurizer, {k[len("model_"):]: v for k, v in arrays.items()
                                                   if k.startswith("model_")}, about.pop("options"))
    return TrainedRouting(model, featurizer, about)

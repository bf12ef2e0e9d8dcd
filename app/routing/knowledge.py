"""What the routing steps know, ready before the first ticket: the department catalogue and its
profiles' embeddings, the trained category model (app/routing/trained.py) and the decided tickets.

`start()` loads them (the API's lifespan calls it; so does the CLI). Then a background thread looks
for a newer model file every `check_s` seconds and loads it: a retrained model (`jingce train
routing`, e.g. nightly with the day's decisions) takes over without a restart, and no request waits
for it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from app.clients.embeddings import ArrayEmbeddings
from app.routing.catalogue import Department, Taxonomy
from app.routing.classifier import Featurizer, Ticket
from app.routing.precedents import TEXT_CHARS, Precedents
from app.routing.results import SimilarTicket
from app.routing.store import DecidedTicket
from app.routing.trained import ModelFileError, TrainedRouting, load_trained

log = logging.getLogger(__name__)

UNTRAINED = "尚无工单分类模型，建议均需人工复核（请管理员训练工单分类模型）"


class RoutingKnowledge:
    def __init__(self, embedder: ArrayEmbeddings, catalogue: dict[str, Department], model_path: Path,
                 decided: Callable[[], list[DecidedTicket]], check_s: float = 10.0) -> None:
        """`decided` reads every decision so far."""
        self.embedder, self.catalogue, self.model_path = embedder, catalogue, model_path
        self.read_decided, self.check_s = decided, check_s
        self._featurizer = Featurizer(embedder, Taxonomy())  # for the ticket's passage vector alone
        # the bodies ranked by their duties; district governments and street offices join by place
        self.ids = [i for i, d in catalogue.items() if d.kind not in ("district", "street")]
        self.profiles: np.ndarray | None = None
        self.trained: TrainedRouting | None = None
        self.missing = UNTRAINED  # why there is no model, while there is none
        self.decided = Precedents()
        self._stamp: tuple[int, int] | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Idempotent: the first call loads, later ones return at once."""
        with self._lock:
            if self.profiles is not None:
                return
            self._load_model(self._file_stamp())
            self.remember(self.read_decided())
            self.profiles = np.asarray(self.embedder.passages([self.catalogue[i].profile for i in self.ids]))
            if self.check_s > 0:
                threading.Thread(target=self._watch, name="routing-model-watch", daemon=True).start()

    def ticket_vectors(self, tickets: list[Ticket]) -> np.ndarray:
        """What tickets are compared with departments and other tickets by (as the model's featurizer)."""
        return self._featurizer.passage_vectors(tickets)

    def remember(self, decided: list[DecidedTicket]) -> None:
        """Decided tickets become precedent at once."""
        if not decided:
            return
        vectors = self._featurizer.passage_vectors([Ticket.of(d.ticket) for d in decided])
        self.decided.add(vectors, [SimilarTicket(d.ticket[:TEXT_CHARS], 1.0, d.department, d.action, d.suggested,
                                                 d.category, d.decided_at) for d in decided])

    # ---- the model file ----
    def close(self) -> None:
        self._closed.set()

    def _watch(self) -> None:
        """On its own thread: a changed file is loaded here, so no request waits for it."""
        while not self._closed.wait(self.check_s):
            stamp = self._file_stamp()
            if stamp is not None and stamp != self._stamp:
                self._load_model(stamp)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self.model_path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def _load_model(self, stamp: tuple[int, int] | None) -> None:
        self._stamp = stamp
        if stamp is None:  # the agent is told in Chinese (UNTRAINED); whoever runs the service, here
            log.warning("no routing model at %s: every suggestion goes to review; run `jingce train routing`",
                        self.model_path)
            return
        try:
            trained = load_trained(self.model_path, self.embedder)
        except ModelFileError as exc:
            log.error("%s", exc)  # the path and the command to run are for the log, not the agent's screen
            self.missing = "工单分类模型无法读取，建议均需人工复核（请管理员查看服务日志）"
            return
        self.trained = trained  # one assignment: a request sees the old model or the new one
        log.info("routing model %s loaded (%s tickets, trained %s)", trained.version, trained.trained_on,
                 trained.about.get("trained_at"))

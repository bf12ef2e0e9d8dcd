"""Tickets agents of this hotline decided, as precedent: the next similar ticket sees a decision at
once — shown to its agent with who led it and how, and as a vote for that lead."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from app.routing.results import SimilarTicket

TEXT_CHARS = 200  # what is kept and shown of each ticket


class Precedents:
    def __init__(self, vectors: np.ndarray | None = None, tickets: list[SimilarTicket] | None = None) -> None:
        self._matrix = vectors if vectors is not None and len(vectors) else None
        self._tickets: list[SimilarTicket] = list(tickets or [])
        self._lock = threading.Lock()  # decisions are added while other requests read

    def __len__(self) -> int:
        return len(self._tickets)

    def add(self, vectors: np.ndarray, tickets: list[SimilarTicket]) -> None:
        if not tickets:
            return
        with self._lock:
            self._matrix = vectors if self._matrix is None else np.vstack([self._matrix, vectors])
            self._tickets = self._tickets + tickets

    @property
    def vectors(self) -> np.ndarray | None:
        return self._matrix

    @property
    def tickets(self) -> list[SimilarTicket]:
        return list(self._tickets)

    def nearest(self, vector: np.ndarray, k: int) -> list[SimilarTicket]:
        """The k most similar tickets, best first, each with its similarity to `vector`."""
        with self._lock:
            matrix, tickets = self._matrix, self._tickets
        if matrix is None:
            return []
        sims = matrix @ vector
        order = np.argsort(-sims, kind="stable")[:k]
        return [replace(tickets[i], similarity=float(sims[i])) for i in order]

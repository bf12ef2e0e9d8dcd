"""Runs the answer pipeline: the ordered steps, each timed; errors caught once, here."""

from __future__ import annotations

import logging
import time
from typing import Callable, Protocol

from app.pipeline.context import AnswerContext

log = logging.getLogger(__name__)


class Step(Protocol):
    name: str

    def __call__(self, ctx: AnswerContext) -> None: ...


class AnswerPipeline:
    """`steps` is the whole flow, in order:
    check_question → rewrite_question → retrieve → compose_answer → check_answer → record."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def run(self, ctx: AnswerContext, on_step: Callable[[str, AnswerContext], None] | None = None) -> AnswerContext:
        for step in self.steps:
            if ctx.stopped and not getattr(step, "always", False):
                continue
            clock = time.perf_counter()
            try:
                step(ctx)
            except Exception as exc:  # the one place errors become a status
                log.exception("step %s failed", step.name)
                ctx.error = f"{step.name}: {type(exc).__name__}: {exc}"
                if getattr(step, "always", False):
                    raise  # the audit record could not be written: never answer without one
                ctx.stop("error")
            ctx.timings_ms[step.name] = round((time.perf_counter() - clock) * 1000, 2)
            if on_step:
                on_step(step.name, ctx)
        return ctx

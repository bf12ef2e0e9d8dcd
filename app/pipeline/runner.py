"""Runs a pipeline — answers (AnswerContext) and routing (TicketContext) alike: the ordered steps,
each timed; errors caught once, here.

A step may say how its failure counts:
- `always = True`: it runs even after the flow stopped (recording), and its failure is raised — an
  answer or a suggestion is never given without its audit record;
- `optional = True`: its failure degrades the result instead of ending the flow (the flow goes on
  and the context notes what was left out, `ctx.leave_out(step, why)`);
- otherwise a failure ends the flow with the status "error".
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class FlowContext(Protocol):
    error: str | None
    timings_ms: dict[str, float]
    left_out: list[str]  # optional steps that failed, and why: the result stands without them

    @property
    def stopped(self) -> bool: ...

    def stop(self, status: str) -> None: ...

    def leave_out(self, step: str, why: str) -> None: ...


C = TypeVar("C", bound=FlowContext)


class Step(Protocol[C]):  # type: ignore[misc]
    name: str

    def __call__(self, ctx: C) -> None: ...


class Pipeline(Generic[C]):
    """`steps` is the whole flow, in order (the lists are assembled in app/composition.py)."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def run(self, ctx: C, on_step: Callable[[str, C], None] | None = None) -> C:
        for step in self.steps:
            always = getattr(step, "always", False)
            if ctx.stopped and not always:
                continue
            clock = time.perf_counter()
            try:
                step(ctx)
            except Exception as exc:  # the one place errors become a status
                log.exception("step %s failed", step.name)
                reason = f"{type(exc).__name__}: {exc}"
                if always:
                    raise  # the audit record could not be written: never give a result without one
                if getattr(step, "optional", False):
                    ctx.leave_out(step.name, reason)
                else:
                    ctx.error = f"{step.name}: {reason}"
                    if getattr(exc, "retryable", False) and hasattr(ctx, "retryable"):
                        ctx.retryable = True  # type: ignore[attr-defined]
                    ctx.stop("error")
            ctx.timings_ms[step.name] = round((time.perf_counter() - clock) * 1000, 2)
            if on_step:
                on_step(step.name, ctx)
        return ctx

"""`jingce train …`: the learned parts (selector, ranker, answerability, routing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from app.config import REPO_ROOT, Settings

from app.cli.common import train_app, console, _SHARED, _settings, _LogProgress


_COVID_CORPUS = typer.Option(_SHARED / "ncp-policy-qa" / "documents.jsonl", help="COVID-period documents (JSONL).")
_COVID_QUESTIONS = typer.Option(_SHARED / "ncp-policy-qa" / "questions.dev.jsonl", help="Their dev questions.")
_BANK_SPLIT = typer.Option("train", help="The question bank's split to fit on (tests/data/bank); the test split "
                                         "is for scoring only.")


def _dev_sets(settings: Settings, covid_corpus: Path, covid_questions: Path, bank_split: str):
    from app.training import dev_sets

    for path in (covid_corpus, covid_questions):
        if not path.exists():
            console.print(f"[red]not found: {path}[/red]")
            raise typer.Exit(2)
    if bank_split not in ("train", "all"):
        console.print("[red]fit on the bank's train split (or all of it, knowingly): never on test alone[/red]")
        raise typer.Exit(2)
    return dev_sets(covid_corpus, covid_questions, [REPO_ROOT / p for p in settings.ingest.corpus_paths], bank_split)


def _dev_rows(settings: Settings, switched_off: str, build, covid_corpus: Path, covid_questions: Path,
              bank_split: str, index_dir: Optional[Path]) -> list:
    """The dev sets' training rows, read with the answer model being fitted (`answer.<switched_off>`)
    out of the way: its own output must not be among its features."""
    from app.training import collect

    settings = settings.model_copy(update={"answer": settings.answer.model_copy(update={switched_off: None})})
    sets = _dev_sets(settings, covid_corpus, covid_questions, bank_split)
    return collect(sets, settings, index_dir, build, progress=lambda m: console.print(m))


def _write(model, target: Path, said: str = "") -> None:
    model.save(target)
    print(json.dumps(model.report, ensure_ascii=False))
    console.print(f"wrote {target}{said}")


@train_app.command("selector")
def train_selector_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                           bank_split: str = _BANK_SPLIT, folds: int = typer.Option(5, min=2, max=20),
                           ablation: bool = typer.Option(True, help="Fit the folds again without each feature "
                                                                    "group and report the loss."),
                           out: Optional[Path] = typer.Option(None, help="Default: ANSWER_SELECTOR_MODEL."),
                           index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the answer selector (which sentence the extractive answer quotes) on the question bank's
    train split and the COVID answer spans; prints cross-validated top-sentence accuracy beside the
    hand-weighted score's, and per feature group what leaving it out costs; writes the model."""
    from app.training import selector_rows, train_selector

    settings = _settings()
    target = out or settings.answer.selector_model or REPO_ROOT / "models" / "answer_selector.json"
    # candidates and features are read without a selector (the hand score is the baseline beside it)
    rows = _dev_rows(settings, "selector_model", selector_rows, covid_corpus, covid_questions, bank_split, index_dir)
    _write(train_selector(rows, folds, ablation, progress=lambda m: console.print(m)), target)


@train_app.command("ranker")
def train_ranker_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                         bank_split: str = _BANK_SPLIT,
                         folds: int = typer.Option(5, min=2, max=20),
                         out: Optional[Path] = typer.Option(None, help="Default: ANSWER_RANKER_MODEL, else "
                                                            "models/doc_ranker.json."),
                         index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the document ranker on the dev questions; prints cross-validated recall@1 / MRR@10
    beside the fused search's, then writes the model."""
    from app.training import ranker_rows, train_ranker

    settings = _settings()
    target = out or settings.answer.ranker_model or REPO_ROOT / "models" / "doc_ranker.json"
    # candidates as the fused search ranks them, whatever ranker is configured now
    rows = _dev_rows(settings, "ranker_model", lambda s, dev: ranker_rows(s, dev, settings.answer.candidates),
                     covid_corpus, covid_questions, bank_split, index_dir)
    _write(train_ranker(rows, folds), target)


@train_app.command("answerability")
def train_answerability_command(covid_corpus: Path = _COVID_CORPUS, covid_questions: Path = _COVID_QUESTIONS,
                                bank_split: str = _BANK_SPLIT,
                                unanswerable: list[Path] = typer.Option(
                                    [REPO_ROOT / "tests" / "data" / "unanswerable.txt",
                                     REPO_ROOT / "tests" / "data" / "out_of_scope.txt"],
                                    exists=True, dir_okay=False, help="Questions the corpora cannot answer."),
                                folds: int = typer.Option(5, min=2, max=20),
                                max_false_refusal: float = typer.Option(0.05, min=0.0, max=0.5, help="Out-of-fold share of answerable questions the threshold may refuse: the bank's near misses are answered less the more it may (docs/adr/0011)."),
                                min_refused: float = typer.Option(0.92, min=0.0, max=1.0, help="Out-of-fold share of each unanswerable list the threshold must refuse (raised until it does)."),
                                out: Optional[Path] = typer.Option(None, help="Default: ANSWER_ANSWERABILITY_MODEL."),
                                index_dir: Optional[Path] = typer.Option(None)) -> None:
    """Fit the answerability decision; prints cross-validated false refusals (dev sets) and false
    answers (unanswerable lists), then writes the model with its threshold."""
    from app.training import answerability_rows, train_answerability

    settings = _settings()
    target = out or settings.answer.answerability_model
    # the features are read without the decision being taken (and whatever model is there now)
    rows = _dev_rows(settings, "answerability_model", lambda s, dev: answerability_rows(s, dev, unanswerable),
                     covid_corpus, covid_questions, bank_split, index_dir)
    model = train_answerability(rows, folds, max_false_refusal, min_refused)
    _write(model, target, f" (threshold {model.threshold:.3f})")


@train_app.command("routing")
def train_routing_command(if_changed: bool = typer.Option(False, "--if-changed",
                                                          help="Do nothing when the model was fitted on the same data.")) -> None:
    """Fit the hotline category model on ROUTING_TRAIN_PATH plus the categories agents decided, calibrate
    its review threshold, and write it where the service loads it from (a running service picks it up)."""
    from app.composition import train_routing_model

    settings = _settings()
    try:
        said = train_routing_model(settings, if_changed, progress=_LogProgress(
            "train routing", "tickets", "to embed (cached by content), then the model is fitted and calibrated"))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    console.print(said)

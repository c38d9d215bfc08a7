"""Scores: every prediction matched against its gold fact, and accuracy per split and field.

Consumes an evalset and predictions (`{"id": "verbatim-12-episodes", "output": "It has 13 episodes."}` per line)
and produces a score file:

    {"format": "harness.scores/1", "model": "merged", "evalset": {"name": ..., "sha256": ...},
     "summary": {"verbatim": {"episodes": {"n": 781, "hits": 702, "accuracy": 0.899, "ci_low": 0.876,
                                             "ci_high": 0.918, ...}, "all": {...}}, ...},
     "items": [{"id": ..., "anime_id": 12, "split": ..., "field": ..., "hit": true, "extracted": [13], ...}]}

Accuracy intervals are Wilson 95%. Set fields add mean precision/recall/F1; score adds a lenient accuracy and
the mean absolute error; every field reports how often the model declined to answer.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.progress import track

from harness import storage
from harness.evalsets import EVAL_FIELDS, LEXICON_OF_FIELD, SPLITS, Evalset, QAItem
from harness.matching import (
    MATCHERS,
    build_lexicon,
    is_abstention,
    normalise_company,
    normalise_name,
    strip_echo,
)
from harness.statistics import wilson_interval

SCORES_FORMAT = "harness.scores/1"


class ScoringError(ValueError):
    """Predictions do not fit the evalset; the message names the file and the ids."""


@dataclass(frozen=True)
class Prediction:
    id: str
    output: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Prediction:
        return cls(id=str(row["id"]), output=str(row["output"]))


@dataclass(frozen=True)
class ItemScore:
    id: str
    anime_id: int
    split: str
    field: str
    hit: bool
    extracted: object
    abstained: bool
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> ItemScore:
        return cls(**row)


def read_predictions(path: str | Path) -> list[Prediction]:
    rows = storage.read_jsonl(path, ("id", "output"))
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        if row["id"] in seen:
            raise ScoringError(f"{path}: id {row['id']!r} appears more than once (record {number}).")
        seen.add(row["id"])
    return [Prediction.from_dict(row) for row in rows]


def compiled_lexicons(evalset: Evalset) -> dict[str, dict[str, str]]:
    """Field -> {normalised surface form: canonical}, built once per scoring run."""
    compiled = {}
    for fld, lexicon_name in LEXICON_OF_FIELD.items():
        normalise = normalise_company if lexicon_name == "companies" else normalise_name
        compiled[fld] = build_lexicon(evalset.lexicon.get(lexicon_name, {}), normalise)
    return compiled


def score_predictions(evalset: Evalset, predictions: list[Prediction], source: str = "predictions") -> list[ItemScore]:
    """Match every evalset question's prediction; a missing or unknown id is an error naming it."""
    outputs = {p.id: p.output for p in predictions}
    ids = {item.id for item in evalset.items}
    missing = [item.id for item in evalset.items if item.id not in outputs]
    unknown = [pid for pid in outputs if pid not in ids]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"{len(missing)} evalset id(s) have no prediction, e.g. {missing[:5]}")
        if unknown:
            parts.append(f"{len(unknown)} prediction id(s) are not in the evalset, e.g. {unknown[:5]}")
        raise ScoringError(f"{source}: {'; '.join(parts)}. Predictions must answer every question of this evalset.")
    lexicons = compiled_lexicons(evalset)
    jobs = [(item, outputs[item.id]) for item in evalset.items]
    workers = scoring_workers(len(jobs))
    if workers == 1:
        return score_items(track(jobs, description="scoring", transient=True, disable=len(jobs) < 5000), lexicons)
    # Matching is pure Python and independent per question: large evalsets (the Kaggle table's 370k
    # questions) are scored in processes. Spawned, not forked: the parent may hold a CUDA context.
    chunks = [jobs[start:start + PARALLEL_CHUNK] for start in range(0, len(jobs), PARALLEL_CHUNK)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_set_worker_lexicons, initargs=(lexicons,)) as pool:
        done = track(pool.map(_score_in_worker, chunks), total=len(chunks), transient=True,
                     description=f"scoring ({workers} processes)")
        return [score for chunk in done for score in chunk]


PARALLEL_FROM = 20_000  # questions; below this, starting processes costs more than it saves
PARALLEL_CHUNK = 5_000


def scoring_workers(questions: int) -> int:
    return 1 if questions < PARALLEL_FROM else max(1, min(os.cpu_count() or 1, 16, questions // PARALLEL_CHUNK))


def score_items(jobs: Iterable[tuple[QAItem, str]], lexicons: dict[str, dict[str, str]]) -> list[ItemScore]:
    """(question, output) pairs -> their scores, in order."""
    scores = []
    for item, output in jobs:
        match = MATCHERS[item.field](strip_echo(output, item.subject), item.gold, lexicons.get(item.field, {}))
        scores.append(ItemScore(id=item.id, anime_id=item.anime_id, split=item.split, field=item.field,
                                hit=match.hit, extracted=match.extracted, abstained=is_abstention(output),
                                detail=match.detail))
    return scores


_worker_lexicons: dict[str, dict[str, str]] = {}


def _set_worker_lexicons(lexicons: dict[str, dict[str, str]]) -> None:
    _worker_lexicons.update(lexicons)


def _score_in_worker(jobs: list[tuple[QAItem, str]]) -> list[ItemScore]:
    return score_items(jobs, _worker_lexicons)


def summarise(scores: list[ItemScore]) -> dict:
    """split -> field (and "all") -> n, hits, accuracy with Wilson interval, and per-field extras."""
    summary = {}
    for split in SPLITS:
        in_split = [s for s in scores if s.split == split]
        if not in_split:
            continue
        fields = {f: _summarise_group([s for s in in_split if s.field == f]) for f in EVAL_FIELDS
                  if any(s.field == f for s in in_split)}
        summary[split] = {**fields, "all": _summarise_group(in_split)}
    return summary


def _summarise_group(group: list[ItemScore]) -> dict:
    n, hits = len(group), sum(s.hit for s in group)
    low, high = wilson_interval(hits, n)
    out = {"n": n, "hits": hits, "accuracy": hits / n if n else 0.0, "ci_low": low, "ci_high": high,
           "abstained": sum(s.abstained for s in group)}
    f1s = [s.detail["f1"] for s in group if "f1" in s.detail]
    if f1s and len(f1s) == n:
        for key in ("precision", "recall", "f1"):
            out[f"mean_{key}"] = sum(s.detail[key] for s in group) / n
    if group and all("lenient_hit" in s.detail for s in group):
        out["lenient_accuracy"] = sum(s.detail["lenient_hit"] for s in group) / n
        errors = [s.detail["abs_error"] for s in group if s.detail["abs_error"] is not None]
        out["mean_abs_error"] = sum(errors) / len(errors) if errors else None
        out["answered"] = len(errors)
    return out


def score_file(evalset: Evalset, scores: list[ItemScore], *, model: str, predictions_path: str | Path) -> dict:
    return {
        "format": SCORES_FORMAT,
        "model": model,
        "evalset": {"name": evalset.manifest["name"], "sha256": evalset.manifest["sha256"]},
        "predictions": {"path": str(predictions_path), "sha256": storage.sha256_file(predictions_path)},
        "summary": summarise(scores),
        "items": [s.to_dict() for s in scores],
    }

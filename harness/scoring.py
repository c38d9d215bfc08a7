"""Scores: every prediction matched against its gold fact, and accuracy per split and field.

Consumes an evalset and predictions (`{"id": "verbatim-12-episodes", "output": "It has 13 episodes."}` per line)
and produces a score file:

    {"format": "harness.scores/3", "model": "merged", "evalset": {"name": ..., "sha256": ...},
     "summary": {"verbatim": {"episodes": {"n": 781, "hits": 702, "accuracy": 0.899, "ci_low": 0.876,
                                             "ci_high": 0.918, ...}, "all": {...}}, ...},
     "items": [{"id": ..., "subject_id": 12, "split": ..., "field": ..., "hit": true, "verdict": "correct",
                "extracted": [13], ...}]}

Accuracy intervals are Wilson 95%. Set fields add mean precision/recall/F1; score adds a lenient accuracy and
the mean absolute error; every field counts its answers by verdict class (`matching.VERDICTS`: correct,
partial, wrong_value, declined, other_field, echo, no_value, empty), which says why recall is what it is.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import storage
from harness.domains import Domain, domain_of_manifest
from harness.errors import HarnessError
from harness.evalsets import SPLITS, Evalset, QAItem
from harness.matching import (
    COMPANY_DESIGNATORS,
    FRAME_WORDS,
    VERDICTS,
    build_lexicon,
    is_abstention,
    match_title,
    matcher_for,
    normalise_company_mention,
    normalise_name,
    normalise_text,
    remove_echo,
    stated_fields,
    verdict,
)
from harness.progress import progress
from harness.statistics import wilson_interval

SCORES_FORMAT = "harness.scores/3"


class ScoringError(HarnessError, ValueError):
    """Predictions do not fit the evalset; the message names the file and the ids."""


@dataclass(frozen=True)
class Prediction:
    """One answer. `evalset_sha256` names the evalset it answered (the harness's own files always carry it),
    so answers to another evalset that happens to share ids are refused, never scored."""
    id: str
    output: str
    evalset_sha256: str = ""

    def to_dict(self) -> dict:
        row = {"id": self.id, "output": self.output}
        return {**row, "evalset_sha256": self.evalset_sha256} if self.evalset_sha256 else row

    @classmethod
    def from_dict(cls, row: dict) -> Prediction:
        return cls(id=str(row["id"]), output=row["output"], evalset_sha256=str(row.get("evalset_sha256") or ""))


@dataclass(frozen=True)
class ItemScore:
    id: str
    subject_id: int | str
    split: str
    field: str
    hit: bool
    extracted: object
    abstained: bool
    detail: dict = field(default_factory=dict)
    verdict: str = ""  # one of matching.VERDICTS

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> ItemScore:
        row = dict(row)
        if "anime_id" in row:  # score files before harness.scores/3
            row["subject_id"] = row.pop("anime_id")
        return cls(**row)


def read_predictions(path: str | Path) -> list[Prediction]:
    rows = storage.read_jsonl(path, ("id", "output"))
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        # the type first: a list or object id cannot be looked up in `seen`
        if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
            raise ScoringError(f"{path}: record {number}: id must be text, got {row['id']!r}.")
        if row["id"] in seen:
            raise ScoringError(f"{path}: id {row['id']!r} appears more than once (record {number}).")
        if not isinstance(row["output"], str):
            raise ScoringError(f"{path}: record {number} (id {row['id']!r}): output must be text, got "
                               f"{type(row['output']).__name__} {row['output']!r}; write the model's answer as a "
                               "JSON string (an empty answer is \"\").")
        seen.add(row["id"])
    return [Prediction.from_dict(row) for row in rows]


@dataclass(frozen=True)
class ScoringContext:
    """What every answer is matched against, built once per scoring run: the domain's fields, the compiled
    lexicon of each field, every name of each subject (its echo is not an answer), the frame words (the
    generic ones and the domain's: `words`; with every word of its templates, normalised: `frame`) and the
    numbers that belong to a value rather than count anything ('PG-13')."""
    fields: tuple
    lexicons: dict
    names: dict
    frame: frozenset
    words: frozenset
    number_noise: str = ""


def scoring_context(lexicon: dict, domain: Domain) -> ScoringContext:
    """The context for an evalset's `lexicon` (its lexicon.json) and the domain it was built from."""
    words = FRAME_WORDS | domain.frame_words
    frame = words | domain.template_words()
    companies = tuple(name for fact in domain.fields if fact.kind == "companies"
                      for name in lexicon.get(fact.lexicon, {}))
    lexicons = {}
    for fact in domain.fields:
        if fact.lexicon is None:
            continue
        names = lexicon.get(fact.lexicon, {})
        if fact.kind == "companies":
            lexicons[fact.name] = build_lexicon(names, normalise_company_mention, frame=frame,
                                                designators=frozenset(COMPANY_DESIGNATORS))
        elif fact.kind == "category":  # 'TV Tokyo' is a company, not a TV series
            lexicons[fact.name] = build_lexicon(names, normalise_name, blockers=tuple(dict.fromkeys(companies)))
        else:
            lexicons[fact.name] = build_lexicon(names, normalise_name)
    lexicons["title"] = build_lexicon(lexicon.get("title", {}), normalise_name, frame=frame)
    titles = {name: (name, *aliases) for name, aliases in lexicon.get("title", {}).items()}
    return ScoringContext(fields=domain.fields, lexicons=lexicons, names=titles,
                          frame=frozenset(normalise_text(" ".join(frame)).split()), words=words,
                          number_noise=domain.number_noise)


def score_predictions(evalset: Evalset, predictions: list[Prediction], source: str = "predictions",
                      workers: int | None = None, subset: bool = False) -> list[ItemScore]:
    """Match every evalset question's prediction; a missing or unknown id is an error naming it (with `subset`,
    only the questions answered are scored, and a missing id is no error). `workers` processes (default: by
    evalset size, `scoring_workers`)."""
    sha = evalset.manifest.get("sha256")
    foreign = sorted({p.evalset_sha256 for p in predictions if p.evalset_sha256 and p.evalset_sha256 != sha})
    if foreign:
        raise ScoringError(f"{source}: the answers were made for evalset sha256 {foreign[0][:12]}…, not for "
                           f"{evalset.manifest.get('name')} ({str(sha)[:12]}…): ids match but the questions may "
                           "not. Score them against the evalset they answered.")
    outputs = {p.id: p.output for p in predictions}
    ids = {item.id for item in evalset.items}
    missing = [] if subset else [item.id for item in evalset.items if item.id not in outputs]
    unknown = [pid for pid in outputs if pid not in ids]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"{len(missing)} evalset id(s) have no prediction, e.g. {missing[:5]}")
        if unknown:
            parts.append(f"{len(unknown)} prediction id(s) are not in the evalset, e.g. {unknown[:5]}")
        advice = ("Predictions must answer every question of this evalset; to score only those answered, pass "
                  "--subset (the score file then records how many of the evalset's questions it covers)."
                  if missing else "Score them against the evalset they answer.")
        raise ScoringError(f"{source}: {'; '.join(parts)}. {advice}")
    context = scoring_context(evalset.lexicon, domain_of_manifest(evalset.manifest))
    jobs = [(item, outputs[item.id]) for item in evalset.items if item.id in outputs]
    if not jobs:
        raise ScoringError(f"{source}: no prediction answers a question of {evalset.manifest.get('name')}.")
    workers = scoring_workers(len(jobs)) if workers is None else workers
    size = PARALLEL_CHUNK if workers > 1 else PROGRESS_CHUNK
    chunks = [jobs[start:start + size] for start in range(0, len(jobs), size)]
    scores: list[ItemScore] = []
    with ExitStack() as stack:
        counter = None
        if len(jobs) >= PROGRESS_FROM:
            label = f"scoring {source}" + (f" ({workers} processes)" if workers > 1 else "")
            counter = stack.enter_context(progress(label, len(jobs), unit="answers"))
        if workers == 1:
            done = (score_items(chunk, context) for chunk in chunks)
        else:
            # Matching is pure Python and independent per question: large evalsets (the Kaggle table's 370k
            # questions) are scored in processes. Spawned, not forked: the parent may hold a CUDA context.
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_set_worker_context,
                initargs=(context,)))
            done = pool.map(_score_in_worker, chunks)
        for chunk in done:
            scores += chunk
            if counter is not None:
                counter.advance(len(chunk))
    return scores


PARALLEL_FROM = 20_000  # questions; below this, starting processes costs more than it saves
PARALLEL_CHUNK = 5_000
PROGRESS_FROM = 5_000  # questions; smaller evalsets score in seconds, without a progress report
PROGRESS_CHUNK = 1_000  # questions scored between two progress counts in one process


def scoring_workers(questions: int) -> int:
    return 1 if questions < PARALLEL_FROM else max(1, min(os.cpu_count() or 1, 16, questions // PARALLEL_CHUNK))


def score_items(jobs: Iterable[tuple[QAItem, str]], context: ScoringContext) -> list[ItemScore]:
    """(question, output) pairs -> their scores, in order."""
    scores = []
    lexicons = context.lexicons
    facts = {fact.name: fact for fact in context.fields}
    matchers = {name: matcher_for(fact) for name, fact in facts.items()}
    noise = re.compile(context.number_noise, re.IGNORECASE) if context.number_noise else None
    for item, output in jobs:
        golds = item.gold if isinstance(item.gold, list) else [item.gold]
        keep = (*(g for g in golds if isinstance(g, str)), *item.aliases)
        cleaned = remove_echo(output, item.question, context.names.get(item.subject, (item.subject,)), context.words,
                              keep)
        fact = facts.get(item.field)
        if fact is None:
            match = match_title(cleaned, item.gold, lexicons["title"])
        else:
            numeric = fact.kind in ("count", "decimal", "large_count")
            text = noise.sub(" ", cleaned) if noise is not None and numeric else cleaned
            match = matchers[item.field](text, item.gold, lexicons.get(item.field, {}))
        kind, why = verdict(item.field, output, cleaned, match, item.gold, frame=context.frame,
                            stated=functools.partial(stated_fields, cleaned, fact, context.fields, lexicons),
                            is_set=fact is None or fact.is_set)
        scores.append(ItemScore(id=item.id, subject_id=item.subject_id, split=item.split, field=item.field,
                                hit=match.hit, extracted=match.extracted, abstained=is_abstention(output),
                                detail={**match.detail, **why}, verdict=kind))
    return scores


_worker_context: list[ScoringContext] = []


def _set_worker_context(context: ScoringContext) -> None:
    _worker_context[:] = [context]


def _score_in_worker(jobs: list[tuple[QAItem, str]]) -> list[ItemScore]:
    return score_items(jobs, _worker_context[0])


def summarise(scores: list[ItemScore], fields: tuple[str, ...] = ()) -> dict:
    """split -> field (and "all") -> n, hits, accuracy with Wilson interval, and per-field extras; fields in
    the order given (the domain's, then the title), others after in order of appearance."""
    order = tuple(dict.fromkeys((*fields, *(s.field for s in scores))))
    summary = {}
    for split in SPLITS:
        in_split = [s for s in scores if s.split == split]
        if not in_split:
            continue
        fields = {f: _summarise_group([s for s in in_split if s.field == f]) for f in order
                  if any(s.field == f for s in in_split)}
        summary[split] = {**fields, "all": _summarise_group(in_split)}
    return summary


def _summarise_group(group: list[ItemScore]) -> dict:
    n, hits = len(group), sum(s.hit for s in group)
    low, high = wilson_interval(hits, n)
    out = {"n": n, "hits": hits, "accuracy": hits / n if n else 0.0, "ci_low": low, "ci_high": high,
           "abstained": sum(s.abstained for s in group),
           "verdicts": {v: sum(s.verdict == v for s in group) for v in VERDICTS}}
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


def score_file(evalset: Evalset, scores: list[ItemScore], *, model: str, predictions_path: str | Path,
               prompting: str = "chat") -> dict:
    """The score file; one that scores only some of the evalset's questions says how many:
    `"subset": {"answered": 120, "of": 4457}`. `prompting` is how the questions were put (chat or fewshot):
    answers of two promptings are not paired by `harness compare` unless asked."""
    data = {
        "format": SCORES_FORMAT,
        "model": model,
        "prompting": prompting,
        "evalset": {"name": evalset.manifest["name"], "sha256": evalset.manifest["sha256"]},
        "predictions": {"path": str(predictions_path), "sha256": storage.sha256_file(predictions_path)},
        "summary": summarise(scores, (*domain_of_manifest(evalset.manifest).field_names, "title")),
        "items": [s.to_dict() for s in scores],
    }
    if len(scores) < len(evalset.items):
        data["subset"] = {"answered": len(scores), "of": len(evalset.items)}
    return data

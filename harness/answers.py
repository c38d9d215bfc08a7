"""Answers: a run's questions one by one, so nobody joins the evalset, predictions and scores by hand.

Consumes RUN/manifest.json (the evalset the run recorded, `config.evalset_dir`), RUN/predictions/{base,merged}.jsonl
and RUN/scores.json; produces one row per question, in evalset order, filtered by split, field and one model's
verdict class (`matching.VERDICTS`), for `harness report RUN --items`:

    AnswerRow(id="verbatim-12-episodes", split="verbatim", field="episodes", question="How many episodes ...?",
              gold="13", answers={"base": "It has 12 episodes.", "merged": "13 episodes."},
              verdicts={"base": "wrong_value", "merged": "correct"})

`join_answers` is that join as a pure function; the HTML report (harness/html.py) builds its question browser
with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from harness import storage
from harness.config import PROMPTINGS
from harness.evalsets import SPLITS, Evalset, QAItem, load_evalset
from harness.matching import VERDICTS
from harness.runs import RunError, read_manifest
from harness.scoring import read_predictions

MODELS = ("base", "merged")
# A run asked both ways keeps the second prompting's answers as `base-fewshot` and `merged-fewshot`
# (config.answers_name); --model names either of them to see that pair.
SECOND_PROMPTING = tuple(f"{m}-{p}" for p in PROMPTINGS[1:] for m in MODELS)
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class AnswerRow:
    id: str
    split: str
    field: str
    question: str
    gold: str
    answers: dict[str, str]  # model -> its output
    verdicts: dict[str, str]  # model -> its verdict class


def check_filters(*, split: str | None, field: str | None, verdict: str | None, model: str, limit: int) -> None:
    """An error naming the flag for a value the evalset or scorer cannot produce, before any file is read."""
    for flag, value, allowed in (("--split", split, SPLITS), ("--verdict", verdict, VERDICTS),
                                 ("--model", model, (*MODELS, *SECOND_PROMPTING))):
        if value is not None and value not in allowed:
            raise RunError(f"{flag} {value!r}: unknown; choose one of {', '.join(allowed)}.")
    if limit < 0:
        raise RunError(f"--limit {limit}: give 0 or more questions to show.")


def gold_text(gold: object) -> str:
    return ", ".join(map(str, gold)) if isinstance(gold, list | tuple) else str(gold)


def run_evalset(run_dir: Path) -> Evalset:
    """The evalset the run recorded (`config.evalset_dir`); an error naming the file when it is not recorded or
    is not the one the run was scored on."""
    manifest = read_manifest(run_dir)
    evalset_dir = manifest.get("config", {}).get("evalset_dir")
    if not evalset_dir:
        raise RunError(f"{run_dir / 'manifest.json'}: no config.evalset_dir, so the questions cannot be found; "
                       "only runs made by `harness run` or `harness train` record it.")
    evalset = load_evalset(evalset_dir)
    if evalset.manifest["sha256"] != manifest["evalset"]["sha256"]:
        raise RunError(f"{evalset_dir}: changed since {run_dir.name} was scored (sha256 "
                       f"{evalset.manifest['sha256'][:12]}, the run recorded {manifest['evalset']['sha256'][:12]}).")
    return evalset


def join_answers(items: Sequence[QAItem], outputs: dict[str, dict[str, str]],
                 verdicts: dict[str, dict[str, str]]) -> list[AnswerRow]:
    """One row per question, in evalset order: each model's output and verdict by question id (models are the
    keys of `outputs`); a question a model did not answer gets "" for both."""
    return [AnswerRow(id=item.id, split=item.split, field=item.field, question=item.question,
                      gold=gold_text(item.gold), answers={m: by_id.get(item.id, "") for m, by_id in outputs.items()},
                      verdicts={m: verdicts.get(m, {}).get(item.id, "") for m in outputs})
            for item in items]


def read_answers(run_dir: Path, models: Sequence[str] = MODELS) -> list[AnswerRow]:
    """Every question of the run's evalset with each model's answer (RUN/predictions/MODEL.jsonl) and verdict
    (RUN/scores.json)."""
    stages = read_manifest(run_dir).get("stages") or {}
    if "score" in stages.get("required", []) and "score" not in stages.get("done", []):
        raise RunError(f"{run_dir}: its answers changed since they were scored (or were never scored); run "
                       f"`harness score {run_dir}` first, so no answer is shown beside another's verdict.")
    evalset = run_evalset(run_dir)
    scored = storage.read_json(run_dir / "scores.json")["models"]
    missing = [model for model in models if model not in scored]
    if missing:
        raise RunError(f"{run_dir / 'scores.json'}: no scores for {missing}: the run was not asked that way (only a "
                       "run asked both ways has base-fewshot and merged-fewshot), or it needs `harness score RUN`.")
    outputs = {m: {p.id: p.output for p in read_predictions(run_dir / "predictions" / f"{m}.jsonl")} for m in models}
    verdicts = {m: {item["id"]: item.get("verdict", "") for item in scored[m]["items"]} for m in models}
    return join_answers(evalset.items, outputs, verdicts)


def select_answers(rows: list[AnswerRow], *, split: str | None = None, field: str | None = None,
                   verdict: str | None = None, model: str = "merged") -> list[AnswerRow]:
    """The rows of that split and field whose `model` answered with that verdict class (None: any)."""
    return [row for row in rows if split in (None, row.split) and field in (None, row.field)
            and verdict in (None, row.verdicts[model])]


def pair_of(model: str) -> tuple[str, str]:
    """The base and merged answer sets of the prompting `model` was asked by: ("base", "merged") or the
    second prompting's ("base-fewshot", "merged-fewshot")."""
    suffix = model.partition("-")[2]
    return tuple(f"{m}-{suffix}" if suffix else m for m in MODELS)


def answers_table(rows: list[AnswerRow], title: str, models: Sequence[str] = MODELS) -> Table:
    """Question, gold, then each model's answer and verdict; answers are shown as text, never as rich markup."""
    table = Table(title=title, show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("question")
    table.add_column("gold")
    for model in models:
        table.add_column(f"{model} answer")
        table.add_column(f"{model} verdict", no_wrap=True)
    for row in rows:
        cells = [cell for m in models for cell in (Text(row.answers[m]), row.verdicts[m])]
        table.add_row(Text(row.id), Text(row.question), Text(row.gold), *cells)
    return table


def answers_view(run_dir: str | Path, *, split: str | None = None, field: str | None = None,
                 verdict: str | None = None, model: str | None = None, limit: int | None = None) -> Group:
    """`harness report RUN --items`: how many questions match the filters, and the first `limit` of them."""
    model, limit = model or "merged", DEFAULT_LIMIT if limit is None else limit
    check_filters(split=split, field=field, verdict=verdict, model=model, limit=limit)
    run_dir = Path(run_dir)
    rows = read_answers(run_dir, pair_of(model))
    fields = tuple(dict.fromkeys(row.field for row in rows))
    if field is not None and field not in fields:
        raise RunError(f"--field {field!r}: unknown; this run's evalset asks {', '.join(fields)}.")
    matched = select_answers(rows, split=split, field=field, verdict=verdict, model=model)
    filters = [f"split {split}" if split else "", f"field {field}" if field else "",
               f"{model} verdict {verdict}" if verdict else ""]
    described = ", ".join(f for f in filters if f) or "no filter"
    counted = f"{len(matched)} questions match ({described})"
    if not matched or not limit:
        return Group(f"{run_dir.name}: {counted}")
    shown = matched[:limit]
    return Group(answers_table(shown, f"{run_dir.name}: the first {len(shown)}", pair_of(model)),
                 f"{counted}; {len(shown)} shown")

"""The audit: the harness's verdicts against labels a person made by reading the answers.

Consumes a labels file (JSONL). Its first line says what the labels are and how they were made, and carries the
lexicon of every evalset the answers come from, so the file scores on its own:

    {"format": "harness.audit/1", "rule": "correct = the answer states the gold value ...",
     "provenance": "...", "evalsets": {"mal-300-s0-en": {"sha256": "...", "lexicon": {...}}}}

Every other line is one labelled answer, the question as the evalset holds it:

    {"audit_id": "a0001", "evalset": "mal-300-s0-en", "model": "merged", "answer": "It has 26 episodes.",
     "item": {"id": "verbatim-1-episodes", "anime_id": 1, "split": "verbatim", "field": "episodes",
              "question": "How many episodes does Cowboy Bebop have?", "gold": 26, "subject": "Cowboy Bebop"},
     "label": {"correct": true, "class": "correct", "why": "states 26"}}

Produces agreement of the harness's hit with the label, overall and per field (Wilson 95%), false credit (hit,
labelled wrong), misses (no hit, labelled right), agreement of verdict classes, and every disagreement. Users
who change a matcher, or label their own answers, run the same check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import storage
from harness.domains import get_domain
from harness.evalsets import QAItem
from harness.matching import VERDICTS
from harness.scoring import ScoringError, score_items, scoring_context
from harness.statistics import wilson_interval

AUDIT_FORMAT = "harness.audit/1"


class AuditError(ScoringError):
    """A labels file is malformed; the message names the file, line and key."""


@dataclass(frozen=True)
class AuditRow:
    audit_id: str
    evalset: str
    model: str
    item: QAItem
    answer: str
    correct: bool
    label_class: str
    why: str = ""


@dataclass(frozen=True)
class Judged:
    row: AuditRow
    hit: bool
    verdict: str
    extracted: object


def read_labels(path: str | Path) -> tuple[dict, list[AuditRow]]:
    """The header and the labelled rows; every error names the line and key."""
    lines = storage.read_jsonl(path, ())
    if not lines or lines[0].get("format") != AUDIT_FORMAT:
        raise AuditError(f"{path}: line 1 must be the header with \"format\": \"{AUDIT_FORMAT}\".")
    header, rows = lines[0], []
    for number, line in enumerate(lines[1:], 2):
        missing = [k for k in ("audit_id", "evalset", "item", "answer", "label") if k not in line]
        if missing:
            raise AuditError(f"{path}: line {number} lacks {missing}.")
        if line["evalset"] not in header.get("evalsets", {}):
            raise AuditError(f"{path}: line {number}: evalset {line['evalset']!r} is not in the header's evalsets.")
        label = line["label"]
        if not isinstance(label, dict) or not isinstance(label.get("correct"), bool) \
                or label.get("class", "correct") not in VERDICTS:
            raise AuditError(f"{path}: line {number}: label needs \"correct\": true|false and a class of {VERDICTS}.")
        if not isinstance(line["answer"], str):
            raise AuditError(f"{path}: line {number}: answer must be text, got {type(line['answer']).__name__}.")
        try:
            item = QAItem.from_dict(line["item"])
        except TypeError as err:
            raise AuditError(f"{path}: line {number}: item is not an evalset question ({err}).") from err
        fields = (*get_domain(header.get("domain", "anime")).field_names, "title")
        if item.field not in fields:
            raise AuditError(f"{path}: line {number}: item field {item.field!r} is not one the harness scores; "
                             f"use one of {list(fields)}.")
        rows.append(AuditRow(audit_id=line["audit_id"], evalset=line["evalset"], model=line.get("model", ""),
                             item=item, answer=line["answer"], correct=label["correct"],
                             label_class=label.get("class", ""), why=label.get("why", "")))
    if not rows:
        raise AuditError(f"{path}: no labelled answers after the header; add one line per labelled answer.")
    return header, rows


def judge(header: dict, rows: list[AuditRow]) -> list[Judged]:
    """Score every labelled answer with the harness's current matchers."""
    judged = []
    for name, evalset in header["evalsets"].items():
        context = scoring_context(evalset["lexicon"], get_domain(header.get("domain", "anime")))
        mine = [r for r in rows if r.evalset == name]
        scores = score_items(((r.item, r.answer) for r in mine), context)
        judged += [Judged(r, s.hit, s.verdict, s.extracted) for r, s in zip(mine, scores, strict=True)]
    order = {r.audit_id: n for n, r in enumerate(rows)}
    return sorted(judged, key=lambda j: order[j.row.audit_id])


def agreement_table(judged: list[Judged]) -> list[dict]:
    """Per field, then 'all': n, agreement with its Wilson interval, false credit, misses, class agreement."""
    fields = sorted({j.row.item.field for j in judged})
    table = []
    for field in (*fields, "all"):
        group = [j for j in judged if field in ("all", j.row.item.field)]
        agree = sum(j.hit == j.row.correct for j in group)
        low, high = wilson_interval(agree, len(group))
        labelled = [j for j in group if j.row.label_class]
        table.append({
            "field": field, "n": len(group), "agreement": agree / len(group), "ci_low": low, "ci_high": high,
            "false_credit": sum(j.hit and not j.row.correct for j in group),
            "missed": sum(j.row.correct and not j.hit for j in group),
            "class_agreement": (sum(j.verdict == j.row.label_class for j in labelled) / len(labelled)
                                if labelled else None),
        })
    return table


def disagreements(judged: list[Judged]) -> list[Judged]:
    return [j for j in judged if j.hit != j.row.correct]


def class_confusion(judged: list[Judged]) -> dict[tuple[str, str], int]:
    """(label class, harness verdict) -> count, where they differ."""
    counts: dict[tuple[str, str], int] = {}
    for j in judged:
        if j.row.label_class and j.row.label_class != j.verdict:
            key = (j.row.label_class, j.verdict)
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

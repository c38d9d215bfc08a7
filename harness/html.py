"""HTML reports: one self-contained page per run (RUN/report.html) or per comparison (`harness compare A B --html`).

Consumes what `reports.read_run` reads (or two loaded score sets), the accuracy plot as PNG bytes and the
questions joined by `answers.join_answers`; produces one HTML file with no network reference: styles and a few
lines of script inline, the plot as a base64 `<img>`. The page holds the verdict line, the run's record, the
accuracy table with intervals, the verdict classes, the plot, and every question in a browser filtered by
split, field and each model's verdict class. Filters can be preset in the URL, which the page keeps in step:

    report.html?split=verbatim&field=episodes&a=wrong_value&b=correct

(`a` is the baseline's verdict class, `b` the candidate's). A question row in the page reads:

    <tr data-split="verbatim" data-field="episodes" data-a="wrong_value" data-b="correct"> id, question, gold,
        the baseline's answer and class, the candidate's answer and class </tr>

All text is escaped (Jinja2 autoescape): model answers hold `<`, `&` and quotes.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from harness import storage
from harness.answers import AnswerRow, join_answers, read_answers, run_evalset
from harness.comparison import ComparisonRow, VerdictMove
from harness.errors import HarnessError
from harness.matching import VERDICTS
from harness.reports import (
    RunView,
    accuracy_figure,
    also_line,
    compared_models,
    floor_cell,
    merge_line,
    p_text,
    pct,
    run_verdict,
    signed,
)
from harness.runs import read_manifest
from harness.scoring import read_predictions

TEMPLATES = Path(__file__).parent / "templates_html"
_environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                           trim_blocks=True, lstrip_blocks=True)


def accuracy_rows(rows: list[ComparisonRow], summary_a: dict, summary_b: dict, floor: dict | None) -> list[dict]:
    """The accuracy table's cells, formatted as report.md formats them, one dict per comparison row."""
    cells = []
    for number, row in enumerate(rows):
        a = summary_a.get(row.split, {}).get(row.field, {})
        b = summary_b.get(row.split, {}).get(row.field, {})
        cells.append({
            "split": row.split, "field": row.field, "n": f"{row.n:,}", "floor": floor_cell(floor, row.split, row.field),
            "a": pct(row.accuracy_a), "a_ci": f"[{pct(a.get('ci_low', 0))}, {pct(a.get('ci_high', 1))}]",
            "b": pct(row.accuracy_b), "b_ci": f"[{pct(b.get('ci_low', 0))}, {pct(b.get('ci_high', 1))}]",
            "delta": signed(row.delta), "delta_ci": f"[{signed(row.ci_low)}, {signed(row.ci_high)}]",
            "direction": "up" if row.ci_low > 0 else "down" if row.ci_high < 0 else "",
            "p": p_text(row.p_value), "learned": f"{row.learned:,}", "forgotten": f"{row.forgotten:,}",
            "first_of_split": number == 0 or rows[number - 1].split != row.split})
    return cells


def verdict_rows(summaries: dict[str, dict]) -> list[dict]:
    """Answers per verdict class, per split and field, one row per model (models side by side for each field);
    empty where the scores predate verdict classes."""
    first = next(iter(summaries.values()))
    rows = []
    for split, fields in first.items():
        for fld in fields:
            for rank, (model, summary) in enumerate(summaries.items()):
                group = summary.get(split, {}).get(fld, {})
                if "verdicts" not in group:
                    return []
                rows.append({"split": split, "field": fld, "model": model, "n": f"{group['n']:,}",
                             "counts": [group["verdicts"].get(kind, 0) for kind in VERDICTS], "first": rank == 0})
    return rows


def filter_options(questions: list[AnswerRow], models: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Each filter's values with how many questions have them: split and field in evalset order, verdict
    classes in `VERDICTS` order; `a` and `b` are the two models' classes."""
    counts = {"split": Counter(q.split for q in questions), "field": Counter(q.field for q in questions)}
    for role, model in zip("ab", models, strict=True):
        counts[role] = Counter(q.verdicts[model] for q in questions if q.verdicts[model])
    order = {role: list(VERDICTS) + sorted(set(counts[role]) - set(VERDICTS)) for role in "ab"}
    return {name: [(value, counts[name][value]) for value in order.get(name, counts[name]) if counts[name][value]]
            for name in counts}


def page_html(*, title: str, verdict: str, facts: list[str], a: str, b: str, accuracy: list[dict],
              verdicts: list[dict], moves: list[VerdictMove], plot_png: bytes, questions: list[AnswerRow] | None,
              questions_note: str = "") -> str:
    """The page, from what it shows; `questions` (answers keyed by `a` and `b`) None shows `questions_note`."""
    return _environment.get_template("report.html.j2").render(
        title=title, verdict=verdict, facts=facts, a=a, b=b, accuracy=accuracy,
        has_floor=any(row["floor"] != "–" for row in accuracy), verdicts=verdicts, verdict_kinds=VERDICTS,
        moves=moves, plot=base64.b64encode(plot_png).decode("ascii"), questions=questions,
        options=filter_options(questions, [a, b]) if questions is not None else {}, questions_note=questions_note)


def _timings(manifest: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in manifest.get("timings", {}).items()) or "none recorded"


def run_html(view: RunView, plot_png: bytes, questions: list[AnswerRow] | None, questions_note: str = "") -> str:
    """report.html's text for a run: the verdict line first, then the run's record, tables, plot, questions."""
    m, a, b = view.manifest, view.a, view.b
    git = m.get("git", {})
    model = (m.get("config", {}).get("model") or {}).get("spec")
    profile = (m.get("config", {}).get("profile") or {}).get("profile")
    facts = [f"status: {m['status']}; evalset {m['evalset']['name']} (sha256 {m['evalset']['sha256'][:12]}); "
             f"git {str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}",
             *([f"model {model}" + (f", profile {profile}" if profile else "")] if model else []),
             f"baseline {a}, candidate {b}: {view.note}",
             merge_line(view.merge) if view.merge else "merge: no merge.json in this run",
             *(also_line(x, view) for x in view.also),
             f"timings: {_timings(m)}"]
    return page_html(title=f"Run {m['run_id']}", verdict=run_verdict(view), facts=facts, a=a, b=b,
                     accuracy=accuracy_rows(view.rows, view.summaries[a], view.summaries[b], view.floor),
                     verdicts=verdict_rows({name: view.summaries[name] for name in compared_models(view)}),
                     moves=view.moves,
                     plot_png=plot_png, questions=questions, questions_note=questions_note)


def write_run_html(view: RunView, plot: Path) -> Path:
    """RUN/report.html beside report.md; a run whose questions cannot be joined (its evalset moved or changed)
    gets the page without the question browser, and the reason in its place."""
    try:
        questions, note = read_answers(view.run_dir, (view.a, view.b)), ""
    except HarnessError as err:
        questions, note = None, f"The questions are not shown: {err}"
    path = view.run_dir / "report.html"
    storage.atomic_write_text(path, run_html(view, (view.run_dir / plot).read_bytes(), questions, note))
    return path


def figure_png(summaries: dict[str, dict], floor: dict | None, title: str) -> bytes:
    import matplotlib.pyplot as plt

    figure = accuracy_figure(summaries, floor, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _run_of(source: str) -> Path | None:
    """The run directory a score spec names (`runs/x`, `runs/x:merged`, `runs/x/scores.json`), or None."""
    for candidate in (Path(source), Path(source.rpartition(":")[0] or source)):
        run = candidate if candidate.is_dir() else candidate.parent
        if (run / "manifest.json").is_file() and (run / "predictions").is_dir():
            return run
    return None


def comparison_questions(a: dict, b: dict, labels: tuple[str, str]) -> list[AnswerRow]:
    """The questions of a comparison of two runs' models: the evalset A's run recorded, each model's answers from
    its run's predictions, the verdicts from the score sets; an error naming what is missing otherwise."""
    runs = [_run_of(score["source"]) for score in (a, b)]
    if None in runs:
        raise HarnessError("the questions are shown only when both sides are run directories (RUN or RUN:MODEL), "
                           "whose predictions and evalset the page can read")
    evalset = run_evalset(runs[0])
    outputs, verdicts = {}, {}
    for label, score, run in zip(labels, (a, b), runs, strict=True):
        outputs[label] = {p.id: p.output for p in read_predictions(run / "predictions" / f"{score['model']}.jsonl")}
        verdicts[label] = {item["id"]: item.get("verdict", "") for item in score["items"]}
    return join_answers(evalset.items, outputs, verdicts)


def write_comparison_html(out: str | Path, a: dict, b: dict, rows: list[ComparisonRow], moves: list[VerdictMove],
                          floor: dict | None) -> Path:
    """`harness compare A B --html OUT`: the comparison's page; A and B are `comparison.load_scores` results."""
    labels = (a["model"], b["model"]) if a["model"] != b["model"] else (f"A {a['model']}", f"B {b['model']}")
    summaries = dict(zip(labels, (a["summary"], b["summary"]), strict=True))
    try:
        questions, note = comparison_questions(a, b, labels), ""
    except HarnessError as err:
        questions, note = None, f"The questions are not shown: {err}"
    runs = dict.fromkeys(run for run in map(_run_of, (a["source"], b["source"])) if run)  # A and B: one run
    facts = [f"A ({labels[0]}): {a['source']}", f"B ({labels[1]}): {b['source']}",
             f"evalset {a['evalset']['name']} (sha256 {a['evalset']['sha256'][:12]})",
             *(f"run {run.name}: {read_manifest(run)['status']}" for run in runs)]
    page = page_html(title=f"{labels[1]} vs {labels[0]}", verdict="", facts=facts, a=labels[0], b=labels[1],
                     accuracy=accuracy_rows(rows, a["summary"], b["summary"], floor),
                     verdicts=verdict_rows(summaries), moves=moves,
                     plot_png=figure_png(summaries, floor, f"{labels[1]} vs {labels[0]} · evalset "
                                                          f"{a['evalset']['name']}"),
                     questions=questions, questions_note=note)
    storage.atomic_write_text(out, page)
    return Path(out)

"""Reports: rich tables, `report.md` and PNG plots, made only from what a run directory holds.

Consumes `runs/RUN_ID/{manifest,scores,comparison,merge}.json`; produces `report.md` and `plots/accuracy.png`
(grouped bars of accuracy per field, one panel per split, baseline beside candidate, Wilson 95% intervals, the
majority floor as a black line over each field's bars). A comparison row reads, in the table and in markdown:

    verbatim | episodes | 781 | 14.2 | 3.1% [2.1, 4.6] | 89.9% [87.6, 91.8] | +86.8 [+84.1, +89.2] | <1e-16 | 683 | 4

(`floor %` is the majority floor: every question answered with its field's commonest gold value.) The report
also says how the merge agreed with the adapter, what kind of answers each model gave (`matching.VERDICTS`) and
how answers moved between classes from baseline to candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harness import storage
from harness.comparison import ComparisonRow, VerdictMove, verdict_moves
from harness.curves import CURVE_SPLITS, read_curve
from harness.matching import VERDICTS
from harness.runs import RunError, read_manifest

FLOOR = "majority"  # the model in scores.json that answers every question with its field's commonest value


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def p_text(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.2g}"


def floor_cell(floor: dict | None, split: str, fld: str) -> str:
    """The floor's accuracy for one split and field, or "–" where it was not scored."""
    group = (floor or {}).get(split, {}).get(fld)
    return pct(group["accuracy"]) if group else "–"


def _row_cells(row: ComparisonRow, summary_a: dict, summary_b: dict, floor: dict | None) -> list[str]:
    a = summary_a.get(row.split, {}).get(row.field, {})
    b = summary_b.get(row.split, {}).get(row.field, {})
    return [row.split, row.field, str(row.n), *([floor_cell(floor, row.split, row.field)] if floor else []),
            f"{pct(row.accuracy_a)} [{pct(a.get('ci_low', 0))}, {pct(a.get('ci_high', 1))}]",
            f"{pct(row.accuracy_b)} [{pct(b.get('ci_low', 0))}, {pct(b.get('ci_high', 1))}]",
            f"{signed(row.delta)} [{signed(row.ci_low)}, {signed(row.ci_high)}]",
            p_text(row.p_value), str(row.learned), str(row.forgotten)]


HEADERS = ("split", "field", "n", "floor %", "{a} % [95% CI]", "{b} % [95% CI]", "delta pts [95% CI]", "McNemar p",
           "learned", "forgotten")


def interval_points(low: float, high: float) -> str:
    """A delta's interval in whole points, rounded outward so it holds the exact one: "[+76, +83]"."""
    return f"[{math.floor(round(100 * low, 6)):+d}, {math.ceil(round(100 * high, 6)):+d}]"


def comparison_table(rows: list[ComparisonRow], summary_a: dict, summary_b: dict, a: str, b: str,
                     title: str = "", floor: dict | None = None, wide: bool = False) -> Table:
    """The terminal view, 80 columns wide: accuracies without their intervals (report.md has them), the floor's
    accuracy where a `floor` summary is given, and the delta with its interval in whole points. `wide` adds the
    interval to a tenth of a point, the McNemar p and the counts learned and forgotten (about 110 columns)."""
    table = Table(title=title or f"{b} vs {a}", pad_edge=False, collapse_padding=not wide,
                  caption=None if wide else "accuracy %; delta in points, paired 95% interval rounded outward "
                                            "(--wide: to a tenth, with McNemar p, learned, forgotten)")
    headers = ("split", "field", "n", *(("floor %",) if floor else ()), f"{a} %", f"{b} %",
               *(("delta pts [95% CI]", "McNemar p", "learned", "forgotten") if wide else ("delta [95% CI]",)))
    for header in headers:  # the delta and its interval on one line: the other columns wrap first
        table.add_column(header, justify="left" if header in ("split", "field") else "right",
                         no_wrap=header.startswith("delta"))
    previous_split = None
    for row in rows:
        if previous_split and row.split != previous_split:
            table.add_section()
        previous_split = row.split
        colour = "green" if row.ci_low > 0 else "red" if row.ci_high < 0 else "default"
        interval = (f"[{signed(row.ci_low)}, {signed(row.ci_high)}]" if wide
                    else interval_points(row.ci_low, row.ci_high))
        cells = [row.split, row.field, f"{row.n:,}", *([floor_cell(floor, row.split, row.field)] if floor else []),
                 pct(row.accuracy_a), pct(row.accuracy_b), f"[{colour}]{signed(row.delta)} {interval}[/{colour}]"]
        if wide:
            cells += [p_text(row.p_value), str(row.learned), str(row.forgotten)]
        table.add_row(*cells, style="bold" if row.field == "all" else None)
    return table


def comparison_markdown(rows: list[ComparisonRow], summary_a: dict, summary_b: dict, a: str, b: str,
                        floor: dict | None = None) -> str:
    headers = [h.format(a=a, b=b) for h in HEADERS if floor or h != "floor %"]
    lines = ["| " + " | ".join(headers) + " |", _rule(len(headers), left=2)]
    for row in rows:
        cells = _row_cells(row, summary_a, summary_b, floor)
        if row.field == "all":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _rule(columns: int, left: int) -> str:
    """A markdown header rule: the first `left` columns left-aligned, the rest (numbers) right-aligned."""
    return "|" + "|".join("---" if i < left else "---:" for i in range(columns)) + "|"


def merge_line(merge: dict) -> str:
    """merge.json in one sentence: "merged onto nf4-dequantised: agrees with the adapter on 98.8% of 512 sampled
    answers, 99.6% of the 503 it answers alike in batches of 128 (the adapter with itself: 98.2%) (onto bf16:
    70.5%)"; runs merged before the base or the yardstick were recorded say so by leaving them out."""
    def share(x: float | None) -> str:
        return "–" if x is None else f"{pct(x)}%"
    text = (f"merged onto {merge.get('onto', 'an unrecorded base')}: agrees with the adapter on "
            f"{share(merge.get('agreement'))} of {merge.get('sample', 0)} sampled answers")
    stability, stable = merge.get("stability"), merge.get("stable_agreement")
    if stability and stable:
        text += (f", {share(stable.get('agreement'))} of the {stable.get('sample', 0)} it answers alike in batches "
                 f"of {stability.get('batch_size')} (the adapter with itself: {share(stability.get('agreement'))})")
    others = [f"onto {name}: {share(alt.get('agreement'))}" for name, alt in (merge.get("alternatives") or {}).items()]
    return text + (f" ({'; '.join(others)})" if others else "")


def verdict_line(counts: dict[str, int]) -> str:
    """A group's answers by class, in the order given, zeros left out: "correct 702 · partial 30 · echo 12"."""
    return " · ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "no answers"


def verdict_markdown(summaries: dict[str, dict]) -> str:
    """Answers by verdict class per split and field, one row per model (models side by side for each field);
    empty where the scores predate verdict classes."""
    first = next(iter(summaries.values()))
    if not any("verdicts" in group for fields in first.values() for group in fields.values()):
        return ""
    lines = ["| split | field | model | n | " + " | ".join(VERDICTS) + " |", _rule(4 + len(VERDICTS), left=3)]
    for split, fields in first.items():
        for fld in fields:
            for model, summary in summaries.items():
                group = summary.get(split, {}).get(fld, {})
                counts = [str(group.get("verdicts", {}).get(kind, "–")) for kind in VERDICTS]
                lines.append(f"| {split} | {fld} | {model} | {group.get('n', '–')} | " + " | ".join(counts) + " |")
    return "\n".join(lines) + "\n"


def moves_markdown(moves: list[VerdictMove], a: str, b: str) -> str:
    if not moves:
        return f"No answer changed class between {a} and {b}.\n"
    lines = [f"| split | class under {a} | class under {b} | questions |", _rule(4, left=3)]
    lines += [f"| {m.split} | {m.before} | {m.after} | {m.n} |" for m in moves]
    return "\n".join(lines) + "\n"


def moves_lines(moves: list[VerdictMove], a: str, b: str, shown: int = 6) -> list[str]:
    """One terminal line per split: the largest class moves, e.g. "verbatim: echo → correct 120, ...", and how
    many smaller ones were left out."""
    lines = [f"answers that changed class, {a} → {b}:"] if moves else [f"no answer changed class, {a} → {b}"]
    for split in dict.fromkeys(m.split for m in moves):
        in_split = [m for m in moves if m.split == split]
        text = ", ".join(f"{m.before} → {m.after} {m.n}" for m in in_split[:shown])
        rest = in_split[shown:]
        if rest:
            text += f" (+{len(rest)} smaller moves, {sum(m.n for m in rest)} questions)"
        lines.append(f"  {split}: {text}")
    return lines


def extras_markdown(summaries: dict[str, dict]) -> str:
    """Per-model details the accuracy hides: F1 of each set field (the title aside), lenient accuracy and mean
    error of each decimal field, how often the model declined. The columns are the fields whose summaries carry
    those figures, in the order the summaries list them."""
    groups = [fields for summary in summaries.values() for fields in summary.values()]
    names = list(dict.fromkeys(f for fields in groups for f in fields if f not in ("all", "title")))
    set_fields = [f for f in names if any("mean_f1" in g.get(f, {}) for g in groups)]
    decimal_fields = [f for f in names if any("lenient_accuracy" in g.get(f, {}) for g in groups)]
    columns = [(f"{f} F1", f, "mean_f1", pct) for f in set_fields]
    for f in decimal_fields:
        columns += [(f"{f} lenient %", f, "lenient_accuracy", pct), (f"{f} MAE", f, "mean_abs_error",
                                                                     lambda v: f"{v:.2f}")]
    lines = ["| model | split | " + " | ".join(c[0] for c in columns) + " | declined |",
             "|---|---|" + "---:|" * (len(columns) + 1)]
    for model, summary in summaries.items():
        for split, fields in summary.items():
            cells = [_cell(fields, f, key, fmt) for _, f, key, fmt in columns] + [str(fields["all"]["abstained"])]
            lines.append(f"| {model} | {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(fields: dict, fld: str, key: str, fmt) -> str:
    value = fields.get(fld, {}).get(key)
    return fmt(value) if value is not None else "–"


def accuracy_figure(summaries: dict[str, dict], floor: dict | None = None, title: str = ""):
    """Bars of accuracy per field for each model in `summaries` (Wilson 95% error bars), one panel per split
    they share, and the floor's accuracy as a short black line across each field's bars."""
    import matplotlib
    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(summaries)
    splits = [s for s in summaries[names[-1]] if all(s in summary for summary in summaries.values())]
    # Each panel as wide as its fields need: the reverse split asks one field, not nine.
    widths = [len(summaries[names[-1]][split]) for split in splits]
    fig, axes = plt.subplots(1, len(splits), figsize=(0.5 * sum(widths) + 1.5, 4.2), squeeze=False, sharey=True,
                             gridspec_kw={"width_ratios": widths})
    width = 0.8 / len(names)
    for ax, split in zip(axes[0], splits, strict=True):
        fields = [f for f in summaries[names[-1]][split] if f != "all"] + ["all"]
        x = np.arange(len(fields))
        for rank, name in enumerate(names):
            groups = [summaries[name][split][f] for f in fields]
            acc = np.array([g["accuracy"] for g in groups])
            errors = [acc - [g["ci_low"] for g in groups], [g["ci_high"] for g in groups] - acc]
            ax.bar(x + (rank - (len(names) - 1) / 2) * width, acc, width, label=name, yerr=errors, capsize=2)
        floored = [(i, floor[split][f]["accuracy"]) for i, f in enumerate(fields) if f in (floor or {}).get(split, {})]
        if floored:
            at, level = zip(*floored, strict=True)
            ax.hlines(level, np.array(at) - 0.45, np.array(at) + 0.45, colors="black", linewidth=2,
                      label=f"{FLOOR} floor")
        ax.set_xticks(x, fields, rotation=45, ha="right")
        ax.set_title(split)
        ax.set_ylim(0, 1.05)
    axes[0][0].set_ylabel("accuracy (Wilson 95% CI)")
    fig.suptitle(title, x=0.01, y=0.99, ha="left", va="top", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(1, 0.95), ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def plot_accuracy(summaries: dict[str, dict], path: Path, floor: dict | None = None, title: str = "") -> Path:
    return storage.write_figure(accuracy_figure(summaries, floor, title), path)


@dataclass(frozen=True)
class AlsoAsked:
    """The same pair of models asked by the run's second prompting (comparison.json's `promptings`)."""
    prompting: str
    a: str
    b: str
    rows: list[ComparisonRow]


@dataclass(frozen=True)
class RunView:
    """What a report shows of one run directory: its manifest, every scored model's summary (baseline `a`,
    candidate `b` and the majority floor), the comparison rows, how verdicts moved from a to b, merge.json."""
    run_dir: Path
    manifest: dict
    a: str
    b: str
    summaries: dict[str, dict]
    rows: list[ComparisonRow]
    moves: list[VerdictMove]
    note: str
    merge: dict | None
    knowledge: list[dict] | None = None  # probes.recall_by_category rows, where the run probed the base
    forgotten_known: int | None = None  # questions on facts the base knew that the candidate answers wrong
    probe_source: str | None = None  # the probed evalset's source kind: on synthetic rows nothing can be known
    retention: dict | None = None  # retention.json: another domain's facts, base against merged
    also: tuple[AlsoAsked, ...] = ()  # the pair asked by a second prompting, where the run asked two
    curve: tuple[dict, ...] = ()  # curves.read_curve: recall while training, where the run measured it
    loss_warning: str | None = None  # training.loss_warning, as training.json recorded it

    @property
    def floor(self) -> dict | None:
        return self.summaries.get(FLOOR)


def read_run(run_dir: str | Path) -> RunView:
    """A scored run, or a RunError: its scores missing, not a run's, or older than its answers."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    stages = manifest.get("stages") or {}
    if "score" in stages.get("required", []) and "score" not in stages.get("done", []):
        raise RunError(f"{run_dir}: its answers are not scored as they stand (status {manifest['status']}); run "
                       f"`harness score {run_dir}` first, or the stage it names as next.")
    if not (run_dir / "scores.json").is_file() or not (run_dir / "comparison.json").is_file():
        raise RunError(f"{run_dir}: no scores.json or comparison.json; run `harness score {run_dir}`.")
    scores = storage.read_json(run_dir / "scores.json")
    comparison = storage.read_json(run_dir / "comparison.json")
    if not isinstance(scores, dict) or not {"baseline", "candidate", "models"} <= set(scores):
        raise RunError(f"{run_dir / 'scores.json'}: not a run's scores (no baseline, candidate and models); "
                       f"run `harness score {run_dir}` to write it again.")
    a, b, models = scores["baseline"], scores["candidate"], scores["models"]
    also = tuple(AlsoAsked(prompting, pair["a"], pair["b"], [ComparisonRow.from_dict(r) for r in pair["rows"]])
                 for prompting, pair in (comparison.get("promptings") or {}).items())
    merge = run_dir / "merge.json"
    knowledge = forgotten = probe_source = None
    if (run_dir / "probe.json").is_file():
        from harness.probes import forgotten_known, recall_by_category
        probe = storage.read_json(run_dir / "probe.json")
        knowledge = recall_by_category(probe, {name: models[name] for name in _compared(a, b, also)})
        forgotten = len(forgotten_known(probe, models[b]))
        probe_source = probe.get("source")
    return RunView(run_dir=run_dir, manifest=manifest, a=a, b=b,
                   summaries={name: data["summary"] for name, data in models.items()},
                   rows=[ComparisonRow.from_dict(r) for r in comparison["rows"]],
                   moves=verdict_moves({**models[a], "source": a}, {**models[b], "source": b}),
                   note=comparison.get("note", ""), merge=storage.read_json(merge) if merge.is_file() else None,
                   knowledge=knowledge, forgotten_known=forgotten, probe_source=probe_source,
                   retention=storage.read_json(run_dir / "retention.json")
                   if (run_dir / "retention.json").is_file() else None, also=also,
                   curve=tuple(read_curve(run_dir)),
                   loss_warning=storage.read_json(run_dir / "training.json").get("loss_warning")
                   if (run_dir / "training.json").is_file() else None)


def compared_models(view: RunView) -> list[str]:
    """The run's compared models: its pair, then each second prompting's pair."""
    return _compared(view.a, view.b, view.also)


def _compared(a: str, b: str, also: tuple[AlsoAsked, ...]) -> list[str]:
    return [a, b, *(name for x in also for name in (x.a, x.b))]


def run_verdict(view: RunView) -> str:
    """The run in one sentence: what the candidate recalls verbatim and in unseen wording against the majority
    floor, whether the held-out control stays at the floor, and whether the merged model is the trained one."""
    def group(split: str) -> dict | None:
        return group_of(view, view.b, split)

    def floor(split: str) -> float | None:
        return ((view.floor or {}).get(split) or {}).get("all", {}).get("accuracy")

    parts = []
    for split, words in (("verbatim", "of trained facts asked as trained"), ("paraphrase", "in unseen wording")):
        g, f = group(split), floor(split)
        if g:
            above = "" if f is None else (" (above the floor)" if g["ci_low"] > f else " (not above the floor)")
            parts.append(f"{pct(g['accuracy'])}% [{pct(g['ci_low'])}, {pct(g['ci_high'])}] {words}{above}")
    head = f"{view.b} recalls " + " and ".join(parts) if parts else f"{view.b}: no trained facts asked"
    if floor("verbatim") is not None:
        head += f"; majority floor {pct(floor('verbatim'))}%"
    control, f = group("unseen"), floor("unseen")
    if control and f is not None:
        state = ("consistent with the floor: no invented recall" if control["ci_low"] <= f
                 else "above the floor: it answers subjects it never saw better than chance; check for leakage")
        head += f". Held-out subjects {pct(control['accuracy'])}% vs floor {pct(f)}%, {state}"
    for x in view.also:
        g, base = group_of(view, x.b, "verbatim"), group_of(view, x.a, "verbatim")
        if g and base:
            head += f". Asked {x.prompting}: {x.a} {pct(base['accuracy'])}% → {x.b} {pct(g['accuracy'])}% verbatim"
    if view.merge and view.merge.get("agreement") is not None:
        head += (f". The merged model answers as the trained adapter on {pct(view.merge['agreement'])}% of "
                 f"{view.merge['sample']} sampled questions")
        if view.merge.get("stability"):
            head += f" (the adapter as itself, batched otherwise: {pct(view.merge['stability']['agreement'])}%)"
    if view.loss_warning:
        head += f". Training warns: {view.loss_warning.rstrip('.')}"
    return f"Verdict: {head}."


def group_of(view: RunView, model: str, split: str) -> dict | None:
    """A model's whole-split figures (field "all"), None where the split was not asked."""
    return view.summaries[model].get(split, {}).get("all")


def also_markdown(view: RunView) -> list[str]:
    """report.md's table for each second prompting: the same pair, the same floor, asked the other way."""
    lines = []
    for x in view.also:
        lines += [f"## Asked {x.prompting}: {x.a} vs {x.b}", "",
                  f"The same questions put the other way ({x.prompting} prompting). The floor is the same.", "",
                  comparison_markdown(x.rows, view.summaries[x.a], view.summaries[x.b], x.a, x.b, floor=view.floor)]
    return lines


def also_line(x: AlsoAsked, view: RunView) -> str:
    """A second prompting in one line: the pair's recall per split, baseline → candidate."""
    parts = [f"{split} {pct(group_of(view, x.a, split)['accuracy'])}% → {pct(group_of(view, x.b, split)['accuracy'])}%"
             for split in ("verbatim", "paraphrase", "reverse", "unseen")
             if group_of(view, x.a, split) and group_of(view, x.b, split)]
    return f"asked {x.prompting}, {x.a} → {x.b}: " + ", ".join(parts)


def _timings(manifest: dict) -> str:
    return ", ".join(f"{k} {v:.1f}s" for k, v in manifest.get("timings", {}).items()) or "none recorded"


def report_markdown(view: RunView, plot: Path) -> str:
    """report.md: the run's record, accuracy with the floor, the merge check, verdict classes and their moves."""
    m, a, b = view.manifest, view.a, view.b
    return "\n".join([
        f"# Run {m['run_id']}",
        "",
        f"**{run_verdict(view)}**",
        "",
        f"- status: **{m['status']}**; evalset `{m['evalset']['name']}` (sha256 {m['evalset']['sha256'][:12]}); "
        f"git {str(m['git'].get('commit'))[:10]}{' (dirty)' if m['git'].get('dirty') else ''}",
        f"- baseline `{a}`, candidate `{b}`: {view.note}",
        f"- {merge_line(view.merge)}" if view.merge else "- merge: no merge.json in this run",
        f"- timings: {_timings(m)}",
        "",
        "## Accuracy per split and field",
        "",
        "floor: the majority floor (every question answered with its field's commonest gold value). Delta "
        "intervals: paired bootstrap over subjects (95%). p: exact McNemar. learned: wrong→right; "
        "forgotten: right→wrong.",
        "",
        comparison_markdown(view.rows, view.summaries[a], view.summaries[b], a, b, floor=view.floor),
        *also_markdown(view),
        "## What kind of answers",
        "",
        "Questions per verdict class (see `harness.matching.VERDICTS`).",
        "",
        verdict_markdown({name: view.summaries[name] for name in compared_models(view)})
        or "Not recorded: scored before verdicts.\n",
        f"## How answers changed class, {a} → {b}",
        "",
        moves_markdown(view.moves, a, b),
        *knowledge_markdown(view),
        *retention_markdown(view),
        *curve_markdown(view),
        "## Details",
        "",
        extras_markdown({a: view.summaries[a], b: view.summaries[b]}),
        f"![accuracy per field]({plot})",
        "",
    ])


def curve_markdown(view: RunView) -> list[str]:
    """report.md's section on recall while training (a run with a curve), else nothing."""
    if not view.curve:
        return []
    splits = [s for s in CURVE_SPLITS if any(s in p["splits"] for p in view.curve)]
    sizes = ", ".join(f"{s} {max(p['splits'].get(s, {}).get('n', 0) for p in view.curve)}" for s in splits)
    lines = ["## Recall while training", "",
             f"A fixed sample ({sizes} questions) answered greedily by the model as it trained, in its training "
             "arithmetic; minutes count training alone. `plots/recall.png` draws it.", "",
             "| step | epoch | training min | " + " | ".join(f"{s} %" for s in splits) + " |",
             "|---:|---:|---:|" + "---:|" * len(splits)]
    for p in view.curve:
        cells = [pct(p["splits"][s]["accuracy"]) if s in p["splits"] else "–" for s in splits]
        lines.append(f"| {p['step']} | {p['epoch']:g} | {p['train_seconds'] / 60:.1f} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def knowledge_markdown(view: RunView) -> list[str]:
    """report.md's section on what the base knew before training (a run with --probe), else nothing."""
    if not view.knowledge:
        return []
    names = compared_models(view)
    lines = ["## What the base knew, and what the fine-tune did with it", "",
             "Each fact was asked of the base model few-shot before training (`probe.json`): known (greedy "
             "answer right), maybe (only a sampled answer right), unknown. Recall per category:", "",
             "| split | facts | n | " + " | ".join(f"{name} %" for name in names) + " |",
             "|---|---|---:|" + "---:|" * len(names)]
    for row in view.knowledge:
        lines.append(f"| {row['split']} | {row['category']} | {row['n']} | "
                     + " | ".join(pct(row["hits"][name] / row["n"]) for name in names) + " |")
    lines += ["", f"Questions on facts the base knew that {view.b} answers wrong (forgetting inside the domain): "
                  f"**{view.forgotten_known}**{synthetic_check(view)}.", ""]
    return lines


def knowledge_line(view: RunView) -> str | None:
    """The probe in one line: how many trained facts the base knew, and the candidate's recall on them and on the
    rest."""
    rows = {(r["split"], r["category"]): r for r in view.knowledge or []}
    if not rows:
        return None
    parts = []
    for category in ("known", "maybe", "unknown"):
        row = rows.get(("verbatim", category))
        if row:
            parts.append(f"{category} {row['n']} ({pct(row['hits'][view.b] / row['n'])}% recalled)")
    line = (f"trained facts by what the base knew: {', '.join(parts)}; known facts now answered wrong: "
            f"{view.forgotten_known}")
    return line + synthetic_check(view)


def synthetic_check(view: RunView) -> str:
    """On fictional rows no fact can be known before training: any 'known' one is leakage or a lenient matcher."""
    if view.probe_source != "synthetic":
        return ""
    known = sum(r["n"] for r in view.knowledge or [] if r["category"] == "known" and r["split"] != "paraphrase")
    return (". Synthetic rows: no fact known, as it must be" if known == 0 else
            f". Synthetic rows, yet {known} facts known: leakage into the prompt or a matcher that credits guesses")


def retention_line(view: RunView) -> str | None:
    """Retention in one line: base and merged on the other domain's facts, the paired delta, how many forgotten."""
    if not view.retention:
        return None
    row = next(r for r in view.retention["rows"] if r["field"] == "all")
    return (f"retention ({view.retention['evalset']['name']}, asked few-shot): base {pct(row['accuracy_a'])}% → "
            f"merged {pct(row['accuracy_b'])}%, {signed(row['delta'])} [{signed(row['ci_low'])}, "
            f"{signed(row['ci_high'])}]; {len(view.retention['forgotten'])} facts forgotten")


def retention_markdown(view: RunView) -> list[str]:
    """report.md's retention section: per field, base against merged with the paired interval, and the facts
    the base had right that the merged model lost."""
    if not view.retention:
        return []
    from harness.retention import FORGOTTEN_SHOWN

    lines = ["## Retention: facts of another domain", "",
             f"{retention_line(view)}. The same questions, few-shot, of the base and the merged model "
             f"(`retention.json`); a fine-tune that breaks general knowledge shows here.", "",
             "| field | n | base % | merged % | Δ [95% CI] | forgotten |", "|---|---:|---:|---:|---:|---:|"]
    for r in view.retention["rows"]:
        lines.append(f"| {r['field']} | {r['n']} | {pct(r['accuracy_a'])} | {pct(r['accuracy_b'])} | "
                     f"{signed(r['delta'])} [{signed(r['ci_low'])}, {signed(r['ci_high'])}] | {r['forgotten']} |")
    forgotten = view.retention["forgotten"]
    if forgotten:
        shown = "" if len(forgotten) <= FORGOTTEN_SHOWN else f", the first {FORGOTTEN_SHOWN}"
        lines += ["", f"Forgotten (the base right, the merged model wrong){shown}:", "",
                  "| question | gold | base | merged |", "|---|---|---|---|"]
        for f in forgotten[:FORGOTTEN_SHOWN]:
            cells = [f["question"], ", ".join(map(str, f["gold"])) if isinstance(f["gold"], list) else str(f["gold"]),
                     f["base"], f["merged"]]
            lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return [*lines, ""]


def whole(text: str) -> Text:
    """A line never wrapped or cut, for paths and ids (print it with crop=False); a terminal may fold it."""
    return Text(text, no_wrap=True, overflow="ignore")


def terminal_report(view: RunView, plot: Path, wide: bool = False) -> Group:
    """What `harness report` and `harness run` print: status, the merge check, the table, the candidate's classes.
    Print it with crop=False: the lines naming files are never cut."""
    m, a, b = view.manifest, view.a, view.b
    parts: list = [f"{m['run_id']}: {m['status']}; evalset {m['evalset']['name']}; timings {_timings(m)}"]
    if view.merge:
        parts.append(merge_line(view.merge))
    parts.append(comparison_table(view.rows, view.summaries[a], view.summaries[b], a, b, floor=view.floor,
                                  title=f"{m['run_id']}: {b} vs {a}", wide=wide))
    parts += [f"{b} {split}: {verdict_line(fields['all']['verdicts'])}"
              for split, fields in view.summaries[b].items() if "verdicts" in fields["all"]]
    parts += [also_line(x, view) for x in view.also]
    if knowledge_line(view):
        parts.append(knowledge_line(view))
    if retention_line(view):
        parts.append(retention_line(view))
    parts += [whole(f"report: {view.run_dir / 'report.md'}"), whole(f"plots: {plot}")]
    parts.append(f"[bold]{escape(run_verdict(view))}[/bold]")  # last, so it is what a log's tail shows
    return Group(*parts)


def build_report(run_dir: str | Path, wide: bool = False) -> Group:
    """Write report.md and plots/accuracy.png for a run; return what to print (`wide`: the full table)."""
    view = read_run(run_dir)
    m = view.manifest
    plot = plot_accuracy({view.a: view.summaries[view.a], view.b: view.summaries[view.b]},
                         view.run_dir / "plots" / "accuracy.png", floor=view.floor,
                         title=f"run {m['run_id']} · evalset {m['evalset']['name']}")
    storage.atomic_write_text(view.run_dir / "report.md", report_markdown(view, plot.relative_to(view.run_dir)))
    from harness.html import write_run_html  # here, not at the top: html.py builds on this module
    write_run_html(view, plot.relative_to(view.run_dir))  # report.html: the same record, and every question
    return terminal_report(view, plot, wide=wide)


def print_report(run_dir: str | Path, console: Console | None = None, wide: bool = False) -> None:
    console = console or Console()
    report = build_report(run_dir, wide=wide)
    console.print(at_natural_width(report, console) if wide else report, crop=False)


def at_natural_width(renderable, console: Console):
    """--wide: every table in `renderable` as wide as its columns ask, even past the console (print it with
    crop=False): a narrower terminal folds its lines rather than rich squeezing the columns to ellipses."""
    for part in getattr(renderable, "renderables", [renderable]):
        if isinstance(part, Table):
            part.width = Measurement.get(console, console.options.update_width(10_000), part).maximum
    return renderable


def _num(x, fmt: str = ",.0f", scale: float = 1.0) -> str:
    return "–" if x is None else format(x * scale, fmt)


def bench_tables(result: dict) -> Group:
    """`harness bench`'s tables: training, quality at equal time, generation, and the targets."""
    parts = []
    ceiling = result.get("ceiling")
    if ceiling:
        parts.append(f"{result['device']}: bf16 matmul ceiling {ceiling['tflops']:,.1f} TFLOP/s "
                     f"(n={ceiling['n']}); model {result['model']['spec']}, {result['rows']} synthetic rows")
    training = result.get("training") or {}
    big = result.get("big-model")
    if training or big:
        table = Table(title="training (after warm-up; non-pad tokens)")
        for header in ("recipe", "batch", "tokens/s", "examples/s", "s/step", "peak GiB", "GFLOP/token", "MFU %"):
            table.add_column(header, justify="left" if header in ("recipe", "batch") else "right")
        rows = list(training.items()) + ([(f"article on {big['model']}", big)] if big else [])
        for name, r in rows:
            table.add_row(name, r.get("batch", ""), _num(r.get("tokens_per_second")),
                          _num(r.get("examples_per_second"), ",.1f"), _num(r.get("seconds_per_step"), ".3f"),
                          _num(r.get("peak_gib"), ".2f"), _num(r.get("flops_per_token"), ".2f", 1e-9),
                          _num(r.get("mfu"), ".2f", 100))
        parts.append(table)
    quality = result.get("quality")
    if quality:
        table = Table(title=f"quality after the same {quality['budget_seconds']:.0f} s of training")
        for header in ("recipe", "steps", "epochs", "train s", "verbatim % [95% CI]", "paraphrase % [95% CI]"):
            table.add_column(header, justify="left" if header == "recipe" else "right")
        for name in ("article", "fast"):
            r = quality[name]
            cells = [f"{pct(r[s]['accuracy'])} [{pct(r[s]['ci_low'])}, {pct(r[s]['ci_high'])}]"
                     for s in ("verbatim", "paraphrase")]
            table.add_row(name, str(r["steps"]), f"{r['epochs']:.2f}", f"{r['train_seconds']:.0f}", *cells)
        parts.append(table)
    generation = result.get("generation")
    if generation:
        table = Table(title=f"generation (greedy, up to {generation['max_new_tokens']} new tokens)")
        for header in ("batch", "cache", "questions", "questions/s", "new tokens/s", "warm-up s"):
            table.add_column(header, justify="right")
        for r in generation["runs"]:
            table.add_row(str(r["batch_size"]), r["cache"], str(r["questions"]), _num(r["questions_per_second"]),
                          _num(r["new_tokens_per_second"]), _num(r["warmup_seconds"], ".1f"))
        parts.append(table)
    scale = result.get("scale")
    if scale and scale.get("total_seconds") is not None:
        table = Table(title=f"{scale['rows']:,} synthetic rows ({scale['mode']}): fast profile "
                            f"{' '.join(scale.get('overrides') or [])}, one epoch, every question answered "
                            f"(batch {scale.get('generation_batch')}, {scale.get('cache')} cache)")
        for header in ("train records", "questions", "build s", "load+prep s", "train s", "merge s", "answer s",
                       "score s", "total s", "verbatim %", "unseen % (control)"):
            table.add_column(header, justify="right")
        stages = scale.get("stage_seconds") or {}
        accuracy = scale.get("accuracy") or {}
        table.add_row(f"{scale['train_records']:,}", f"{scale['questions']:,}", _num(scale["evalset_build_seconds"]),
                      _num(stages.get("load_and_prepare")), _num(scale.get("train_seconds")), _num(stages.get("merge")),
                      _num(scale.get("answer_seconds")), _num(stages.get("score")), _num(scale["total_seconds"]),
                      *(pct(accuracy[s]["accuracy"]) if s in accuracy else "–" for s in ("verbatim", "unseen")))
        parts.append(table)
    if result.get("targets"):
        table = Table(title="targets")
        for header in ("target", "measured", "met"):
            table.add_column(header)
        for t in result["targets"]:
            value = t["value"]
            shown = "–" if value is None else f"{value:,.3g}" if isinstance(value, float) else str(value)
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: "not run"}[t["met"]]
            table.add_row(t["target"], shown, met)
        parts.append(table)
    return Group(*parts)

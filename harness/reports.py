"""Reports: rich tables, `report.md` and PNG plots, made only from what a run directory holds.

Consumes `runs/RUN_ID/{manifest,scores,comparison}.json`; produces `report.md` and `plots/accuracy.png`
(grouped bars of accuracy per field, one panel per split, baseline beside candidate, Wilson 95% intervals).
A comparison row reads, in the table and in markdown:

    verbatim | episodes | 781 | 3.1% [2.1, 4.6] | 89.9% [87.6, 91.8] | +86.8 [+84.1, +89.2] | <1e-16 | 683 | 4
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, Group
from rich.table import Table

from harness import storage
from harness.comparison import ComparisonRow
from harness.runs import read_manifest


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def p_text(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.2g}"


def _row_cells(row: ComparisonRow, summary_a: dict, summary_b: dict) -> list[str]:
    a = summary_a.get(row.split, {}).get(row.field, {})
    b = summary_b.get(row.split, {}).get(row.field, {})
    return [row.split, row.field, str(row.n),
            f"{pct(row.accuracy_a)} [{pct(a.get('ci_low', 0))}, {pct(a.get('ci_high', 1))}]",
            f"{pct(row.accuracy_b)} [{pct(b.get('ci_low', 0))}, {pct(b.get('ci_high', 1))}]",
            f"{signed(row.delta)} [{signed(row.ci_low)}, {signed(row.ci_high)}]",
            p_text(row.p_value), str(row.learned), str(row.forgotten)]


HEADERS = ("split", "field", "n", "{a} % [95% CI]", "{b} % [95% CI]", "delta pts [95% CI]", "McNemar p",
           "learned", "forgotten")


def comparison_table(rows: list[ComparisonRow], summary_a: dict, summary_b: dict, a: str, b: str,
                     title: str = "") -> Table:
    """The terminal view: accuracies without their intervals (report.md has them), the delta with its own."""
    table = Table(title=title or f"{b} vs {a}")
    for header in ("split", "field", "n", f"{a} %", f"{b} %", "delta pts [95% CI]", "McNemar p", "learned",
                   "forgotten"):
        table.add_column(header, justify="left" if header in ("split", "field") else "right")
    previous_split = None
    for row in rows:
        if previous_split and row.split != previous_split:
            table.add_section()
        previous_split = row.split
        colour = "green" if row.ci_low > 0 else "red" if row.ci_high < 0 else "default"
        delta = f"[{colour}]{signed(row.delta)} [{signed(row.ci_low)}, {signed(row.ci_high)}][/{colour}]"
        table.add_row(row.split, row.field, str(row.n), pct(row.accuracy_a), pct(row.accuracy_b), delta,
                      p_text(row.p_value), str(row.learned), str(row.forgotten),
                      style="bold" if row.field == "all" else None)
    return table


def comparison_markdown(rows: list[ComparisonRow], summary_a: dict, summary_b: dict, a: str, b: str) -> str:
    headers = [h.format(a=a, b=b) for h in HEADERS]
    rule = "|" + "|".join("---" if i < 2 else "---:" for i in range(len(headers))) + "|"
    lines = ["| " + " | ".join(headers) + " |", rule]
    for row in rows:
        cells = _row_cells(row, summary_a, summary_b)
        if row.field == "all":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def extras_markdown(summaries: dict[str, dict]) -> str:
    """Per-model details the accuracy hides: set F1, score error, how often the model declined."""
    lines = ["| model | split | genres F1 | studios F1 | producers F1 | score lenient % | score MAE | declined |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model, summary in summaries.items():
        for split, fields in summary.items():
            cells = [_cell(fields, "genres", "mean_f1", pct), _cell(fields, "studios", "mean_f1", pct),
                     _cell(fields, "producers", "mean_f1", pct), _cell(fields, "score", "lenient_accuracy", pct),
                     _cell(fields, "score", "mean_abs_error", lambda v: f"{v:.2f}"), str(fields["all"]["abstained"])]
            lines.append(f"| {model} | {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(fields: dict, fld: str, key: str, fmt) -> str:
    value = fields.get(fld, {}).get(key)
    return fmt(value) if value is not None else "–"


def plot_accuracy(summary_a: dict, summary_b: dict, a: str, b: str, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    splits = [s for s in summary_b if s in summary_a]
    fig, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.8), squeeze=False, sharey=True)
    for ax, split in zip(axes[0], splits, strict=True):
        fields = [f for f in summary_b[split] if f != "all"] + ["all"]
        x = np.arange(len(fields))
        for offset, (name, summary) in zip((-0.2, 0.2), ((a, summary_a), (b, summary_b)), strict=True):
            acc = np.array([summary[split][f]["accuracy"] for f in fields])
            low = np.array([summary[split][f]["ci_low"] for f in fields])
            high = np.array([summary[split][f]["ci_high"] for f in fields])
            ax.bar(x + offset, acc, 0.4, label=name, yerr=[acc - low, high - acc], capsize=2)
        ax.set_xticks(x, fields, rotation=45, ha="right")
        ax.set_title(split)
        ax.set_ylim(0, 1.05)
    axes[0][0].set_ylabel("accuracy (Wilson 95% CI)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return storage.write_figure(fig, path)


def build_report(run_dir: str | Path) -> Group:
    """Write report.md and plots for a run; return what to print."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    scores = storage.read_json(run_dir / "scores.json")
    comparison = storage.read_json(run_dir / "comparison.json")
    a, b = scores["baseline"], scores["candidate"]
    summary_a, summary_b = scores["models"][a]["summary"], scores["models"][b]["summary"]
    rows = [ComparisonRow.from_dict(r) for r in comparison["rows"]]
    plot = plot_accuracy(summary_a, summary_b, a, b, run_dir / "plots" / "accuracy.png")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in manifest.get("timings", {}).items())
    markdown = "\n".join([
        f"# Run {manifest['run_id']}",
        "",
        f"- status: **{manifest['status']}**; evalset `{manifest['evalset']['name']}` "
        f"(sha256 {manifest['evalset']['sha256'][:12]}); git {str(manifest['git'].get('commit'))[:10]}"
        f"{' (dirty)' if manifest['git'].get('dirty') else ''}",
        f"- baseline `{a}`, candidate `{b}`: {comparison.get('note', '')}",
        f"- timings: {timings}",
        "",
        "## Accuracy per split and field",
        "",
        "Delta intervals: paired bootstrap over anime (95%). p: exact McNemar. learned: wrong→right; "
        "forgotten: right→wrong.",
        "",
        comparison_markdown(rows, summary_a, summary_b, a, b),
        "## Details",
        "",
        extras_markdown({a: summary_a, b: summary_b}),
        f"![accuracy per field]({plot.relative_to(run_dir)})",
        "",
    ])
    storage.atomic_write_text(run_dir / "report.md", markdown)
    table = comparison_table(rows, summary_a, summary_b, a, b, title=f"{manifest['run_id']}: {b} vs {a}")
    return Group(table, f"report: {run_dir / 'report.md'}  plots: {plot}")


def print_report(run_dir: str | Path, console: Console | None = None) -> None:
    (console or Console()).print(build_report(run_dir))


def _num(x, fmt: str = ",.0f", scale: float = 1.0) -> str:
    return "–" if x is None else format(x * scale, fmt)


def bench_tables(result: dict) -> Group:
    """`harness bench`'s tables: training, quality at equal time, generation, and the targets."""
    parts = []
    ceiling = result.get("ceiling")
    if ceiling:
        parts.append(f"{result['device']}: bf16 matmul ceiling {ceiling['tflops']:,.1f} TFLOP/s "
                     f"(n={ceiling['n']}); model {result['model']['spec']}, {result['rows']} synthetic anime")
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
        table = Table(title=f"{scale['rows']:,} synthetic anime ({scale['mode']}): fast profile "
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

"""The `harness` command line. Each command is a short, visible sequence of stage calls.

    harness evalset build --data synthetic --rows 1000
    harness score --evalset evalsets/synthetic-1000-s0-en --predictions preds.jsonl
    harness compare runs/A:base runs/A:merged --fail-on-drop 0.02
    harness run            # the whole benchmark on the embedded defaults
    harness runs list
    harness report runs/RUN_ID
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import storage
from harness.baselines import BASELINES
from harness.catalogue import CatalogueError, read_catalogue_csv
from harness.comparison import ComparisonError, compare_scores, load_scores, regressions
from harness.evalsets import SPLITS, Evalset, EvalsetError, build_evalset, load_evalset, write_evalset
from harness.reports import comparison_table, print_report
from harness.runs import RunError, list_runs, open_run, timed
from harness.scoring import ScoringError, read_predictions, score_file, score_predictions
from harness.storage import RecordError
from harness.synthetic import generate_catalogue
from harness.templates import LOCALES

DEFAULT_SYNTHETIC_ROWS = 1000
USER_ERRORS = (CatalogueError, EvalsetError, ScoringError, ComparisonError, RecordError, RunError)
console = Console(width=None if sys.stdout.isatty() else 120)  # logs and CI get whole tables


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.command(args) or 0
    except USER_ERRORS as err:
        Console(stderr=True).print(f"[bold red]error:[/] {err}", highlight=False, markup=True)
        return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    evalset = sub.add_parser("evalset", help="build evalsets").add_subparsers(required=True, metavar="ACTION")
    build = evalset.add_parser("build", help="build an evalset from a catalogue")
    add_data_options(build)
    build.add_argument("--out", type=Path, help="folder to write (default: evalsets/NAME)")
    build.set_defaults(command=cmd_evalset_build)

    score = sub.add_parser("score", help="score predictions against an evalset")
    score.add_argument("--evalset", type=Path, required=True)
    score.add_argument("--predictions", type=Path, required=True, help='JSONL of {"id", "output"}')
    score.add_argument("--model", help="name recorded in the score file (default: the file's stem)")
    score.add_argument("--out", type=Path, help="scores.json to write (default: beside the predictions)")
    score.set_defaults(command=cmd_score)

    compare = sub.add_parser("compare", help="paired comparison of two score sets on one evalset")
    compare.add_argument("a", help="baseline: scores.json, a run directory, or either with :MODEL")
    compare.add_argument("b", nargs="?", help="candidate (default: A's run, its candidate model)")
    compare.add_argument("--fail-on-drop", type=float, metavar="X",
                         help="exit 1 if any delta's upper 95%% bound is below -X (e.g. 0.02 = 2 points)")
    compare.add_argument("--out", type=Path, help="write the rows as JSON here")
    compare.set_defaults(command=cmd_compare)

    run = sub.add_parser("run", help="the whole benchmark: evalset, predictions, scores, comparison, report")
    add_data_options(run)
    run.add_argument("--runs-dir", type=Path, default=Path("runs"))
    run.add_argument("--evalsets-dir", type=Path, default=Path("evalsets"))
    run.set_defaults(command=cmd_run)

    runs = sub.add_parser("runs", help="list run records").add_subparsers(required=True, metavar="ACTION")
    listing = runs.add_parser("list", help="runs with status and headline accuracy")
    listing.add_argument("--runs-dir", type=Path, default=Path("runs"))
    listing.set_defaults(command=cmd_runs_list)

    report = sub.add_parser("report", help="print a run's tables; write report.md and plots")
    report.add_argument("run", type=Path)
    report.set_defaults(command=cmd_report)
    return p


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="synthetic", help="'synthetic' (default) or a Kaggle-schema CSV path")
    p.add_argument("--rows", type=int, help=f"rows to use (synthetic default {DEFAULT_SYNTHETIC_ROWS}; CSV: first N)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--locale", choices=LOCALES, default="en")
    p.add_argument("--unseen-fraction", type=float, default=0.2, help="share of anime held out of training")
    p.add_argument("--name", help="evalset name (default from data, rows, seed, locale)")


def make_evalset(args) -> tuple[Evalset, str]:
    if not 0 <= args.unseen_fraction < 1:
        raise EvalsetError(f"--unseen-fraction must be in [0, 1), got {args.unseen_fraction}")
    if args.data == "synthetic":
        rows = args.rows or DEFAULT_SYNTHETIC_ROWS
        catalogue = generate_catalogue(rows, args.seed)
        name = args.name or f"synthetic-{rows}-s{args.seed}-{args.locale}"
    else:
        catalogue = read_catalogue_csv(args.data)
        if args.rows:
            catalogue = dataclasses.replace(catalogue, records=catalogue.records[: args.rows],
                                            rows_read=min(args.rows, catalogue.rows_read))
        name = args.name or f"{Path(args.data).stem}{f'-{args.rows}' if args.rows else ''}-s{args.seed}-{args.locale}"
    evalset = build_evalset(catalogue, name=name, locale=args.locale, seed=args.seed,
                            unseen_fraction=args.unseen_fraction)
    return evalset, name


def cmd_evalset_build(args) -> int:
    evalset, name = make_evalset(args)
    out = write_evalset(evalset, args.out or Path("evalsets") / name)
    console.print(evalset_table(load_evalset(out)))
    console.print(f"wrote {out}")
    return 0


def evalset_table(evalset: Evalset) -> Table:
    m = evalset.manifest
    table = Table(title=f"{m['name']}: {m['rows_kept']}/{m['rows_read']} rows kept, {m['anime']['trained']} anime "
                        f"trained, {m['anime']['unseen']} unseen, {m['counts']['train']} training records")
    fields = sorted({f for split in m["counts"]["eval"].values() for f in split})
    table.add_column("split")
    for f in fields:
        table.add_column(f, justify="right")
    table.add_column("total", justify="right")
    for split in SPLITS:
        counts = m["counts"]["eval"].get(split, {})
        table.add_row(split, *[str(counts.get(f, "–")) for f in fields], str(sum(counts.values())))
    return table


def cmd_score(args) -> int:
    evalset = load_evalset(args.evalset)
    predictions = read_predictions(args.predictions)
    scores = score_predictions(evalset, predictions, source=str(args.predictions))
    model = args.model or args.predictions.stem
    data = score_file(evalset, scores, model=model, predictions_path=args.predictions)
    out = args.out or args.predictions.with_suffix(".scores.json")
    storage.write_json(out, data)
    table = Table(title=f"{model} on {evalset.manifest['name']}")
    for column in ("split", "field", "n", "hits", "accuracy % [95% CI]"):
        table.add_column(column, justify="left" if column in ("split", "field") else "right")
    for split, fields in data["summary"].items():
        for fld, s in fields.items():
            table.add_row(split, fld, str(s["n"]), str(s["hits"]),
                          f"{100 * s['accuracy']:.1f} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]",
                          style="bold" if fld == "all" else None)
    console.print(table)
    console.print(f"wrote {out}")
    return 0


def cmd_compare(args) -> int:
    a = load_scores(args.a if args.b else f"{args.a}:{_baseline_of(args.a)}")
    b = load_scores(args.b or args.a)
    rows = compare_scores(a, b)
    console.print(comparison_table(rows, a["summary"], b["summary"], a["model"], b["model"]))
    if args.out:
        storage.write_json(args.out, {"a": a["source"], "b": b["source"], "rows": [r.to_dict() for r in rows]})
    if args.fail_on_drop is not None:
        dropped = regressions(rows, args.fail_on_drop)
        for row in dropped:
            console.print(f"[red]regression:[/] {row.split}/{row.field}: {100 * row.delta:+.1f} points, "
                          f"upper bound {100 * row.ci_high:+.1f} < {-100 * args.fail_on_drop:.1f}")
        if dropped:
            return 1
        console.print(f"no delta's upper bound is below -{100 * args.fail_on_drop:.1f} points")
    return 0


def _baseline_of(run: str) -> str:
    scores_path = Path(run) / "scores.json"
    if not scores_path.is_file():
        raise ComparisonError(f"{run}: with one argument, give a run directory (it has no scores.json).")
    return storage.read_json(scores_path)["baseline"]


def cmd_run(args) -> int:
    """Until the model half lands, the benchmark compares two model-free predictors: `majority` (the
    chance floor) and `answer_key` (the ceiling, which checks the matchers credit correct answers)."""
    evalset, name = make_evalset(args)
    evalset = load_evalset(write_evalset(evalset, args.evalsets_dir / name))
    baseline, candidate = "majority", "answer_key"
    config = {key: (str(v) if isinstance(v, Path) else v) for key, v in vars(args).items() if key != "command"}
    with open_run(args.runs_dir, label=name, config=config, evalset_manifest=evalset.manifest) as run_dir:
        models = {}
        for model in (baseline, candidate):
            with timed(run_dir, f"predict:{model}"):
                path = run_dir / "predictions" / f"{model}.jsonl"
                storage.write_jsonl(path, (p.to_dict() for p in BASELINES[model](evalset)))
            with timed(run_dir, f"score:{model}"):
                scores = score_predictions(evalset, read_predictions(path), source=str(path))
                models[model] = score_file(evalset, scores, model=model, predictions_path=path)
        storage.write_json(run_dir / "scores.json", {"baseline": baseline, "candidate": candidate, "models": models})
        with timed(run_dir, "compare"):
            rows = compare_scores({**models[baseline], "source": baseline}, {**models[candidate], "source": candidate})
        storage.write_json(run_dir / "comparison.json", {
            "a": baseline, "b": candidate, "rows": [r.to_dict() for r in rows],
            "note": "model-free calibration: majority answers (floor) vs the answer key (ceiling)"})
        with timed(run_dir, "report"):
            print_report(run_dir, console)
    console.print(f"run record: {run_dir}")
    return 0


def cmd_runs_list(args) -> int:
    table = Table(title=f"runs in {args.runs_dir}")
    for column in ("run", "status", "evalset", "verbatim accuracy", "total s"):
        table.add_column(column)
    for row in list_runs(args.runs_dir):
        colour = {"complete": "green", "failed": "red"}.get(row["status"], "yellow")
        headline = ", ".join(f"{m} {100 * acc:.1f}%" for m, acc in row["headline"].items() if acc is not None)
        table.add_row(row["run"], f"[{colour}]{row['status']}[/]", row["evalset"], headline or "–",
                      f"{row['total_s']:.1f}" if row["total_s"] is not None else "–")
    console.print(table)
    return 0


def cmd_report(args) -> int:
    if not (args.run / "scores.json").is_file():
        raise RunError(f"{args.run}: no scores.json; the run did not get as far as scoring (see its manifest).")
    print_report(args.run, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `harness` command line. Each command is a short, visible sequence of stage calls.

    harness evalset build --data synthetic --rows 1000
    harness score --evalset evalsets/synthetic-1000-s0-en --predictions preds.jsonl
    harness compare runs/A:base runs/A:merged --fail-on-drop 0.02
    harness run            # the whole benchmark on the embedded defaults
    harness train --evalset evalsets/NAME --profile article ; harness merge RUN ; harness generate RUN --model merged
    harness run --gpus 2   # training as two DDP processes, one per GPU
    harness runs list
    harness report runs/RUN_ID
    harness report runs/RUN_ID --items --split verbatim --verdict echo
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import re
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from harness import storage
from harness.answers import answers_view
from harness.bench import SECTIONS, SIZES
from harness.comparison import (
    ComparisonError,
    compare_scores,
    floor_summary,
    load_scores,
    regressions,
    score_run,
    split_spec,
    verdict_moves,
)
from harness.config import (
    BOTH,
    PROMPTINGS,
    ConfigError,
    RunConfig,
    TrainConfig,
    answer_sets,
    answers_name,
    load_profile,
    run_promptings,
)
from harness.curves import CURVE_SAMPLE, recorded_curve
from harness.distributed import check_world_size, cuda_device_count, train_in_workers
from harness.domains import get_domain
from harness.errors import HarnessError
from harness.evalsets import (
    SPLITS,
    Evalset,
    EvalsetError,
    build_evalset,
    check_evalset_target,
    load_evalset,
    write_evalset,
)
from harness.generation import default_batch_size, default_prompting, generate_for_run
from harness.html import write_comparison_html
from harness.merging import MERGE_BASES, merge_adapter, merge_base, merge_onto_for
from harness.models import (
    CACHE_ENV,
    EMBEDDED,
    EMBEDDED_MODELS,
    ModelSource,
    device_name,
    release_memory,
    resolve_model,
)
from harness.reports import at_natural_width, bench_tables, comparison_table, moves_lines, print_report
from harness.runs import (
    TRAINING_STAGES,
    RunError,
    continue_run,
    list_runs,
    open_run,
    read_manifest,
    recorded_config,
    timed,
    update_manifest,
)
from harness.scoring import ScoringError, read_predictions, score_file, score_predictions
from harness.training import train_adapter

DEFAULT_SYNTHETIC_ROWS = 1000
# `harness run` sizes: a CPU trains two orders of magnitude slower than a GPU (figures in harness/BENCH_NOTES.md),
# and memorising a fact takes repetition (recall by epoch: docs/training-notes.md), so its default is a handful of
# subjects seen for eight epochs in small batches (more optimizer steps per record, less padding) without packing
# (packed rows without a varlen attention kernel cost quadratic memory); a GPU gets a catalogue of the Kaggle
# table's order and the profile as written.
DEFAULT_CPU_ROWS = 6
DEFAULT_GPU_ROWS = 1000
CPU_OVERRIDES = {"fast": ("batch_size=4", "epochs=8", "packing=false")}  # the article recipe stays as written
console = Console(width=None if sys.stdout.isatty() else 120)  # logs and CI get whole tables


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with sigterm_as_interrupt():
            return args.command(args) or 0
    except HarnessError as err:
        return _report_error(str(err))
    except OSError as err:  # the file system said no (permissions, a full or read-only disk): name the file
        where = f"{err.filename}: " if err.filename else ""
        return _report_error(f"{where}{err.strerror or err}; check the path and its permissions.")
    except KeyboardInterrupt as err:  # the run's record already says failed; no traceback for a stop asked for
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]interrupted[/] ({err or 'Ctrl-C'}): a run being written is marked failed; `harness runs "
            "list` shows it and the command that continues it.", highlight=False)
        return 130


@contextlib.contextmanager
def sigterm_as_interrupt():
    """A TERM (`timeout`, a scheduler's stop, `kill`) ends the command as Ctrl-C does: the run being written is
    marked failed, so `--resume` and the stage commands can continue it, instead of reading "running" forever."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"stopped by signal {signum}")
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _report_error(message: str) -> int:
    # Whole paths and ids, never wrapped mid-word; the message is text, not markup.
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    evalset = sub.add_parser("evalset", help="build evalsets").add_subparsers(required=True, metavar="ACTION")
    build = evalset.add_parser("build", help="build an evalset from a catalogue")
    add_data_options(build)
    build.add_argument("--out", type=Path, help="folder to write (default: evalsets/NAME)")
    build.add_argument("--force", action="store_true",
                       help="replace an evalset of the same name whose contents differ (never a non-evalset folder)")
    build.set_defaults(command=cmd_evalset_build)

    score = sub.add_parser("score", help="score predictions against an evalset, or a run's answers (its score stage)")
    score.add_argument("run", type=Path, nargs="?", help="a run directory: score its base and merged answers")
    score.add_argument("--evalset", type=Path, help="the evalset the predictions answer (without RUN)")
    score.add_argument("--predictions", type=Path, help='JSONL of {"id", "output"} (without RUN)')
    score.add_argument("--model", help="name recorded in the score file (default: the file's stem)")
    score.add_argument("--out", type=Path, help="scores.json to write (default: beside the predictions)")
    score.add_argument("--subset", action="store_true",
                       help="score only the questions the predictions answer (recorded in the score file as "
                            "\"subset\": {\"answered\": n, \"of\": N}); without it, a missing answer is an error")
    score.set_defaults(command=cmd_score)

    compare = sub.add_parser("compare", help="paired comparison of two score sets on one evalset")
    compare.add_argument("a", help="baseline: scores.json, a run directory, or either with :MODEL")
    compare.add_argument("b", nargs="?", help="candidate (default: A's run, its candidate model)")
    compare.add_argument("--fail-on-drop", type=drop_fraction, metavar="X",
                         help="exit 1 if any delta's upper 95%% bound is below -X; X is a fraction in (0, 1]: "
                              "0.02 means 2 points")
    compare.add_argument("--out", type=Path, help="write the rows and the verdict-class moves as JSON here")
    compare.add_argument("--wide", action="store_true",
                     help="the full table: intervals to a tenth of a point, McNemar p, learned, forgotten "
                          "(about 110 columns; the default fits 80)")
    compare.add_argument("--html", type=Path, metavar="OUT",
                         help="write a self-contained HTML page here: the tables, the plot and every question")
    compare.add_argument("--fail-on-forgetting", type=drop_fraction, metavar="X",
                         help="with a run directory: exit 1 if its retention delta's upper 95%% bound is below -X "
                              "(the fine-tune lost general knowledge); X is a fraction in (0, 1]")
    compare.add_argument("--any-prompting", action="store_true",
                         help="pair answers asked by different promptings (chat against fewshot); refused otherwise")
    compare.set_defaults(command=cmd_compare)

    run = sub.add_parser("run", help="the whole benchmark: evalset, train, merge, generate, score, report")
    add_data_options(run, rows_help=f"rows to use (synthetic: default {DEFAULT_GPU_ROWS} with CUDA, {DEFAULT_CPU_ROWS} "
                                    "on CPU, where training is far slower; a table: its first N)",
                     seed_help="seeds the evalset and the training alike (a --set seed=N wins for training)")
    add_model_options(run)
    add_generation_options(run)
    run.add_argument("--retention", type=int, metavar="N",
                     help=f"countries facts (capitals, currencies, regions, calling codes) asked few-shot of the base "
                          f"and the merged model: what the fine-tune broke elsewhere (default {DEFAULT_RETENTION_GPU} "
                          f"with CUDA, {DEFAULT_RETENTION_CPU} on CPU; 0: none)")
    run.add_argument("--probe", action="store_true",
                     help="first ask the base every fact few-shot (greedy and sampled): recall is then reported "
                          "for facts it knew, maybe knew and did not know")
    add_probe_options(run)
    add_curve_option(run)
    add_merge_options(run)
    run.add_argument("--evalsets-dir", type=Path, default=Path("evalsets"),
                     help="where the evalset folder is written (default evalsets/)")
    run.add_argument("--wide", action="store_true",
                     help="the full table: intervals to a tenth of a point, McNemar p, learned, forgotten "
                          "(about 110 columns; the default fits 80)")
    run.add_argument("--force", action="store_true",
                     help="replace an evalset of the same name whose contents differ")
    run.set_defaults(command=cmd_run)

    train = sub.add_parser("train", help="train a QLoRA adapter into a new run (or --resume one)")
    train.add_argument("--evalset", type=Path, help="the evalset to train on (not with --resume)")
    add_model_options(train)
    add_curve_option(train)
    train.add_argument("--resume", type=Path, metavar="RUN",
                       help="continue RUN from its last checkpoint, with RUN's own profile settings")
    train.set_defaults(command=cmd_train)

    merge = sub.add_parser("merge", help="merge a run's adapter into the base it trained against; check agreement")
    merge.add_argument("run", type=Path, help="a run directory, runs/RUN_ID (`harness runs list` shows them)")
    add_generation_options(merge)
    add_merge_options(merge)
    merge.set_defaults(command=cmd_merge)

    generate = sub.add_parser("generate", help="answer a run's evalset with the base or merged model")
    generate.add_argument("run", type=Path, help="a run directory, runs/RUN_ID (`harness runs list` shows them)")
    generate.add_argument("--model", choices=("base", "merged"), required=True,
                          help="which answers: the base model's or the run's merged model's")
    add_generation_options(generate)
    generate.set_defaults(command=cmd_generate)

    evaluate = sub.add_parser("eval", help="score a model trained elsewhere (a base model, or one with a PEFT "
                                           "adapter) on an evalset: no training, no merge stage")
    evaluate.add_argument("--evalset", type=Path, required=True, help="the evalset folder to answer")
    evaluate.add_argument("--model", required=True,
                          help=MODEL_HELP.replace("; the default", ""))
    evaluate.add_argument("--adapter", type=Path, help="a PEFT adapter folder (adapter_config.json and "
                                                       "adapter_model.safetensors), merged into the model in memory")
    evaluate.add_argument("--name", help="the model's name in the run (default: the model's and adapter's folder "
                                         "names)")
    evaluate.add_argument("--adapter-base", choices=MERGE_BASES[::-1], default="bf16",
                          help="the weights the adapter was trained against: bf16 (LoRA, the default) or "
                               "nf4-dequantised (QLoRA: the 4-bit base it saw, dequantised, as `harness merge` does)")
    evaluate.add_argument("--cache-dir", type=Path, help=f"where the embedded model is converted (env {CACHE_ENV})")
    evaluate.add_argument("--runs-dir", type=Path, default=Path("runs"), help=RUNS_DIR_HELP)
    add_generation_options(evaluate)
    evaluate.set_defaults(command=cmd_eval)

    retain = sub.add_parser("retention", help="a run's retention stage: the countries sample asked few-shot of base "
                                              "and merged (to finish a run that stopped there, or to redo it)")
    retain.add_argument("run", type=Path, help="a run directory, runs/RUN_ID (`harness runs list` shows them)")
    retain.add_argument("--retention", type=positive_int, metavar="N",
                        help="questions (default: what the run recorded; another N is recorded as a change)")
    retain.add_argument("--batch-size", type=positive_int, help="generation batch (default 4096 on CUDA, 16 on CPU)")
    retain.set_defaults(command=cmd_retention)

    probe = sub.add_parser("probe", help="which facts a model already knows: each asked few-shot, greedily and "
                                         "sampled; known, maybe known or unknown")
    probe.add_argument("--evalset", type=Path, required=True, help="the evalset whose facts to ask")
    probe.add_argument("--model", default=EMBEDDED,
                       help=MODEL_HELP)
    add_probe_options(probe)
    probe.add_argument("--cache-dir", type=Path, help=f"where the embedded model is converted (env {CACHE_ENV})")
    probe.add_argument("--runs-dir", type=Path, default=Path("runs"), help=RUNS_DIR_HELP)
    probe.add_argument("--max-new-tokens", type=positive_int, metavar="N", help="answer length limit (default 24)")
    probe.add_argument("--batch-size", type=positive_int, help="generation batch (default 4096 on CUDA, 16 on CPU)")
    probe.set_defaults(command=cmd_probe)

    runs = sub.add_parser("runs", help="list run records").add_subparsers(required=True, metavar="ACTION")
    listing = runs.add_parser("list", help="runs with status and headline accuracy")
    listing.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where to look (default runs/)")
    listing.set_defaults(command=cmd_runs_list)

    bench = sub.add_parser("bench", help="the article recipe against the fast one on this device: speed, memory, "
                                         "MFU, equal-time quality, generation, scale (writes bench.json)")
    bench.add_argument("--size", choices=sorted(SIZES), help="'gpu' on CUDA (default there), 'tiny' on CPU")
    bench.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {','.join(SECTIONS)}")
    bench.add_argument("--recipes", help="comma-separated training recipes of the size (default: all)")
    bench.add_argument("--earlier", type=Path, metavar="BENCH_JSON",
                       help="an earlier bench.json whose sections stand in for those not run now")
    bench.add_argument("--run-scale", action="store_true",
                       help="train and answer the Kaggle-sized job for real (default: build it, project the rest)")
    bench.add_argument("--scale-set", action="append", default=[], metavar="KEY=VALUE",
                       help="override of the fast profile for the Kaggle-sized job, instead of the size's (repeatable)")
    bench.add_argument("--cache-dir", type=Path, help=f"where models are converted (env {CACHE_ENV})")
    bench.add_argument("--runs-dir", type=Path, default=Path("runs"), help=RUNS_DIR_HELP)
    bench.set_defaults(command=cmd_bench)

    audit = sub.add_parser("audit", help="the matchers' verdicts against hand labels: agreement per field, every "
                                         "disagreement")
    audit.add_argument("labels", type=Path, help="labels JSONL (harness.audit/1), e.g. tests/data/audit/labels.jsonl")
    audit.add_argument("--show", type=non_negative_int, default=50, metavar="N",
                       help="disagreements to list (default 50; 0 for none)")
    audit.add_argument("--min-agreement", type=float, metavar="X",
                       help="exit 1 if overall agreement is below X (a fraction, e.g. 0.99)")
    audit.add_argument("--min-field-agreement", type=float, metavar="X",
                       help="exit 1 if any field's agreement is below X (e.g. 0.97)")
    audit.set_defaults(command=cmd_audit)

    report = sub.add_parser("report", help="print a run's tables; write report.md and plots")
    report.add_argument("run", type=Path, help="a run directory, runs/RUN_ID (`harness runs list` shows them)")
    report.add_argument("--wide", action="store_true",
                     help="the full table: intervals to a tenth of a point, McNemar p, learned, forgotten "
                          "(about 110 columns; the default fits 80)")
    report.add_argument("--items", action="store_true",
                        help="show questions one by one instead: question, gold, base and merged answers and verdicts")
    report.add_argument("--split", help="with --items: only this split")
    report.add_argument("--field", help="with --items: only this field")
    report.add_argument("--verdict", help="with --items: only answers of this class (the merged model's, unless "
                                          "--model base)")
    report.add_argument("--model", help="with --items: whose class --verdict matches, base or merged (default merged); "
                                        "base-fewshot or merged-fewshot: the few-shot answers of a run asked both ways")
    report.add_argument("--limit", type=int, help="with --items: questions to show (default 20); all are counted")
    report.set_defaults(command=cmd_report)
    return p


OUT_KINDS = {
    "score": lambda text: text.lstrip().startswith("{") and '"format": "harness.scores/' in text[:200],
    "comparison": lambda text: text.lstrip().startswith("{") and '"format": "harness.comparison/' in text[:200],
    "html": lambda text: text.lstrip().lower().startswith("<!doctype html>") and
    '<meta name="generator" content="harness">' in text[:2000],
}


def check_out(path: Path, flag: str, kind: str) -> Path:
    """Where a command writes a file of its own: a new file, or one the harness wrote before of the same kind;
    never a folder, a path through a file, or a file the harness did not make (predictions, an evalset's or a
    run's records). Checked before any work, so nothing is written when it is refused."""
    blocking = storage.file_in_the_way(path)
    if blocking is not None:
        raise HarnessError(f"{flag} {path}: {blocking} is a file, not a folder; give a path in a folder.")
    if path.is_dir():
        raise HarnessError(f"{flag} {path}: is a folder; give a file path, e.g. {path / ('out.' + kind)}.")
    if (path.parent / "manifest.json").is_file():
        raise HarnessError(f"{flag} {path}: is inside a run or evalset folder, whose records the harness writes "
                           "itself; choose a path outside it.")
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")[:4000]
        except (OSError, UnicodeDecodeError):
            text = ""
        if not OUT_KINDS[kind](text):
            raise HarnessError(f"{flag} {path}: exists and is not a {kind} file the harness wrote; the harness will "
                               "not replace it. Choose another path.")
    return path


def non_negative_int(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of 0 or more")
    return int(text)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of at least 1")
    return value


def drop_fraction(text: str) -> float:
    """--fail-on-drop: a finite fraction in (0, 1]; 2 (meant as 2 points, read as 200) or nan would switch the
    gate off."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: give a fraction in (0, 1], e.g. 0.02 for a 2-point drop")
    return value


RUNS_DIR_HELP = "where run records are written (default runs/)"
MODEL_HELP = (f"'{EMBEDDED}' (embedded, pretrained; the default), '{EMBEDDED_MODELS[1]}' (embedded, "
              "instruction-tuned), a Hugging Face id, or a checkpoint folder")


def add_data_options(p: argparse.ArgumentParser, *,
                     rows_help: str = f"rows to use (synthetic default {DEFAULT_SYNTHETIC_ROWS}; a table: its first N)",
                     seed_help: str = "seeds the synthetic catalogue and which wording each question takes (default 0)",
                     ) -> None:
    p.add_argument("--domain", default="anime",
                   help="what the facts are about: 'anime' (default), 'countries', or a table declaration FILE.toml")
    p.add_argument("--data", help="the anime domain: 'synthetic' (default) or a Kaggle-schema CSV path; countries: "
                                  "'countryinfo' (default); a TOML table: its CSV (default: the one it names)")
    p.add_argument("--rows", type=int, help=rows_help)
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--locale", default="en",
                   help="the questions' and answers' language: en (default) or ko (a TOML table: its locales)")
    p.add_argument("--unseen-fraction", type=float, default=0.2, help="share of subjects held out of training")
    p.add_argument("--name", help="evalset name (default from data, rows, seed, locale)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--profile", help="training profile: 'fast' (default), 'article', or a .toml file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a profile key")
    p.add_argument("--cache-dir", type=Path, help=f"where the embedded model is converted (env {CACHE_ENV})")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help=RUNS_DIR_HELP)
    p.add_argument("--gpus", type=positive_int, metavar="N",
                   help="train on N GPUs, one DDP process each under torchrun, the profile's batch split over them "
                        "(default 1: in this process; without CUDA, N CPU processes)")


DEFAULT_MAX_NEW_TOKENS = 48


def add_generation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-new-tokens", type=positive_int, metavar="N",
                   help=f"answer length limit (default {DEFAULT_MAX_NEW_TOKENS}; a stage on a run: what the run "
                        "recorded, and a different N is recorded as a change)")
    p.add_argument("--batch-size", type=positive_int,
                   help="generation batch (default 4096 on CUDA, 16 on CPU); halves on out-of-memory")
    p.add_argument("--prompting", choices=(*PROMPTINGS, BOTH),
                   help="how each question is put: 'chat' (a user turn in the model's chat template), 'fewshot' "
                        "(three solved lines about other subjects, then the open one: how a pretrained model is "
                        "asked) or 'both' (chat first). Default: chat for a model with a chat template of its own, "
                        "both for one without. Recorded with the run and in every score file")


# Recall-curve points while training: on CUDA a point costs seconds; on CPU each costs minutes of answering, so
# the curve is asked for there.
DEFAULT_CURVE_GPU = 10


def default_curve() -> int:
    return DEFAULT_CURVE_GPU if device_name() == "cuda" else 0


def add_curve_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--curve", type=non_negative_int, metavar="N",
                   help=f"measure recall on a fixed sample (up to {CURVE_SAMPLE} questions: half verbatim, a quarter "
                        f"paraphrase, a quarter held out) before training and at N evenly spaced steps: "
                        f"RUN/curve.jsonl and plots/recall.png (default {DEFAULT_CURVE_GPU} with CUDA, 0 on CPU)")


def add_probe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=positive_int, default=PROBE_SAMPLES,
                   help=f"sampled answers per fact besides the greedy one (default {PROBE_SAMPLES})")
    p.add_argument("--temperature", type=float, default=PROBE_TEMPERATURE,
                   help=f"the samples' temperature (default {PROBE_TEMPERATURE})")


PROBE_SAMPLES, PROBE_TEMPERATURE, PROBE_MAX_NEW_TOKENS = 4, 0.5, 24
# Retention questions per run: enough on CUDA for an interval a few points wide; on CPU, where answering is
# slow (docs/scoring-notes.md), a handful that shows the stage works.
DEFAULT_RETENTION_GPU, DEFAULT_RETENTION_CPU = 500, 24


def default_retention() -> int:
    return DEFAULT_RETENTION_CPU if device_name() == "cpu" else DEFAULT_RETENTION_GPU


def retention_into_run(run_dir: Path, source: ModelSource, evalset: Evalset, args) -> dict:
    """The retention stage: the retention sample answered few-shot by base and merged, scored into
    RUN/retention.json."""
    from harness.retention import score_retention

    for model in ("base", "merged"):
        generate_for_run(run_dir, model, evalset, source, batch_size=args.batch_size,
                         max_new_tokens=PROBE_MAX_NEW_TOKENS, prompting="fewshot", name=f"retention-{model}")
    return score_retention(run_dir, evalset)


def cmd_retention(args) -> int:
    """The retention stage on an existing run: what `harness run` does last, for a run that stopped before it
    (or to ask another number of questions)."""
    from harness.retention import retention_evalset

    if "merge" not in read_manifest(args.run)["stages"]["done"]:
        raise RunError(f"{args.run}: no merged model to ask (its merge stage is not done); run `harness merge "
                       f"{args.run}` first.")
    evalset, source = run_inputs(args.run)
    size = stage_setting(args.run, "retention", args.retention, None) or default_retention()
    retention_set = retention_evalset(size, evalset.manifest.get("locale", "en"))  # a missing table fails here
    with continue_run(args.run, "retention") as run_dir:
        result = retention_into_run(run_dir, source, retention_set, args)
        record_setting(run_dir, "retention", "retention", size)
    row = next(r for r in result["rows"] if r["field"] == "all")
    console.print(f"retention: base {100 * row['accuracy_a']:.1f}% → merged {100 * row['accuracy_b']:.1f}% on "
                  f"{row['n']} questions; {len(result['forgotten'])} facts forgotten; `harness report {run_dir}` "
                  "puts it in the report.", soft_wrap=True)
    return 0


def check_probe_options(args) -> None:
    if not 0 < args.temperature <= 5:
        raise ConfigError(f"--temperature {args.temperature}: sampling needs a temperature in (0, 5], e.g. 0.5.")


def probe_into_run(run_dir: Path, evalset: Evalset, source: ModelSource, args,
                   max_new_tokens: int = PROBE_MAX_NEW_TOKENS) -> dict:
    """The probe stage: the base model asked every fact few-shot; RUN/probe.json."""
    from harness.models import ANSWER_DTYPE, load_model, load_tokenizer
    from harness.probes import probe_model

    model = load_model(source, quantize=False, device=device_name(), dtype=ANSWER_DTYPE)
    probe = probe_model(model, load_tokenizer(source), evalset, model_name=source.spec, samples=args.samples,
                        temperature=args.temperature, seed=getattr(args, "seed", 0) or 0,
                        batch_size=args.batch_size or default_batch_size(),
                        max_new_tokens=max_new_tokens)
    storage.write_json(run_dir / "probe.json", probe)
    return probe


def probe_table(probe: dict) -> Table:
    table = Table(title=f"what {probe['model']} knows of {probe['evalset']['name']} (few-shot, greedy + "
                        f"{probe['samples']} samples at T={probe['temperature']:g})")
    for column in ("split", "field", "known", "maybe", "unknown"):
        table.add_column(column, justify="left" if column in ("split", "field") else "right")
    for split, fields in probe["summary"].items():
        for fld, counts in fields.items():
            table.add_row(split, fld, *(str(counts[c]) for c in ("known", "maybe", "unknown")),
                          end_section=fld == "all")
    return table


def cmd_probe(args) -> int:
    """Which facts of an evalset a model knows before any fine-tuning, as a run record with probe.json."""
    evalset = load_evalset(args.evalset)
    source = resolve_model(args.model, args.cache_dir)
    check_probe_options(args)
    config = {"evalset_dir": str(args.evalset.resolve()), "model": source.to_dict(), "samples": args.samples,
              "temperature": args.temperature, "seed": 0, "prompting": "fewshot"}
    with open_run(args.runs_dir, label=f"probe-{evalset.manifest['name']}", config=config,
                  evalset_manifest=evalset.manifest, stages=("probe",)) as run_dir:
        with timed(run_dir, "probe"):
            probe = probe_into_run(run_dir, evalset, source, args, args.max_new_tokens or PROBE_MAX_NEW_TOKENS)
    console.print(probe_table(probe))
    console.print(f"run record: {run_dir}", soft_wrap=True)
    return 0


def add_merge_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--merge-onto", choices=MERGE_BASES,
                   help="fold the adapter into the NF4 weights it was trained against, dequantised (QLoRA's "
                        "default), or into the original weights (bf16: the default when load_in_4bit = false)")
    p.add_argument("--compare-merges", action="store_true",
                   help="also measure the other merge's agreement with the adapter (recorded in merge.json)")


def merge_sample_size() -> int:
    """Questions the merged model and the adapter both answer: enough on CUDA to tell 99% from 97%."""
    return 512 if device_name() == "cuda" else 16


def make_evalset(args, default_rows: int = DEFAULT_SYNTHETIC_ROWS) -> tuple[Evalset, str]:
    if not 0 <= args.unseen_fraction < 1:
        raise EvalsetError(f"--unseen-fraction must be in [0, 1), got {args.unseen_fraction}")
    if args.name is not None:
        check_name(args.name, "--name")
    fraction = "" if args.unseen_fraction == 0.2 else f"-u{args.unseen_fraction:g}"
    domain = get_domain(args.domain)
    if args.locale not in domain.locales:
        raise EvalsetError(f"--locale {args.locale}: the {domain.name} domain has templates for "
                           f"{', '.join(domain.locales)}; choose one of those.")
    args.data = args.data or domain.default_data  # the run records the data it used
    if args.data == "synthetic":
        rows = default_rows if args.rows is None else args.rows
        table = domain.load("synthetic", rows, args.seed)
        name = args.name or f"synthetic-{rows}-s{args.seed}-{args.locale}{fraction}"
    else:
        table = domain.load(args.data, args.rows, args.seed)
        rows = f"-{args.rows}" if args.rows is not None else ""
        stem = domain.name if args.data == domain.default_data else Path(args.data).stem
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-_") or "data"
        name = args.name or check_name(f"{stem[:60]}{rows}-s{args.seed}-{args.locale}{fraction}", "the default name")
    evalset = build_evalset(domain, table, name=name, locale=args.locale, seed=args.seed,
                            unseen_fraction=args.unseen_fraction)
    return evalset, name


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str, flag: str) -> str:
    """A name becomes a folder name: letters, digits, '.', '_' and '-', at most 100, never a path."""
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise EvalsetError(f"{flag} {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                           "or digit (a name is a folder name, never a path).")
    return name


def cmd_evalset_build(args) -> int:
    evalset, name = make_evalset(args)
    out = write_evalset(evalset, args.out or Path("evalsets") / name, force=args.force)
    console.print(evalset_table(load_evalset(out)))
    console.print(f"wrote {out}", soft_wrap=True)  # paths whole, never wrapped mid-path
    return 0


def evalset_table(evalset: Evalset) -> Table:
    m = evalset.manifest
    subjects = m.get("subjects") or m["anime"]  # evalsets before domains counted "anime"
    noun = (m.get("domain") or {}).get("noun", "anime")
    table = Table(title=f"{m['name']}: {m['rows_kept']}/{m['rows_read']} rows kept, {subjects['trained']} {noun} "
                        f"trained, {subjects['unseen']} unseen, {m['counts']['train']} training records")
    fields = list(dict.fromkeys(f for split in m["counts"]["eval"].values() for f in split))
    table.add_column("split")
    for f in fields:
        table.add_column(f, justify="right")
    table.add_column("total", justify="right")
    for split in SPLITS:
        counts = m["counts"]["eval"].get(split, {})
        table.add_row(split, *[str(counts.get(f, "–")) for f in fields], str(sum(counts.values())))
    return table


def cmd_score(args) -> int:
    if args.run is not None:
        if args.evalset or args.predictions or args.out or args.model or args.subset:
            raise ScoringError("harness score RUN scores the run's own answers against its recorded evalset; "
                               "--evalset, --predictions, --model, --out and --subset are for a predictions file.")
        with continue_run(args.run, "score") as run_dir:
            evalset, _ = run_inputs(run_dir)
            score_run(run_dir, evalset)
        print_report(run_dir, console)
        return 0
    if args.evalset is None or args.predictions is None:
        raise ScoringError("harness score needs RUN, or both --evalset DIR and --predictions FILE.")
    evalset = load_evalset(args.evalset)
    predictions = read_predictions(args.predictions)
    out = check_out(args.out or args.predictions.with_suffix(".scores.json"), "--out", "score")
    scores = score_predictions(evalset, predictions, source=str(args.predictions), subset=args.subset)
    model = args.model or args.predictions.stem
    data = score_file(evalset, scores, model=model, predictions_path=args.predictions)
    storage.write_json(out, data)
    subset = data.get("subset")
    of = f" ({subset['answered']:,} of its {subset['of']:,} questions)" if subset else ""
    table = Table(title=f"{model} on {evalset.manifest['name']}{of}")
    for column in ("split", "field", "n", "hits", "accuracy % [95% CI]"):
        table.add_column(column, justify="left" if column in ("split", "field") else "right")
    for split, fields in data["summary"].items():
        for fld, s in fields.items():
            table.add_row(split, fld, str(s["n"]), str(s["hits"]),
                          f"{100 * s['accuracy']:.1f} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]",
                          style="bold" if fld == "all" else None)
    console.print(table)
    console.print(f"wrote {out}", soft_wrap=True)  # paths whole, never wrapped mid-path
    return 0


def cmd_compare(args) -> int:
    if args.out:
        check_out(args.out, "--out", "comparison")
    if args.html:
        check_out(args.html, "--html", "html")
    retention = None
    if args.fail_on_forgetting is not None:  # checked first: the flag needs a run that measured retention
        from harness.retention import retention_all_row
        retention = retention_all_row(split_spec(args.b or args.a)[0])
    b = load_scores(args.b or args.a)  # first: a model the run lacks is named beside those it has
    a = load_scores(args.a if args.b else _baseline_of(args.a))
    rows = compare_scores(a, b, any_prompting=args.any_prompting)
    moves = verdict_moves(a, b, any_prompting=args.any_prompting)
    floor = floor_summary(args.a, args.b or args.a, sha256=a["evalset"]["sha256"])
    name_a, name_b = compare_names(a, b)
    if (name_a, name_b) == ("baseline", "candidate"):  # named whole, each on its own line: paths are never cut
        console.print(f"baseline:  {a['source']}\ncandidate: {b['source']}", soft_wrap=True, highlight=False)
    table = comparison_table(rows, a["summary"], b["summary"], name_a, name_b, floor=floor, wide=args.wide)
    console.print(at_natural_width(table, console) if args.wide else table, crop=False)
    for line in moves_lines(moves, name_a, name_b):
        console.print(line, highlight=False)
    if args.out:
        storage.write_json(args.out, {"format": "harness.comparison/1", "a": a["source"], "b": b["source"],
                                      "rows": [r.to_dict() for r in rows],
                                      "verdict_moves": [m.to_dict() for m in moves]})
    if args.html:
        console.print(f"wrote {write_comparison_html(args.html, a, b, rows, moves, floor)}", soft_wrap=True)
    if args.fail_on_drop is not None:
        dropped = regressions(rows, args.fail_on_drop)
        for row in dropped:
            console.print(f"[red]regression:[/] {row.split}/{row.field}: {100 * row.delta:+.1f} points, "
                          f"upper bound {100 * row.ci_high:+.1f} < {-100 * args.fail_on_drop:.1f}")
        if dropped:
            return 1
        console.print(f"no delta's upper bound is below -{100 * args.fail_on_drop:.1f} points")
    if retention is not None:
        bound = retention["ci_high"]
        if bound < -args.fail_on_forgetting:
            console.print(f"[red]forgetting:[/] retention {100 * retention['delta']:+.1f} points, upper bound "
                          f"{100 * bound:+.1f} < {-100 * args.fail_on_forgetting:.1f}")
            return 1
        console.print(f"retention {100 * retention['delta']:+.1f} points, upper bound {100 * bound:+.1f}: not "
                      f"below -{100 * args.fail_on_forgetting:.1f}")
    return 0


def _baseline_of(spec: str) -> str:
    """With one argument, RUN or RUN:MODEL is the candidate and the run's baseline model the baseline."""
    run, _ = split_spec(spec)
    scores_path = run / "scores.json"
    if not scores_path.is_file():
        raise ComparisonError(f"{spec}: with one argument, give a run directory that has a scores.json (RUN, or "
                              "RUN:MODEL to compare MODEL with the run's baseline).")
    return f"{run}:{storage.read_json(scores_path)['baseline']}"


def compare_names(a: dict, b: dict) -> tuple[str, str]:
    """What to call two score sets in a comparison: their models ("base", "merged"), or, where both are one model
    (the CI gate: BASELINE:merged against NEW:merged), "baseline" and "candidate"."""
    return (a["model"], b["model"]) if a["model"] != b["model"] else ("baseline", "candidate")


def cmd_run(args) -> int:
    """The benchmark: build the evalset, train, merge, answer with base and merged, score, compare, report."""
    on_cpu = device_name() == "cpu"
    evalset, name = make_evalset(args, default_rows=DEFAULT_CPU_ROWS if on_cpu else DEFAULT_GPU_ROWS)
    cpu_overrides = CPU_OVERRIDES.get(args.profile or "fast", ()) if on_cpu else ()
    # --seed seeds the evalset and the training alike (a later --set seed=N wins); every input is checked
    # before anything is written.
    config = load_profile(args.profile or "fast", [*cpu_overrides, f"seed={args.seed}", *args.set])
    world_size = training_processes(args, config)
    source = resolve_model(args.model or EMBEDDED, args.cache_dir)
    prompting = args.prompting or default_prompting(source)
    evalset_dir = args.evalsets_dir / name
    check_evalset_target(evalset, evalset_dir, force=args.force)
    say_where_training_runs(cpu_overrides, world_size)
    if args.probe:
        check_probe_options(args)
    retention = args.retention if args.retention is not None else default_retention()
    if retention < 0:
        raise ConfigError(f"--retention {retention}: give a number of questions, 0 for none.")
    if retention:  # built now: a missing countries table fails before training, not after it
        from harness.retention import retention_evalset
        retention_set = retention_evalset(retention, args.locale)
    evalset = load_evalset(write_evalset(evalset, evalset_dir, force=args.force))
    max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    answers = answer_sets(prompting)
    stages = (*(("probe",) if args.probe else ()), *training_stages(prompting), *(("retention",) if retention else ()))
    with open_run(args.runs_dir, label=f"{name}-{config.profile}", evalset_manifest=evalset.manifest,
                  config=run_config(args, config, source, evalset_dir, prompting, world_size, retention),
                  stages=stages) as run_dir:
        if args.probe:  # before training: what the base knew, so recall splits into known and unknown facts
            with timed(run_dir, "probe"):
                probe_into_run(run_dir, evalset, source, args)
        with timed(run_dir, "train"):
            train_stage(run_dir, evalset)
        with timed(run_dir, "merge"):
            merge_adapter(run_dir, source, check_items=check_sample(evalset), max_new_tokens=max_new_tokens,
                          batch_size=args.batch_size or default_batch_size(), sample_size=merge_sample_size(),
                          onto=merge_onto_for(config, args.merge_onto), compare=args.compare_merges,
                          trained_on_4bit=config.load_in_4bit)
        for model, asked, answers_file in answers:
            with timed(run_dir, f"generate:{answers_file}"):
                generate_for_run(run_dir, model, evalset, source, batch_size=args.batch_size,
                                 max_new_tokens=max_new_tokens, prompting=asked, name=answers_file)
        with timed(run_dir, "score"):
            score_run(run_dir, evalset)
        if retention:
            with timed(run_dir, "retention"):
                retention_into_run(run_dir, source, retention_set, args)
    # Reported once the record is finished, so report.md shows the final status and every stage's time.
    with timed(run_dir, "report"):
        print_report(run_dir, console, wide=args.wide)
    console.print(f"run record: {run_dir}", soft_wrap=True)
    return 0


def cmd_train(args) -> int:
    if args.resume:
        given = [flag for flag, value in (("--evalset", args.evalset), ("--profile", args.profile),
                                          ("--model", args.model), ("--set", args.set), ("--gpus", args.gpus),
                                          ("--curve", args.curve is not None))
                 if value]
        if given:
            raise ConfigError(f"--resume continues {args.resume} with the settings it recorded; {', '.join(given)} "
                              "cannot change them. To train with other settings, start a new run with "
                              "`harness train --evalset DIR`.")
        if "train" in (read_manifest(args.resume).get("stages") or {}).get("done", []):
            raise RunError(f"{args.resume}: its training is done (training.json); --resume continues an interrupted "
                           "training. To train again, start a new run with `harness train --evalset DIR`.")
        with continue_run(args.resume, "train") as run_dir:
            evalset, source = run_inputs(run_dir)  # the run's own evalset, model and settings
            recorded = recorded_config(run_dir)
            # as many processes as before: the checkpoint holds each rank's RNG state, and the order of batches
            # is dealt over that many ranks
            check_world_size(recorded.world_size, cuda_device_count(), recorded.profile.batch_size)
            summary = train_stage(run_dir, evalset, resume=True)
    else:
        if args.evalset is None:
            raise EvalsetError("harness train needs --evalset DIR (or --resume RUN).")
        evalset = load_evalset(args.evalset)
        on_cpu = device_name() == "cpu"
        cpu_overrides = CPU_OVERRIDES.get(args.profile or "fast", ()) if on_cpu else ()
        config = load_profile(args.profile or "fast", [*cpu_overrides, *args.set])
        world_size = training_processes(args, config)
        source = resolve_model(args.model or EMBEDDED, args.cache_dir)
        say_where_training_runs(cpu_overrides, world_size)
        prompting = default_prompting(source)  # `harness generate` asks as the run recorded
        with open_run(args.runs_dir, label=f"{evalset.manifest['name']}-{config.profile}",
                      evalset_manifest=evalset.manifest, stages=training_stages(prompting),
                      config=run_config(args, config, source, args.evalset, prompting, world_size)) as run_dir:
            with timed(run_dir, "train"):
                summary = train_stage(run_dir, evalset)
    console.print(f"trained {summary['steps']} steps, {summary['tokens']:,} tokens in {summary['train_seconds']:.0f}s "
                  f"({summary['tokens_per_second']:,.0f} tokens/s); final loss {summary['final_loss']}")
    console.print(f"run record: {run_dir}", soft_wrap=True)
    return 0


def cmd_merge(args) -> int:
    with continue_run(args.run, "merge") as run_dir:
        evalset, source = run_inputs(run_dir)
        max_new_tokens = stage_setting(run_dir, "max_new_tokens", args.max_new_tokens, DEFAULT_MAX_NEW_TOKENS)
        profile = recorded_config(run_dir).profile
        onto = merge_onto_for(profile, stage_setting(run_dir, "merge_onto", args.merge_onto, None))
        summary = merge_adapter(run_dir, source, check_items=check_sample(evalset), max_new_tokens=max_new_tokens,
                                batch_size=args.batch_size or default_batch_size(), sample_size=merge_sample_size(),
                                onto=onto, compare=args.compare_merges, trained_on_4bit=profile.load_in_4bit)
        record_setting(run_dir, "merge", "max_new_tokens", max_new_tokens)
        record_setting(run_dir, "merge", "merge_onto", onto)
    console.print(f"merged onto {summary['onto']} into {run_dir / 'merged'}; adapter and merged model agree on "
                  f"{100 * summary['agreement']:.1f}% of {summary['sample']} sampled answers", soft_wrap=True)
    for other, alt in summary["alternatives"].items():
        console.print(f"  merged onto {other} instead: {100 * alt['agreement']:.1f}% agreement")
    return 0


def cmd_generate(args) -> int:
    recorded = read_manifest(args.run)["config"].get("prompting") or PROMPTINGS[0]
    if recorded == BOTH:  # --prompting picks one of the run's two answer sets; none given: both
        asked = run_promptings(BOTH) if args.prompting in (None, BOTH) else (args.prompting,)
        jobs = [(answers_name(args.model, p, PROMPTINGS[0]), p) for p in asked]
    elif args.prompting == BOTH:
        raise ConfigError(f"--prompting both: {args.run} was recorded with {recorded} prompting, so it has one answer "
                          f"set per model; start a new run with --prompting both to ask both ways.")
    else:  # another prompting than the recorded one replaces the answers, a change said aloud and recorded
        jobs = [(args.model, args.prompting or recorded)]
    for answers_file, prompting in jobs:
        with continue_run(args.run, f"generate:{answers_file}") as run_dir:
            evalset, source = run_inputs(run_dir)
            max_new_tokens = stage_setting(run_dir, "max_new_tokens", args.max_new_tokens, DEFAULT_MAX_NEW_TOKENS)
            path = generate_for_run(run_dir, args.model, evalset, source, batch_size=args.batch_size,
                                    max_new_tokens=max_new_tokens, prompting=prompting, name=answers_file)
            record_setting(run_dir, f"generate:{answers_file}", "max_new_tokens", max_new_tokens)
            if recorded != BOTH:
                record_setting(run_dir, f"generate:{answers_file}", "prompting", prompting)
        console.print(f"wrote {path}", soft_wrap=True)
    return 0


def cmd_eval(args) -> int:
    """Score a model the harness did not train: answer the evalset with it (its adapter merged in memory),
    answer with the majority floor, score both. Every input is checked before the run directory exists."""
    import time

    from harness.baselines import majority
    from harness.comparison import score_models
    from harness.generation import check_adapter, load_answering_model, model_label, predict_into_run
    from harness.models import ModelError, load_tokenizer
    from harness.runs import update_manifest

    evalset = load_evalset(args.evalset)
    if (Path(args.model) / "adapter_config.json").is_file() and not (Path(args.model) / "config.json").is_file():
        raise ModelError(f"--model {args.model} is a PEFT adapter, not a model: pass it as --adapter, and the model "
                         "it was trained on as --model.")
    source = resolve_model(args.model, args.cache_dir)
    if source.kind == "local":  # the record names the folder wherever the run is read from
        source = dataclasses.replace(source, path=str(Path(source.path).resolve()))
    name = check_name(args.name or model_label(source, args.adapter), "--name")
    if name == "majority":
        raise ModelError("--name majority: that name is the majority floor's, scored beside every model; pick another.")
    batch_size = args.batch_size or default_batch_size()
    max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    for flag, value in (("--max-new-tokens", max_new_tokens), ("--batch-size", batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} {value}: give a whole number of at least 1.")
    adapter = check_adapter(args.adapter, source) if args.adapter else None
    if adapter and adapter["base_model_matches"] is False:
        console.print(f"[yellow]note:[/] {args.adapter} records base model {adapter['base_model_name_or_path']}, "
                      f"not {source.spec}; its shapes fit, so it is scored on {source.spec}.")
    started = time.perf_counter()
    base = merge_base(source, args.adapter_base, device_name()) if args.adapter else None
    model, tokenizer = load_answering_model(source, args.adapter, device_name(), base), load_tokenizer(source)
    loaded_s = round(time.perf_counter() - started, 3)
    prompting = args.prompting or default_prompting(source)
    asked = {answers_name(name, p, run_promptings(prompting)[0]): p for p in run_promptings(prompting)}
    config = {"evalset_dir": str(args.evalset.resolve()), "model": source.to_dict(), "adapter": adapter,
              "adapter_base": args.adapter_base if adapter else None, "name": name,
              "max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": None, "prompting": prompting}
    stages = (*(f"generate:{n}" for n in asked), "predict:majority", "score")
    with open_run(args.runs_dir, label=f"eval-{evalset.manifest['name']}-{name}", config=config,
                  evalset_manifest=evalset.manifest, stages=stages) as run_dir:
        update_manifest(run_dir, lambda m: m["timings"].__setitem__("load", loaded_s))
        for answers_file, way in asked.items():
            with timed(run_dir, f"generate:{answers_file}"):
                predict_into_run(run_dir, answers_file, evalset, model, tokenizer, batch_size=batch_size,
                                 max_new_tokens=max_new_tokens, prompting=way,
                                 model_name=f"{source.spec}+{adapter['path']}" if adapter else source.spec)
        with timed(run_dir, "predict:majority"):
            storage.write_jsonl(run_dir / "predictions" / "majority.jsonl", (p.to_dict() for p in majority(evalset)))
        with timed(run_dir, "score"):
            scored = score_models(run_dir, evalset, {**asked, "majority": "none"}, baseline="majority",
                                  candidate=name)
    table = Table(title=f"{' and '.join(asked)} on {evalset.manifest['name']}, the majority floor beside it")
    for column in ("split", "field", "n", *(f"{n} % [95% CI]" for n in asked), "floor %"):
        table.add_column(column, justify="left" if column in ("split", "field") else "right")
    floor = scored["majority"]["summary"]
    for split, fields in scored[name]["summary"].items():
        for fld, s in fields.items():
            cells = [scored[n]["summary"][split][fld] for n in asked]
            table.add_row(split, fld, str(s["n"]), *(f"{100 * c['accuracy']:.1f} [{100 * c['ci_low']:.1f}, "
                                                     f"{100 * c['ci_high']:.1f}]" for c in cells),
                          f"{100 * floor[split][fld]['accuracy']:.1f}", style="bold" if fld == "all" else None)
    console.print(table)
    console.print(f"run record: {run_dir}")
    return 0


def stage_setting(run_dir: Path, key: str, given, default):
    """The value a stage on an existing run uses: the one the run recorded, unless a different one is given
    on the command line, which is an explicit change (`record_setting` writes it once the stage succeeds)."""
    recorded = read_manifest(run_dir)["config"].get(key)
    if given is None:
        return default if recorded is None else recorded
    return given


def record_setting(run_dir: Path, stage: str, key: str, value) -> None:
    """After a stage succeeded with `value`: recorded, or the change from what the run recorded, said aloud."""
    recorded = read_manifest(run_dir)["config"].get(key)
    if recorded is None:
        update_manifest(run_dir, lambda m: m["config"].__setitem__(key, value))
    elif value != recorded:
        change = {"stage": stage, "key": key, "recorded": recorded, "now": value}
        update_manifest(run_dir, lambda m: m.setdefault("changes", []).append(change))
        console.print(f"[yellow]note:[/] {stage} ran with {key}={value}, not the {recorded} this run recorded; "
                      "the change is recorded in its manifest (answers of the two settings are not alike)")


def training_stages(prompting: str) -> tuple[str, ...]:
    """A training run's stages: TRAINING_STAGES, and the answers of a second prompting where it asks two."""
    return (*TRAINING_STAGES, *(f"generate:{name}" for _, _, name in answer_sets(prompting)[2:]))


def training_processes(args, config: TrainConfig) -> int:
    """`--gpus N`, checked against this machine's GPUs and the profile's batch before anything is written."""
    world_size = args.gpus or 1
    check_world_size(world_size, cuda_device_count(), config.batch_size)
    return world_size


def say_where_training_runs(cpu_overrides: tuple[str, ...], world_size: int) -> None:
    if cpu_overrides:
        console.print(f"no CUDA: training on CPU with {', '.join(cpu_overrides)} (a later --set wins)")
    if world_size > 1:
        where = "one per GPU" if device_name() == "cuda" else "on CPU (gloo: no CUDA)"
        console.print(f"training as {world_size} DDP processes, {where}, each with 1/{world_size} of every batch")


def train_stage(run_dir: Path, evalset: Evalset, resume: bool = False) -> dict:
    """The training stage as the run recorded it: in this process, or as torchrun workers that read the manifest."""
    config = recorded_config(run_dir)
    if config.world_size == 1:
        summary = train_adapter(config.profile, train_rows=list(evalset.train), source=ModelSource(**config.model),
                                run_dir=run_dir, resume=resume, curve=recorded_curve(config, evalset))
        release_memory()  # the trained model is gone with train_adapter's frame: give its memory back
    else:
        summary = train_in_workers(run_dir, config.world_size, resume=resume)
    if summary.get("loss_warning"):  # the run goes on: its scores show what the adapter holds, the verdict why
        console.print(f"[bold yellow]warning:[/] {summary['loss_warning']}", soft_wrap=True)
    return summary


def run_config(args, config: TrainConfig, source: ModelSource, evalset_dir: Path, prompting: str,
               world_size: int = 1, retention: int = 0) -> dict:
    return RunConfig(evalset_dir=str(Path(evalset_dir).resolve()), model=source.to_dict(), profile=config,
                     data=getattr(args, "data", None), seed=config.seed,
                     max_new_tokens=getattr(args, "max_new_tokens", None) or DEFAULT_MAX_NEW_TOKENS,
                     batch_size=getattr(args, "batch_size", None),
                     merge_onto=merge_onto_for(config, getattr(args, "merge_onto", None)),
                     prompting=prompting, world_size=world_size, retention=retention,
                     curve=default_curve() if getattr(args, "curve", None) is None else args.curve).to_dict()


def run_inputs(run_dir: Path) -> tuple[Evalset, ModelSource]:
    """The evalset and model a run recorded; an evalset whose bytes changed since is refused, naming both."""
    manifest = read_manifest(run_dir)
    config = RunConfig.from_dict(manifest["config"], run_dir / "manifest.json")
    evalset = load_evalset(config.evalset_dir)
    recorded, found = manifest["evalset"]["sha256"], evalset.manifest["sha256"]
    if recorded != found:
        raise EvalsetError(f"{run_dir}: recorded evalset {manifest['evalset']['name']} sha256 {recorded[:12]}…, but "
                           f"{config.evalset_dir} now holds sha256 {found[:12]}… (rebuilt since?). A later stage "
                           "would answer other questions than the run trained on: rebuild the recorded evalset, or "
                           "start a new run.")
    return evalset, ModelSource(**config.model)


def check_sample(evalset: Evalset) -> list:
    return [item for item in evalset.items if item.split == "verbatim"]


def cmd_runs_list(args) -> int:
    """Each run's id on a line of its own, whole (what `harness report runs/RUN_ID` takes), and below it, indented:
    status, evalset, verbatim accuracy per model, total time."""
    runs = list_runs(args.runs_dir)
    console.print(f"{len(runs)} run(s) in {args.runs_dir}", soft_wrap=True)
    for row in runs:
        colour = {"complete": "green", "failed": "red"}.get(row["status"], "yellow")
        if row.get("left") and row["status"] != "running":
            row["status"] = f"{row['status']} (next: {row['left'][0]})"
        headline = ", ".join(f"{m} {100 * acc:.1f}%" for m, acc in row["headline"].items() if acc is not None)
        details = Text.assemble((row["status"], colour), f" · evalset {row['evalset']} · verbatim "
                                f"{headline or '–'} · ",
                                f"{row['total_s']:,.1f} s" if row["total_s"] is not None else "– s")
        console.print(row["run"], soft_wrap=True, markup=False)
        console.print(Padding(details, (0, 0, 0, 4), expand=False))
    return 0


def cmd_bench(args) -> int:
    from harness.bench import run_bench

    size = SIZES[args.size or ("gpu" if device_name() == "cuda" else "tiny")]
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ConfigError(f"--sections: unknown {unknown}; choose from {list(SECTIONS)}.")
    config = {"size": dataclasses.asdict(size), "sections": list(sections), "recipes": args.recipes,
              "run_scale": args.run_scale, "scale_set": args.scale_set, "seed": 0}
    with open_run(args.runs_dir, label=f"bench-{size.name}", config=config,
                  evalset_manifest={"name": f"synthetic-{size.rows}-s0-en", "sha256": None}) as run_dir:
        result = run_bench(size, sections=sections, out=run_dir, cache_dir=args.cache_dir, run_scale=args.run_scale,
                           recipes=tuple(args.recipes.split(",")) if args.recipes else None,
                           earlier=storage.read_json(args.earlier) if args.earlier else None,
                           scale_overrides=tuple(args.scale_set))
    console.print(bench_tables(result))
    console.print(f"bench record: {run_dir / 'bench.json'}", soft_wrap=True)
    return 0


def cmd_audit(args) -> int:
    from harness.audit import agreement_table, class_confusion, disagreements, judge, read_labels

    for flag, value in (("--min-agreement", args.min_agreement), ("--min-field-agreement", args.min_field_agreement)):
        if value is not None and not 0 < value <= 1:
            raise ConfigError(f"{flag} {value}: give a fraction in (0, 1], e.g. 0.99 for 99%.")
    header, rows = read_labels(args.labels)
    judged = judge(header, rows)
    table = Table(title=f"{args.labels}: harness verdicts against {len(rows)} hand labels")
    for column in ("field", "n", "agreement % [95% CI]", "false credit", "missed", "class agreement %"):
        table.add_column(column, justify="left" if column == "field" else "right")
    rows_out = agreement_table(judged)
    for r in rows_out:
        classes = "–" if r["class_agreement"] is None else f"{100 * r['class_agreement']:.1f}"
        table.add_row(r["field"], str(r["n"]), f"{100 * r['agreement']:.1f} [{100 * r['ci_low']:.1f}, "
                      f"{100 * r['ci_high']:.1f}]", str(r["false_credit"]), str(r["missed"]), classes,
                      style="bold" if r["field"] == "all" else None)
    console.print(table)
    wrong = disagreements(judged)
    for j in wrong[:args.show]:
        kind = "false credit" if j.hit else "missed"
        console.print(f"[red]{kind}[/] {j.row.audit_id} {j.row.item.field} gold={j.row.item.gold!r} "
                      f"extracted={j.extracted!r} label: {j.row.why}\n    Q: {j.row.item.question}\n    A: "
                      f"{j.row.answer[:300]!r}", highlight=False)
    if len(wrong) > args.show:
        console.print(f"... and {len(wrong) - args.show} more (--show N)")
    confusion = class_confusion(judged)
    if confusion:
        console.print("verdict classes (label -> harness) where they differ: " + ", ".join(
            f"{a} -> {b} {n}" for (a, b), n in list(confusion.items())[:12]))
    overall = rows_out[-1]["agreement"]
    below = [r["field"] for r in rows_out[:-1]
             if args.min_field_agreement is not None and r["agreement"] < args.min_field_agreement]
    if (args.min_agreement is not None and overall < args.min_agreement) or below:
        console.print(f"[red]below the bar:[/] overall {100 * overall:.1f}%; fields {below or 'none'}")
        return 1
    return 0


def cmd_report(args) -> int:
    if not (args.run / "scores.json").is_file():
        raise RunError(f"{args.run}: no scores.json; the run did not get as far as scoring (see its manifest).")
    if args.items:
        console.print(answers_view(args.run, split=args.split, field=args.field, verdict=args.verdict,
                                   model=args.model, limit=args.limit))
        return 0
    given = [flag for flag in ("split", "field", "verdict", "model", "limit") if getattr(args, flag) is not None]
    if given:
        raise RunError(f"--{given[0]} applies only with --items (harness report {args.run} --items --{given[0]} ...).")
    print_report(args.run, console, wide=args.wide)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a training step's time goes: the torch profiler over a few steps of a profile, kernel by kernel.

    python docs/experiments/profile_step.py [--profile fast] [--anime 500] [--set KEY=VALUE ...] [--wait 2] [--out DIR]

Trains `--profile` on a synthetic evalset through `training.train_adapter` (the code a run uses), profiles
3 steps after `--wait` steps and one of warm-up (with `torch_compile=true`, wait past the recompiles), and
prints the top operators by device time (CPU time without CUDA) with the step's share of each; on CUDA also
the GPU's busy share of the step, the GPU's idle time by gap length, each host thread's time by its outermost
operators (what the host does while the GPU waits) and the top operators by host (CPU) time. The Chrome trace
goes to OUT/trace.json. Read with docs/training-notes.md.

    python docs/experiments/profile_step.py --trace OUT/trace.json[.gz]

prints the trace's tables again from a saved trace, with no training.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness.config import load_profile
from harness.domains import get_domain
from harness.evalsets import build_evalset
from harness.models import EMBEDDED, resolve_model
from harness.training import train_adapter

WARMUP, ACTIVE = 1, 3


def main() -> int:
    import torch
    from torch.profiler import ProfilerActivity, profile, schedule
    from transformers import TrainerCallback

    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--anime", type=int, default=500)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--model", default=EMBEDDED)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="profile-")))
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--wait", type=int, default=2, help="steps before the profiler's warm-up step")
    parser.add_argument("--trace", type=Path, help="print the tables of this saved trace; train nothing")
    args = parser.parse_args()
    if args.trace:
        print_trace(read_trace(args.trace), args.rows)
        return 0
    steps = args.wait + WARMUP + ACTIVE
    config = load_profile(args.profile, [f"max_steps={steps}", "save_steps=100000", *args.set])
    domain = get_domain("anime")
    evalset = build_evalset(domain, domain.load("synthetic", args.anime, 0), name=f"synthetic-{args.anime}-s0-en")
    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    profiler = profile(activities=activities, schedule=schedule(wait=args.wait, warmup=WARMUP, active=ACTIVE),
                       record_shapes=True, with_stack=False)

    class Step(TrainerCallback):
        def on_step_end(self, *_, **__):
            profiler.step()

    args.out.mkdir(parents=True, exist_ok=True)
    with profiler:
        summary = train_adapter(config, train_rows=list(evalset.train), source=resolve_model(args.model),
                                run_dir=args.out / "run", callbacks=(Step(),))
    events = profiler.key_averages()
    print(f"profile {args.profile} {' '.join(args.set)}: {summary['tokens_per_second']:,.0f} tokens/s over "
          f"{summary['steps']} steps; top operators by self {'device' if cuda else 'CPU'} time over {ACTIVE} steps")
    print_operators(events, "self_device_time_total" if cuda else "self_cpu_time_total", args.rows)
    profiler.export_chrome_trace(str(args.out / "trace.json"))
    if cuda:
        print_trace(read_trace(args.out / "trace.json"), args.rows)
        print(f"top operators by self host (CPU) time over {ACTIVE} steps")
        print_operators(events, "self_cpu_time_total", args.rows)
    return 0


def print_operators(events, key: str, rows: int) -> None:
    """The profiler's operators with the most of `key` (a self time), each with its share, per step."""
    ranked = sorted(events, key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in ranked) or 1
    for event in ranked[:rows]:
        print(f"{100 * getattr(event, key) / total:6.1f}%  {getattr(event, key) / 1e3 / ACTIVE:9.1f} ms/step  "
              f"{event.count // ACTIVE:6d} calls/step  {event.key[:90]}")


# Kernel families by name, first match wins: what the device spends a step on, whatever launched it. Copies are
# matched by their own kernels' names: ATen's elementwise templates carry "nocast"/"WithCast" in their arguments
# whatever they compute.
FAMILIES = (
    ("attention", ("flash", "fmha", "attention", "sdpa")),  # before GEMM: flash kernels are wgmma ones too
    ("GEMM", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "s16816", "wgmma")),
    ("NF4 dequantise", ("dequant", "kdequant")),
    ("reduction / norm", ("reduce_kernel", "norm", "softmax", "logsumexp")),
    ("copy / cast", ("copy_kernel", "catarray", "memcpy", "memset", "fill")),
    ("elementwise", ("elementwise", "vectorized", "unrolled", "index", "pointwise", "triton")),
)


def family(name: str) -> str:
    low = name.lower()
    return next((f for f, words in FAMILIES if any(w in low for w in words)), "other")


def read_trace(path: Path) -> list[dict]:
    import gzip
    import json

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return json.load(handle)["traceEvents"]


def print_trace(events: list[dict], rows: int) -> None:
    """A CUDA trace's tables, per profiled step: kernels, the GPU's idle gaps, and the host threads' time."""
    # The profiler writes each ProfilerStep twice, on the host thread and as a GPU annotation: the host's
    # copy alone is the step's wall time.
    steps = sorted((e for e in events if e.get("cat") == "user_annotation"
                    and str(e.get("name", "")).startswith("ProfilerStep#")), key=lambda e: e["ts"])
    start, end = steps[0]["ts"], steps[-1]["ts"] + steps[-1]["dur"]
    n = len(steps)
    kernels = [e for e in events if e.get("cat") == "kernel" and start <= e["ts"] <= end]
    print_kernels(kernels, wall=end - start, steps=n, rows=rows)
    print_idle(events, start, end, n)
    print_threads(events, start, end, n)


def print_kernels(kernels: list[dict], wall: float, steps: int, rows: int) -> None:
    """The GPU kernels: busy share of the profiled steps' wall time, by family and by name."""
    from collections import defaultdict

    busy = sum(e["dur"] for e in kernels) or 1.0
    print(f"GPU kernels: {len(kernels) // steps:,} a step; busy {busy / 1e3 / steps:.1f} ms of a "
          f"{wall / 1e3 / steps:.1f} ms step ({100 * busy / wall:.1f}%)")
    by_family, by_name, count = defaultdict(float), defaultdict(float), defaultdict(int)
    for e in kernels:
        by_family[family(e["name"])] += e["dur"]
        by_name[e["name"]] += e["dur"]
        count[e["name"]] += 1
    for name, dur in sorted(by_family.items(), key=lambda kv: -kv[1]):
        print(f"{100 * dur / busy:6.1f}% of kernel time  {dur / 1e3 / steps:8.1f} ms/step  {name}")
    for name, dur in sorted(by_name.items(), key=lambda kv: -kv[1])[:rows]:
        print(f"{100 * dur / busy:6.1f}%  {dur / 1e3 / steps:8.1f} ms/step  {count[name] // steps:5d}/step  "
              f"{family(name):16s} {name[:110]}")


GAPS = ((10, "< 10 us"), (100, "10-100 us"), (1_000, "0.1-1 ms"), (10_000, "1-10 ms"), (float("inf"), ">= 10 ms"))


def gpu_idle(events: list[dict], start: float, end: float) -> dict[str, float]:
    """The GPU's idle time (us) between `start` and `end`, by gap length: many short gaps mean the host launches
    kernels slower than the GPU runs them; long ones, that the host does other work (data, Python, a sync)
    with none queued."""
    busy = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") in ("kernel", "gpu_memset", "gpu_memcpy") and start <= e["ts"] <= end)
    idle, free_from = dict.fromkeys((label for _, label in GAPS), 0.0), start
    for begin, finish in [*busy, (end, end)]:
        if begin > free_from:
            idle[next(label for limit, label in GAPS if begin - free_from < limit)] += begin - free_from
        free_from = max(free_from, finish)
    return idle


def host_threads(events: list[dict], start: float, end: float) -> dict[int, tuple[dict[str, float], dict[str, int]]]:
    """Each host thread's time (us) and calls by its outermost operators: an operator inside another one is
    counted in the one that holds it."""
    from collections import Counter, defaultdict

    ops = defaultdict(list)
    for e in events:
        if (e.get("cat") in ("cpu_op", "user_annotation") and "dur" in e and start <= e["ts"] <= end
                and not str(e["name"]).startswith("ProfilerStep#")):
            ops[e["tid"]].append(e)
    threads = {}
    for tid, thread in ops.items():
        time, calls, covered_to = defaultdict(float), Counter(), float("-inf")
        for e in sorted(thread, key=lambda e: (e["ts"], -e["dur"])):
            if e["ts"] >= covered_to:
                time[e["name"][:90]] += e["dur"]
                calls[e["name"][:90]] += 1
                covered_to = e["ts"] + e["dur"]
        threads[tid] = (dict(time), dict(calls))
    return threads


def print_idle(events: list[dict], start: float, end: float, steps: int) -> None:
    idle = gpu_idle(events, start, end)
    print(f"GPU idle: {sum(idle.values()) / 1e3 / steps:.1f} ms a step; by gap length: "
          + ", ".join(f"{label} {gap / 1e3 / steps:.1f} ms" for label, gap in idle.items()))


def print_threads(events: list[dict], start: float, end: float, steps: int, rows: int = 8) -> None:
    """Per thread, the time in no operator is Python between operators; on the main thread it also holds the
    wait for the backward, which autograd runs on its own thread."""
    threads = host_threads(events, start, end)
    for tid, (time, calls) in sorted(threads.items(), key=lambda kv: -sum(kv[1][1].values())):
        covered = sum(time.values())
        print(f"host thread {tid}: {covered / 1e3 / steps:.1f} ms a step in operators, "
              f"{(end - start - covered) / 1e3 / steps:.1f} ms in none")
        for name, dur in sorted(time.items(), key=lambda kv: -kv[1])[:rows]:
            print(f"  {dur / 1e3 / steps:8.1f} ms/step  {calls[name] // steps:5d}/step  {name}")


if __name__ == "__main__":
    raise SystemExit(main())

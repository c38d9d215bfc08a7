"""Run directories: the record of one benchmark, written so that it never lies about how it ended.

`runs/RUN_ID/` holds
- `manifest.json`: config, git commit and dirty flag, package versions, hardware, seed, evalset name and
  sha256, status (running | complete | failed), the process that wrote it, and per-step timings;
- `predictions/NAME.jsonl`, `scores.json` (every model scored, and which is baseline and candidate),
  `comparison.json`, `report.md`, `plots/`.
Every file is written atomically. A run whose process died while it said "running" reads as failed.

    {"run_id": "20261128-2104-synthetic-3f9c", "status": "complete", "evalset": {"name": "synthetic-1000",
     "sha256": "..."}, "timings": {"evalset": 0.9, "predict:majority": 0.1, ...}, ...}
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import secrets
import socket
import subprocess
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from harness import storage
from harness.errors import HarnessError

PACKAGES = ("harness", "torch", "transformers", "peft", "bitsandbytes", "trl", "datasets", "accelerate", "pandas",
            "numpy", "scipy", "rapidfuzz", "rich", "matplotlib")


class RunError(HarnessError, ValueError):
    """A run directory is missing or unreadable; the message names it."""


def new_run_id(label: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{label}-{secrets.token_hex(2)}"


def git_state(where: Path) -> dict:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "accelerators": []}
    if importlib.util.find_spec("torch") is not None:  # torch is slow to import: only where it is installed
        import torch
        if torch.cuda.is_available():
            info["accelerators"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


# The stages a training run records; `complete` means every one of them is done, whichever commands did them.
TRAINING_STAGES = ("train", "merge", "generate:base", "generate:merged", "score")


@contextmanager
def open_run(runs_dir: str | Path, *, label: str, config: dict, evalset_manifest: dict,
             stages: tuple[str, ...] = ()) -> Iterator[Path]:
    """Create a run directory marked running. When the command ends it is `failed` (with the error), or
    `complete` once every one of `stages` is done (each marked by `timed` or `continue_run`), else `partial`."""
    run_dir = Path(runs_dir) / new_run_id(label)
    run_dir.mkdir(parents=True)
    manifest = {
        "run_id": run_dir.name,
        "status": "running",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config,
        "seed": config.get("seed"),
        "evalset": {"name": evalset_manifest["name"], "sha256": evalset_manifest["sha256"]},
        "git": git_state(Path(__file__).resolve().parent),
        "packages": package_versions(),
        "hardware": hardware(),
        "process": {"host": socket.gethostname(), "pid": os.getpid()},
        "stages": {"required": list(stages), "done": []},
        "timings": {},
    }
    storage.write_json(run_dir / "manifest.json", manifest)
    started = time.perf_counter()
    try:
        yield run_dir
    except BaseException as err:
        _finish(run_dir, "failed", started, error="".join(traceback.format_exception_only(err)).strip())
        raise
    _finish(run_dir, None, started)


@contextmanager
def continue_run(run_dir: str | Path, command: str) -> Iterator[Path]:
    """Run one more stage (merge, generate) on an existing run: running while it works, then complete or
    failed, so the record always says how the last command on it ended."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest["status"] == "running":
        raise RunError(f"{run_dir}: another process is working on this run (pid {manifest['process']['pid']}).")
    update_manifest(run_dir, lambda m: m.update(status="running", process={"host": socket.gethostname(),
                                                                            "pid": os.getpid()}))
    started = time.perf_counter()
    try:
        yield run_dir
    except BaseException as err:
        _finish(run_dir, "failed", started, error="".join(traceback.format_exception_only(err)).strip(), step=command)
        raise
    _mark_done(run_dir, command)
    _finish(run_dir, None, started, step=command)


@contextmanager
def timed(run_dir: Path, step: str) -> Iterator[None]:
    """Record a step's wall time in the manifest as soon as it ends."""
    started = time.perf_counter()
    yield
    update_manifest(run_dir, lambda m: m["timings"].__setitem__(step, round(time.perf_counter() - started, 3)))
    _mark_done(run_dir, step)


def _mark_done(run_dir: Path, stage: str) -> None:
    def change(manifest: dict) -> None:
        stages = manifest.setdefault("stages", {"required": [], "done": []})
        if stage not in stages["done"]:
            stages["done"].append(stage)
    update_manifest(run_dir, change)


def stages_left(manifest: dict) -> list[str]:
    stages = manifest.get("stages") or {}
    return [s for s in stages.get("required", []) if s not in stages.get("done", [])]


def update_manifest(run_dir: Path, change) -> dict:
    manifest = storage.read_json(run_dir / "manifest.json")
    change(manifest)
    storage.write_json(run_dir / "manifest.json", manifest)
    return manifest


def _finish(run_dir: Path, status: str | None, started: float, error: str | None = None,
            step: str = "total") -> None:
    """Failed, or (status None) complete when no required stage is left, else partial."""
    def change(manifest: dict) -> None:
        manifest["status"] = status or ("partial" if stages_left(manifest) else "complete")
        manifest["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        manifest["timings"][step] = round(time.perf_counter() - started, 3)
        manifest.pop("error", None)
        if error:
            manifest["error"] = error
    update_manifest(run_dir, change)


def read_manifest(run_dir: str | Path) -> dict:
    """The manifest with its effective status: "running" from a process that no longer exists is "failed"."""
    run_dir = Path(run_dir)
    if not (run_dir / "manifest.json").is_file():
        raise RunError(f"{run_dir}: not a run directory (no manifest.json).")
    manifest = storage.read_json(run_dir / "manifest.json")
    if manifest.get("status") == "running" and not _writer_alive(manifest.get("process", {})):
        manifest = {**manifest, "status": "failed", "error": "interrupted: the process that ran it is gone"}
    return manifest


def _writer_alive(process: dict) -> bool:
    if process.get("host") != socket.gethostname():
        return True  # another machine's run: we cannot tell, so we do not call it dead
    try:
        os.kill(int(process["pid"]), 0)
    except (KeyError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def list_runs(runs_dir: str | Path) -> list[dict]:
    """Every run under runs_dir, oldest first, with its effective status and headline accuracy."""
    rows = []
    if not Path(runs_dir).is_dir():
        raise RunError(f"{runs_dir}: no such folder of runs; pass --runs-dir where `harness run` wrote them.")
    for run_dir in sorted(p for p in Path(runs_dir).glob("*") if (p / "manifest.json").is_file()):
        try:
            manifest = read_manifest(run_dir)
            headline = _headline(run_dir)
            evalset = manifest["evalset"]["name"]
        except (storage.RecordError, KeyError, TypeError, AttributeError) as err:  # one bad run is one bad row
            rows.append({"run": run_dir.name, "status": "unreadable", "evalset": str(err)[:80], "created": None,
                         "headline": {}, "total_s": None, "left": []})
            continue
        rows.append({"run": run_dir.name, "status": manifest["status"], "evalset": evalset,
                     "created": manifest.get("created"), "headline": headline,
                     "total_s": manifest.get("timings", {}).get("total"), "left": stages_left(manifest)})
    return rows


def _headline(run_dir: Path) -> dict:
    headline = {}
    if (run_dir / "scores.json").is_file():
        scores = storage.read_json(run_dir / "scores.json")
        for model, data in scores.get("models", {}).items():
            split = data["summary"].get("verbatim") or next(iter(data["summary"].values()), {})
            headline[model] = split.get("all", {}).get("accuracy")
    return headline

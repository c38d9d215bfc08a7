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
from harness.config import PROMPTINGS, RunConfig
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


def recorded_config(run_dir: str | Path) -> RunConfig:
    """The settings a run recorded when it opened, checked (a damaged record is a ConfigError naming the file)."""
    return RunConfig.from_dict(read_manifest(run_dir)["config"], Path(run_dir) / "manifest.json")


@contextmanager
def continue_run(run_dir: str | Path, command: str) -> Iterator[Path]:
    """Run one more stage (merge, generate) on an existing run: running while it works, then complete, partial
    or failed, so the record always says how the last command on it ended. A stage the harness refused (a
    HarnessError: the check failed before anything changed) leaves the status as it was and is recorded under
    `last_refused`; a crash or kill marks the run failed."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest["status"] == "running":
        raise RunError(f"{run_dir}: another process is working on this run (pid {manifest['process'].get('pid')}); "
                       "wait for it to finish.")
    before = {key: manifest[key] for key in ("status", "error", "process", "stages") if key in manifest}

    def start(m: dict) -> None:
        # Until it ends, the stage and what is made from it are not done: a run killed mid-merge must not
        # read as merged, nor its old answers as the new model's.
        stages = m.setdefault("stages", {"required": [], "done": []})
        stale = {command, *invalidated_by(command)}
        stages["done"] = [s for s in stages["done"] if s not in stale]
        m.update(status="running", process={"host": socket.gethostname(), "pid": os.getpid()})
    update_manifest(run_dir, start)
    started = time.perf_counter()
    try:
        yield run_dir
    except HarnessError as err:
        refusal = {"command": command, "error": str(err)}

        def refused(m: dict) -> None:
            m.pop("error", None)
            m.update(before, last_refused=refusal)
        update_manifest(run_dir, refused)
        raise
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
    """Mark `stage` done, and every stage made from its output no longer done: it must be run again."""
    def change(manifest: dict) -> None:
        stages = manifest.setdefault("stages", {"required": [], "done": []})
        stale = set(invalidated_by(stage))
        stages["done"] = [s for s in stages["done"] if s != stage and s not in stale] + [stage]
    update_manifest(run_dir, change)


def invalidated_by(stage: str) -> tuple[str, ...]:
    """The stages whose output was made from `stage`'s: training feeds the merge and everything after it; the
    merge feeds the merged model's answers, the scores and the retention check; any model's answers feed the
    scores."""
    merged_answers = ("generate:merged", *(f"generate:merged-{p}" for p in PROMPTINGS))  # every prompting's
    if stage == "train":
        return (*TRAINING_STAGES[1:], *merged_answers[1:], "retention")
    if stage == "merge":
        return (*merged_answers, "score", "retention")
    if stage.startswith(("generate:", "predict:")):
        return ("score",)
    return ()


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


class ManifestError(RunError):
    """A manifest.json that is not a run's; `problem` is the short reason (for a listing row)."""

    def __init__(self, message: str, problem: str):
        super().__init__(message)
        self.problem = problem


def read_manifest(run_dir: str | Path) -> dict:
    """The manifest with its effective status: "running" from a process that no longer exists is "failed".
    A manifest that is not a run's (an evalset's, or one edited out of shape) is a ManifestError naming the key."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no manifest.json).")
    try:
        manifest = storage.read_json(path)
    except storage.RecordError as err:
        raise ManifestError(f"{err} Restore the run's manifest.json or delete the run.", "not valid JSON") from err
    problem = manifest_problem(manifest)
    if problem is not None:
        if isinstance(manifest, dict) and "run_id" not in manifest and ("files" in manifest or
                                                                         "template_version" in manifest):
            raise ManifestError(f"{path} is an evalset's manifest, not a run's: pass a run directory (one that "
                                "`harness run` or `harness train` wrote under runs/).", problem)
        raise ManifestError(f"{path}: {problem}, so this is not a run's manifest as the harness writes it; restore "
                            "it from a backup or start a new run.", problem)
    if manifest["status"] == "running" and not _writer_alive(manifest.get("process", {})):
        manifest = {**manifest, "status": "failed", "error": "interrupted: the process that ran it is gone"}
    return manifest


def manifest_problem(manifest) -> str | None:
    """What makes `manifest` not a run's manifest (a short phrase naming the key), or None when it is one."""
    def is_str(value) -> bool:
        return isinstance(value, str)
    if not isinstance(manifest, dict):
        return "not a JSON object"
    if "run_id" not in manifest and ("files" in manifest or "template_version" in manifest):
        return "an evalset's manifest, not a run's"
    for key in ("run_id", "status"):
        if not is_str(manifest.get(key)):
            return f"{key} is missing or not a string"
    if not isinstance(manifest.get("config"), dict):
        return "config is missing or not a table"
    model = manifest["config"].get("model")
    if model is not None and not (isinstance(model, dict) and set(model) == {"spec", "path", "kind"}
                                  and all(is_str(v) for v in model.values())):
        return "config.model is not a table of spec, path and kind strings"
    evalset = manifest.get("evalset")
    if not (isinstance(evalset, dict) and is_str(evalset.get("name")) and is_str(evalset.get("sha256"))):
        return "evalset is not a table with name and sha256 strings"
    if not isinstance(manifest.get("timings"), dict):
        return "timings is missing or not a table"
    if "process" in manifest and not isinstance(manifest["process"], dict):
        return "process is not a table"
    stages = manifest.get("stages", {})
    if not isinstance(stages, dict):
        return "stages is not a table"
    if not all(isinstance(stages.get(key, []), list) and all(is_str(s) for s in stages.get(key, []))
               for key in ("required", "done")):
        return "stages.required and stages.done are not lists of stage names"
    return None


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
        try:  # one bad run is one bad row, never a lost listing
            manifest = read_manifest(run_dir)
        except ManifestError as err:
            rows.append(_unreadable(run_dir, f"unreadable manifest: {err.problem}"))
            continue
        try:
            headline = _headline(run_dir)
        except (HarnessError, KeyError, TypeError, AttributeError, ValueError, StopIteration):
            rows.append(_unreadable(run_dir, "unreadable scores.json: not as `harness score` writes it"))
            continue
        rows.append({"run": run_dir.name, "status": manifest["status"], "evalset": manifest["evalset"]["name"],
                     "created": manifest.get("created"), "headline": headline,
                     "total_s": manifest["timings"].get("total"), "left": stages_left(manifest)})
    return rows


def _unreadable(run_dir: Path, why: str) -> dict:
    return {"run": run_dir.name, "status": "unreadable", "evalset": why, "created": None, "headline": {},
            "total_s": None, "left": []}


def _headline(run_dir: Path) -> dict:
    headline = {}
    if (run_dir / "scores.json").is_file():
        scores = storage.read_json(run_dir / "scores.json")
        for model, data in scores.get("models", {}).items():
            split = data["summary"].get("verbatim") or next(iter(data["summary"].values()), {})
            headline[model] = split.get("all", {}).get("accuracy")
    return headline

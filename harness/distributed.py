"""The training stage on several devices: one worker process per device under torchrun (DDP), each running
`training.train_adapter` on its rank's device with its share of every batch; rank 0 alone writes the run's
records (adapter/, training.json, plots/loss.png) and the command's own process carries on with the merge.

    harness run --gpus 2
      -> python -m torch.distributed.run --standalone --nproc-per-node 2 ... -m harness.distributed runs/RUN_ID

The command checks its inputs and opens the run directory first; each worker reads the settings back from the
run's manifest (evalset, model, profile), so the workers train exactly what the run records. With CUDA there is
one worker per GPU, joined by NCCL; without it the workers are CPU processes joined by gloo (what CI tests).
Each rank's output goes to `RUN/logs/train/<torchrun id>/attempt_0/<rank>/{stdout,stderr}.log`; rank 0's is
also shown as it trains.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import storage
from harness.config import ConfigError
from harness.curves import recorded_curve
from harness.errors import HarnessError
from harness.evalsets import load_evalset
from harness.models import ModelSource
from harness.runs import recorded_config
from harness.training import last_complete_checkpoint, per_device_batch, train_adapter


class TrainingError(HarnessError, RuntimeError):
    """A training worker failed; the message names the run and the worker's log."""


def check_world_size(world_size: int, cuda_devices: int, batch_size: int) -> None:
    """Checked before the run directory exists: a process per device, never more processes than GPUs (two
    ranks sharing a GPU would contend for it and prove nothing); CPU processes, any number, where there is no
    CUDA; and a batch that splits evenly over the processes."""
    if world_size < 1:
        raise ConfigError(f"--gpus {world_size}: give the number of devices to train on, 1 or more.")
    if cuda_devices and world_size > cuda_devices:
        raise ConfigError(f"--gpus {world_size}: this machine has {cuda_devices} CUDA device(s); give at most "
                          f"{cuda_devices}.")
    per_device_batch(batch_size, world_size)


def cuda_device_count() -> int:
    import torch
    return torch.cuda.device_count()


def worker_command(run_dir: Path, world_size: int, *, resume: bool = False) -> list[str]:
    """torchrun on this machine (`--standalone`: a free port, no other node), every rank's output to a log in the
    run directory, rank 0's shown too."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={world_size}",
            f"--log-dir={log_dir(run_dir)}", "--tee=3", "--local-ranks-filter=0",
            "-m", "harness.distributed", str(run_dir), *(["--resume"] if resume else [])]


def log_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "logs" / "train"


def train_in_workers(run_dir: Path, world_size: int, *, resume: bool = False) -> dict:
    """Run the training stage as `world_size` torchrun workers and wait; their training.json, or a
    TrainingError naming the run and the logs of the ranks that failed."""
    if resume:
        last_complete_checkpoint(run_dir)  # no checkpoint to resume from is said here, before any worker starts
    earlier = set(rank_logs(run_dir))  # a resumed run keeps the logs of its earlier launches
    done = subprocess.run(worker_command(run_dir, world_size, resume=resume), check=False)
    if done.returncode != 0:
        failed = [path for path in rank_logs(run_dir) if path not in earlier and ends_in_failure(path)]
        where = ("; the log of each rank that failed: " + ", ".join(str(p) for p in failed)) if failed else (
            f"; every rank's output is under {log_dir(run_dir)}")
        raise TrainingError(f"{run_dir}: training on {world_size} processes failed (torchrun exit status "
                            f"{done.returncode}){where}. Fix what the log says and start a new run (or, if it "
                            f"saved a checkpoint, continue it: harness train --resume {run_dir}).")
    if not (Path(run_dir) / "training.json").is_file():
        raise TrainingError(f"{run_dir}: the training workers ended without writing training.json; see the logs "
                            f"under {log_dir(run_dir)}.")
    return storage.read_json(Path(run_dir) / "training.json")


FAILED = "harness worker failed"  # how a worker's last stderr line starts when it stops on an error


def rank_logs(run_dir: Path) -> list[Path]:
    """Every rank's stderr log, of every launch on this run (torchrun makes a folder per launch)."""
    return sorted(log_dir(run_dir).glob("*/attempt_*/*/stderr.log"))


def ends_in_failure(log: Path) -> bool:
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith(FAILED)


def worker_main(argv: list[str]) -> int:
    """One rank: `python -m harness.distributed RUN [--resume]`, as torchrun starts it."""
    import traceback

    import torch.distributed as dist

    run_dir, resume = Path(argv[0]), "--resume" in argv[1:]
    try:
        config = recorded_config(run_dir)
        evalset = load_evalset(config.evalset_dir)
        train_adapter(config.profile, train_rows=list(evalset.train), source=ModelSource(**config.model),
                      run_dir=run_dir, resume=resume, curve=recorded_curve(config, evalset))
    except BaseException as err:  # noqa: BLE001 - said on the log's last line, where the parent looks for it
        if not isinstance(err, HarnessError):
            traceback.print_exc()
        print(f"{FAILED}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))

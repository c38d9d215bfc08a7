"""Training as torchrun workers (DDP): two CPU ranks joined by gloo, one of them answering a recall curve, train the
adapter that one process trains on the same global batch; a world size the machine or the batch cannot take is
refused before anything is written; a worker's failure names the run and the worker's log."""

import dataclasses
import json
from pathlib import Path

import pytest

from harness.config import ConfigError, RunConfig, load_profile
from harness.distributed import FAILED, TrainingError, check_world_size, train_in_workers
from harness.runs import open_run, read_manifest
from harness.training import World, per_device_batch

pytest.importorskip("torch")
# SGD, not the profile's AdamW: Adam's first steps move every weight by about ±lr whatever the size of its
# gradient, so a gradient near zero flips sign with float noise and a max-abs comparison would measure that
# noise; SGD's update is the gradient itself, which is what the ranks must reproduce together.
TINY = ["max_steps=3", "batch_size=4", "logging_steps=1", "save_steps=100", "learning_rate=0.5", "optimizer=sgd",
        "lora_dropout=0"]
# QLoRA under TRL trains and saves the adapter in bf16. LoRA A starts uniform within 1/sqrt(128) < 1/8 (the tiny
# model's width), where one bf16 step is 2**-11; the tolerance is four such steps, since gradients summed over two
# ranks round differently from one batch's. docs/distributed-notes.md has the differences measured.
TOLERANCE = 2e-3


def max_abs_difference(a: Path, b: Path) -> float:
    from safetensors.torch import load_file

    x, y = (load_file(run / "adapter" / "adapter_model.safetensors") for run in (a, b))
    assert x.keys() == y.keys() and x
    return max((x[name].float() - y[name].float()).abs().max().item() for name in x)


@pytest.mark.slow  # two worker processes each import torch, transformers and TRL before they train
def test_two_cpu_ranks_train_the_adapter_one_process_trains(tmp_path, monkeypatch, tiny_source):
    from harness.cli import main
    from harness.curves import read_curve
    from harness.evalsets import load_evalset
    from harness.training import train_adapter

    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--rows", "4", "--name", "e"]) == 0
    overrides = [arg for key in TINY for arg in ("--set", key)]
    # With a recall curve: rank 0 answers while the other rank waits, which must not change what they train.
    assert main(["train", "--evalset", "evalsets/e", "--model", tiny_source.path, "--gpus", "2", *overrides,
                 "--curve", "1"]) == 0
    (two,) = (tmp_path / "runs").iterdir()
    manifest, record = read_manifest(two), json.loads((two / "training.json").read_text())
    assert manifest["config"]["world_size"] == 2 and "train" in manifest["stages"]["done"]
    assert (record["world_size"], record["per_device_batch_size"], record["steps"]) == (2, 2, 3)
    points = read_curve(two)  # written by rank 0 alone: one point each before and after training, no duplicates
    assert [p["step"] for p in points] == [0, 3] and all(p["splits"]["verbatim"]["n"] > 0 for p in points)
    assert record["curve_seconds"] == pytest.approx(sum(p["eval_seconds"] for p in points), abs=0.5)
    assert sorted(p.name for p in (two / "checkpoints" / "checkpoint-3").glob("rng_state*")) == [
        "rng_state_0.pth", "rng_state_1.pth"]  # each rank's, for resuming

    # One process, the run's own recorded settings: the same global batch of 4 records a step.
    profile = RunConfig.from_dict(manifest["config"], "manifest").profile
    rows = list(load_evalset("evalsets/e").train)
    one = train_adapter(profile, train_rows=rows, source=tiny_source, run_dir=tmp_path / "one")
    difference = max_abs_difference(two, tmp_path / "one")
    assert difference <= TOLERANCE, f"2 ranks vs 1 process: max |difference| {difference:.2e}"
    assert record["tokens"] == one["tokens"]  # every rank's tokens counted, once
    for (step, loss), (one_step, one_loss) in zip(record["loss_curve"], one["loss_curve"], strict=True):
        assert step == one_step and loss == pytest.approx(one_loss, rel=1e-4)

    # Not vacuous: a batch of 2 (what two ranks would train if each took the same records) is far outside it.
    half = dataclasses.replace(profile, batch_size=2)
    train_adapter(half, train_rows=rows, source=tiny_source, run_dir=tmp_path / "half")
    assert max_abs_difference(two, tmp_path / "half") > 5 * TOLERANCE


def test_a_failed_worker_names_the_run_and_its_log(tmp_path):
    config = RunConfig(evalset_dir=str(tmp_path / "deleted-evalset"), profile=load_profile("fast", TINY),
                       model={"spec": "m", "path": str(tmp_path / "m"), "kind": "local"}, world_size=2).to_dict()
    with pytest.raises(TrainingError) as err, open_run(tmp_path / "runs", label="gone", config=config,
                                                       evalset_manifest={"name": "gone", "sha256": "0"}) as run_dir:
        train_in_workers(run_dir, 2)
    message = str(err.value)
    assert message.startswith(f"{run_dir}: training on 2 processes failed") and "stderr.log" in message
    log = Path(message.split("the log of each rank that failed: ")[1].split(",")[0].split(". Fix")[0])
    assert log.is_relative_to(run_dir / "logs" / "train")
    assert log.read_text().splitlines()[-1].startswith(f"{FAILED}: EvalsetError: ")
    assert read_manifest(run_dir)["status"] == "failed" and not (run_dir / "training.json").exists()


@pytest.mark.parametrize("world_size, cuda_devices, batch_size, message", [
    (0, 0, 8, r"--gpus 0: give the number of devices to train on, 1 or more"),
    (3, 2, 6, r"--gpus 3: this machine has 2 CUDA device\(s\); give at most 2"),
    (2, 0, 5, r"batch_size = 5 does not split evenly over 2 processes; give a multiple of 2 \(e\.g\. --set "
              r"batch_size=4\)"),
    (4, 0, 3, r"--set batch_size=4\)"),
])
def test_a_world_size_the_machine_or_the_batch_cannot_take_is_refused(world_size, cuda_devices, batch_size, message):
    with pytest.raises(ConfigError, match=message):
        check_world_size(world_size, cuda_devices, batch_size)


def test_without_cuda_any_number_of_processes_splits_the_batch():
    check_world_size(4, 0, 8)  # CPU processes: as many as asked
    check_world_size(2, 2, 100)
    assert per_device_batch(100, 2) == 50 and per_device_batch(8, 1) == 8


@pytest.mark.parametrize("env, kind, device", [
    ({}, "cuda", "cuda"),  # one process keeps the plain name, as before --gpus
    ({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}, "cuda", "cuda:1"),
    ({"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}, "cpu", "cpu"),
])
def test_each_rank_loads_the_model_on_its_own_device(env, kind, device):
    assert World.from_env(env).device(kind) == device


def test_the_cli_refuses_a_world_size_before_writing_anything(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--rows", "4", "--name", "e"]) == 0
    with pytest.raises(SystemExit):  # argparse: a whole number of at least 1
        main(["train", "--evalset", "evalsets/e", "--gpus", "0"])
    assert "--gpus: '0': give a whole number of at least 1" in capsys.readouterr().err
    assert main(["train", "--evalset", "evalsets/e", "--gpus", "3", "--set", "batch_size=4"]) == 2
    assert "batch_size = 4 does not split evenly over 3 processes" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert main(["train", "--resume", str(tmp_path / "runs" / "r"), "--gpus", "2"]) == 2
    assert "--gpus cannot change them" in capsys.readouterr().err

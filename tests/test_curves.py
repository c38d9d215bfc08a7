"""Recall curves: the fixed sample, the steps measured, the points, and a run that writes them."""

import json

import pytest

from harness.curves import CURVE_SPLITS, curve_point, curve_sample, curve_steps
from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.evalsets import build_evalset
from harness.scoring import ItemScore
from harness.synthetic import generate_catalogue


@pytest.fixture(scope="module")
def evalset():
    return build_evalset(get_domain("anime"), table_of(generate_catalogue(40, 0)), name="c", seed=0)


def test_the_sample_is_fixed_and_split_half_verbatim_a_quarter_paraphrase_a_quarter_held_out(evalset):
    sample = curve_sample(evalset, 64, seed=3)
    counts = {split: sum(item.split == split for item in sample) for split in CURVE_SPLITS}
    assert counts == {"verbatim": 32, "paraphrase": 16, "unseen": 16}
    assert [item.id for item in curve_sample(evalset, 64, seed=3)] == [item.id for item in sample]
    assert [item.id for item in curve_sample(evalset, 64, seed=4)] != [item.id for item in sample]
    unseen = sum(item.split == "unseen" for item in evalset.items)
    big = curve_sample(evalset, 100_000)  # a split short of its share gives all it has
    assert sum(item.split == "unseen" for item in big) == unseen and len({i.id for i in big}) == len(big)


@pytest.mark.parametrize(("total", "points", "steps"), [
    (10, 4, {2, 5, 8, 10}),  # evenly spaced, the last step always measured
    (3, 10, {1, 2, 3}),  # more points than steps: each step once
    (10, 0, set()),
    (0, 5, set()),
])
def test_curve_steps(total, points, steps):
    assert curve_steps(total, points) == steps


def test_a_point_counts_each_split_and_leaves_out_absent_ones():
    def score(split, hit):
        return ItemScore(id=f"{split}{hit}", subject_id="1", split=split, field="type", hit=hit, extracted=None,
                         abstained=False, detail={}, verdict="correct" if hit else "wrong")
    scores = [score("verbatim", True), score("verbatim", True), score("verbatim", False), score("unseen", False),
              score("reverse", True)]
    point = curve_point(scores, step=7, epoch=1.23456, train_seconds=12.34, eval_seconds=0.56)
    assert point == {"step": 7, "epoch": 1.235, "train_seconds": 12.3, "eval_seconds": 0.6,
                     "splits": {"verbatim": {"n": 3, "correct": 2, "accuracy": 0.6667},
                                "unseen": {"n": 1, "correct": 0, "accuracy": 0.0}}}


def test_a_trained_run_records_its_curve_and_a_resume_keeps_the_points_before_its_checkpoint(tmp_path, monkeypatch,
                                                                                            tiny_source):
    from harness.cli import main
    from harness.curves import read_curve
    from harness.runs import update_manifest
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("harness.curves.CURVE_SAMPLE", 8)  # a random model answers at full length: keep it short
    assert main(["evalset", "build", "--rows", "6", "--name", "e"]) == 0
    tiny = ["--model", tiny_source.path, "--set", "max_steps=4", "--set", "save_steps=1", "--set", "batch_size=4"]
    assert main(["train", "--evalset", "evalsets/e", *tiny, "--curve", "2"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    points = read_curve(run_dir)
    assert [p["step"] for p in points] == [0, 2, 4]
    assert all(p["eval_seconds"] > 0 for p in points)
    assert [{split: s["n"] for split, s in p["splits"].items()} for p in points] == [
        {"verbatim": 4, "paraphrase": 2, "unseen": 2}] * 3
    assert [p["train_seconds"] for p in points] == sorted(p["train_seconds"] for p in points)
    training = json.loads((run_dir / "training.json").read_text())
    assert training["curve_seconds"] == pytest.approx(sum(p["eval_seconds"] for p in points), abs=0.5)
    assert (run_dir / "plots" / "recall.png").is_file()

    # Each checkpoint keeps the curve's clock at its step (the last two are kept): at a point's step, the
    # point's own reading; between points, a reading between theirs.
    clocks = {step: json.loads((run_dir / "checkpoints" / f"checkpoint-{step}" / "curve_clock.json").read_text())
              ["train_seconds"] for step in (3, 4)}
    assert round(clocks[4], 1) == points[2]["train_seconds"]
    assert points[1]["train_seconds"] - 0.05 <= clocks[3] <= clocks[4]

    # Killed after the step-3 checkpoint, with a step-4 point on record: the resume measures step 4 again, its
    # clock going on from checkpoint-3's reading (set far off here, so only that reading can explain the point).
    import shutil
    shutil.rmtree(run_dir / "checkpoints" / "checkpoint-4")
    (run_dir / "checkpoints" / "checkpoint-3" / "curve_clock.json").write_text('{"train_seconds": 1000.0}')

    def killed(m):
        m["stages"]["done"].remove("train")
        m["status"] = "failed"
    update_manifest(run_dir, killed)
    assert main(["train", "--resume", str(run_dir)]) == 0
    again = read_curve(run_dir)
    assert [p["step"] for p in again] == [0, 2, 4] and again[:2] == points[:2] and again[2] != points[2]
    assert 1000.0 <= again[2]["train_seconds"] < 1000.0 + 60  # one step of a tiny model after the checkpoint


def test_measuring_the_curve_leaves_training_unchanged(tmp_path, tiny_source):
    """The curve answers mid-training; the adapter must come out as it does without a curve (on a CPU with bf16
    kernels, an eval-mode forward of bitsandbytes' 4-bit layers used to repack them and break the backward)."""
    from safetensors.torch import load_file

    from harness.config import load_profile
    from harness.curves import Curve
    from harness.training import train_adapter
    pytest.importorskip("torch")
    evalset = build_evalset(get_domain("anime"), table_of(generate_catalogue(6, 0)), name="t", seed=0)
    config = load_profile("fast", ["max_steps=3", "batch_size=4", "save_steps=100", "learning_rate=1e-2"])
    rows = list(evalset.train)[:12]
    plain = train_adapter(config, train_rows=rows, source=tiny_source, run_dir=tmp_path / "plain")
    measured = train_adapter(config, train_rows=rows, source=tiny_source, run_dir=tmp_path / "curve",
                             curve=Curve(evalset=evalset, points=3, sample_size=4, batch_size=4, max_new_tokens=4))
    assert [p["step"] for p in read_curve_of(tmp_path / "curve")] == [0, 1, 2, 3]
    assert measured["loss_curve"] == pytest.approx(plain["loss_curve"], rel=1e-4)
    a = load_file(tmp_path / "plain" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "curve" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-5 for k in a)


def read_curve_of(run_dir):
    from harness.curves import read_curve
    return read_curve(run_dir)


def test_the_cli_refuses_a_negative_curve_and_a_curve_on_resume_before_writing_anything(tmp_path, monkeypatch,
                                                                                       capsys):
    from harness.cli import main
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):  # argparse
        main(["train", "--evalset", "evalsets/e", "--curve", "-1"])
    assert "--curve: '-1': give a whole number of 0 or more" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    assert main(["train", "--resume", "run", "--curve", "0"]) == 2  # a resume keeps what the run recorded
    assert "--curve cannot change them" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "runs").exists()

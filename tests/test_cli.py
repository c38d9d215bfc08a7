import json
import subprocess
import sys

import pytest

from harness.cli import main


def test_python_dash_m_runs(tmp_path):
    done = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "evalset" in done.stdout


def test_evalset_build_score_compare(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--data", "synthetic", "--rows", "60", "--seed", "4", "--name", "e"]) == 0
    evalset = tmp_path / "evalsets" / "e"
    items = [json.loads(line) for line in (evalset / "eval.jsonl").read_text().splitlines()]
    from harness.baselines import state_fact
    (tmp_path / "good.jsonl").write_text("".join(
        json.dumps({"id": i["id"], "output": state_fact(i["field"], i["gold"])}) + "\n" for i in items))
    (tmp_path / "bad.jsonl").write_text("".join(
        json.dumps({"id": i["id"], "output": "I don't know"}) + "\n" for i in items))
    for name in ("good", "bad"):
        assert main(["score", "--evalset", str(evalset), "--predictions", f"{name}.jsonl"]) == 0
    good = json.loads((tmp_path / "good.scores.json").read_text())
    assert good["summary"]["verbatim"]["all"]["accuracy"] == 1.0
    assert main(["compare", "good.scores.json", "good.scores.json", "--fail-on-drop", "0.02"]) == 0
    assert main(["compare", "good.scores.json", "bad.scores.json", "--fail-on-drop", "0.02", "--out", "c.json"]) == 1
    rows = json.loads((tmp_path / "c.json").read_text())["rows"]
    assert any(r["split"] == "verbatim" and r["field"] == "all" and r["delta"] == -1.0 for r in rows)


def test_bad_csv_fails_cleanly_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("anime_id,Name\n1,X\n")
    assert main(["evalset", "build", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "missing required column" in err
    assert not (tmp_path / "evalsets").exists()
    assert main(["run", "--data", str(bad)]) == 2
    assert not (tmp_path / "runs").exists()


def test_missing_predictions_are_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--rows", "30", "--name", "e"]) == 0
    (tmp_path / "p.jsonl").write_text('{"id": "verbatim-1-genres", "output": "Action"}\n')
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "p.jsonl"]) == 2
    assert "have no prediction" in capsys.readouterr().err
    assert not (tmp_path / "p.scores.json").exists()


def test_runs_list_and_compare_run_dirs(scored_run, monkeypatch, capsys):
    monkeypatch.chdir(scored_run.parent.parent)
    capsys.readouterr()
    assert main(["runs", "list"]) == 0
    assert "complete" in capsys.readouterr().out
    assert main(["compare", str(scored_run)]) == 0  # baseline vs candidate within one run
    assert main(["compare", f"{scored_run}:merged", str(scored_run), "--fail-on-drop", "0.001"]) == 0
    assert main(["compare", f"{scored_run}:merged", f"{scored_run}:base", "--fail-on-drop", "0.02"]) == 1


def test_identical_base_and_merged_answers_fail_the_run(scored_run):
    from harness.comparison import score_run
    from harness.evalsets import load_evalset
    from harness.runs import RunError
    merged = scored_run / "predictions" / "merged.jsonl"
    merged.write_text((scored_run / "predictions" / "base.jsonl").read_text())
    with pytest.raises(RunError, match="gives the base model's answer to every question"):
        score_run(scored_run, load_evalset(scored_run.parent.parent / "evalsets" / "e"))


@pytest.mark.parametrize("argv", [["report", "nowhere"], ["compare", "nowhere.json", "x.json"]])
def test_missing_inputs_are_user_errors(tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2


def test_compare_shows_the_floor_and_how_verdicts_moved(scored_run, tmp_path, capsys):
    items = json.loads((scored_run / "scores.json").read_text())["models"]
    moved = sum(x["split"] == "verbatim" and (x["verdict"], y["verdict"]) == ("wrong_value", "correct")
                for x, y in zip(items["base"]["items"], items["merged"]["items"], strict=True))
    capsys.readouterr()
    assert main(["compare", f"{scored_run}:base", f"{scored_run}:merged", "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "floor %" in out and f"verbatim: wrong_value → correct {moved}" in out
    moves = json.loads((tmp_path / "c.json").read_text())["verdict_moves"]
    assert {"split": "verbatim", "before": "wrong_value", "after": "correct", "n": moved} in moves
    assert all(m["before"] != m["after"] for m in moves)


MERGE = {"onto": "nf4-dequantised", "lora_delta_norm": 1.0, "sample": 16, "agreement": 0.9375, "disagreements": [],
         "alternatives": {}}


def test_harness_run_reports_the_finished_record(tmp_path, monkeypatch):
    """`harness run` with model-free stand-ins for its model stages: report.md is written once the record is
    finished, so it says complete and holds every stage's time and the merge check."""
    import harness.cli as cli
    from harness.baselines import answer_key, majority
    from harness.models import ModelSource
    from harness.storage import write_json, write_jsonl

    def generate(run_dir, model, evalset, source, **options):
        path = run_dir / "predictions" / f"{model}.jsonl"
        write_jsonl(path, (p.to_dict() for p in {"base": majority, "merged": answer_key}[model](evalset)))
        return path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "device_name", lambda: "cpu")
    monkeypatch.setattr(cli, "resolve_model", lambda spec, cache_dir: ModelSource(spec, spec, "local"))
    monkeypatch.setattr(cli, "train_adapter", lambda config, **stage: {})
    monkeypatch.setattr(cli, "merge_adapter", lambda run_dir, source, **_: write_json(run_dir / "merge.json", MERGE))
    monkeypatch.setattr(cli, "generate_for_run", generate)
    assert main(["run", "--rows", "30", "--name", "e", "--batch-size", "4"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = (run_dir / "report.md").read_text()
    assert "- status: **complete**" in report
    timings = next(line for line in report.splitlines() if line.startswith("- timings:"))
    for stage in ("train", "merge", "generate:base", "generate:merged", "score", "total"):
        assert f" {stage} " in timings, stage
    assert "agrees with the adapter on 93.8% of 16 sampled answers" in report
    assert "report" in json.loads((run_dir / "manifest.json").read_text())["timings"]

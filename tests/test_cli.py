import argparse
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
    from harness.domains import get_domain
    anime = get_domain("anime")
    (tmp_path / "good.jsonl").write_text("".join(
        json.dumps({"id": i["id"], "output": state_fact(anime, i["field"], i["gold"])}) + "\n" for i in items))
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
    err = capsys.readouterr().err
    assert "have no prediction" in err and "pass --subset" in err
    assert not (tmp_path / "p.scores.json").exists()


def test_a_subset_is_scored_only_when_asked_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--rows", "30", "--name", "e"]) == 0
    questions = len((tmp_path / "evalsets" / "e" / "eval.jsonl").read_text().splitlines())
    (tmp_path / "p.jsonl").write_text('{"id": "verbatim-1-genres", "output": "Action"}\n')
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "p.jsonl", "--subset"]) == 0
    scores = json.loads((tmp_path / "p.scores.json").read_text())
    assert scores["subset"] == {"answered": 1, "of": questions} and [i["id"] for i in scores["items"]] == [
        "verbatim-1-genres"]
    assert scores["summary"]["verbatim"]["all"]["n"] == 1 and set(scores["summary"]) == {"verbatim"}
    assert f"(1 of its {questions:,} questions)" in capsys.readouterr().out
    (tmp_path / "q.jsonl").write_text('{"id": "nowhere", "output": "Action"}\n')
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "q.jsonl", "--subset"]) == 2
    assert "not in the evalset" in capsys.readouterr().err  # --subset never scores answers to other questions


def test_compare_names_the_models_a_run_has(scored_run, capsys):
    """With one argument, RUN:MODEL is compared with the run's baseline; a model the run lacks is named beside
    those it has (it used to say the run directory had no scores.json)."""
    assert main(["compare", f"{scored_run}:nomodel"]) == 2
    err = capsys.readouterr().err
    assert "no model 'nomodel'" in err and "['base', 'majority', 'merged']" in err and "no scores.json" not in err
    assert main(["compare", f"{scored_run}:merged"]) == 0
    assert "merged vs base" in capsys.readouterr().out


def test_the_ci_gate_names_both_runs(scored_run, capsys):
    """`harness compare BASELINE:merged NEW:merged` compares one model of two runs: the columns say which is the
    baseline, and lines above the table name both runs whole."""
    import shutil
    baseline = scored_run.parent / "cpu-smoke"
    shutil.copytree(scored_run, baseline)
    capsys.readouterr()
    assert main(["compare", f"{baseline}:merged", f"{scored_run}:merged", "--fail-on-drop", "0.1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "split" in line)
    assert "baseline %" in header and "candidate %" in header and "merged %" not in header
    assert f"baseline:  {baseline}:merged\ncandidate: {scored_run}:merged\n" in out
    assert "candidate vs baseline" in out
    assert "baseline → candidate" in out


def test_help_says_what_each_argument_is_and_both_row_defaults(capsys):
    from harness.cli import DEFAULT_CPU_ROWS, DEFAULT_GPU_ROWS, parser
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert f"{DEFAULT_GPU_ROWS} with CUDA, {DEFAULT_CPU_ROWS} on CPU" in " ".join(capsys.readouterr().out.split())
    commands = parser()._subparsers._group_actions[0].choices
    unexplained = [f"{name} {action.dest}" for name, command in commands.items()
                   for action in command._actions if action.help is None and action.dest != argparse.SUPPRESS]
    nested = [f"{name} {action.dest}" for name in ("evalset", "runs")
              for command in commands[name]._subparsers._group_actions[0].choices.values()
              for action in command._actions if action.help is None]
    assert unexplained == [] and nested == []


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


@pytest.mark.parametrize("default", ["chat", "both"])
def test_harness_run_reports_the_finished_record(tmp_path, monkeypatch, capsys, default):
    """`harness run` with model-free stand-ins for its model stages: report.md is written once the record is
    finished, so it says complete and holds every stage's time and the merge check. A model without a chat
    template of its own (default prompting "both") is asked both ways: a second answer set per model, scored
    and reported beside the first."""
    import harness.cli as cli
    from harness.baselines import answer_key, majority
    from harness.models import ModelSource
    from harness.storage import write_json, write_jsonl

    asked = []

    def generate(run_dir, model, evalset, source, name=None, prompting="chat", **options):
        asked.append((model, prompting, name))
        path = run_dir / "predictions" / f"{name or model}.jsonl"
        answers = {"base": majority, "merged": answer_key}[model](evalset)
        if prompting == "fewshot" and model == "base":  # the base few-shot knows one fact more than by chat
            answers[0] = answer_key(evalset)[0]
        write_jsonl(path, (p.to_dict() for p in answers))
        return path

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "device_name", lambda: "cpu")
    monkeypatch.setattr(cli, "resolve_model", lambda spec, cache_dir: ModelSource(spec, spec, "local"))
    monkeypatch.setattr(cli, "default_prompting", lambda source: default)
    monkeypatch.setattr(cli, "train_adapter", lambda config, **stage: {})
    monkeypatch.setattr(cli, "merge_adapter", lambda run_dir, source, **_: write_json(run_dir / "merge.json", MERGE))
    monkeypatch.setattr(cli, "generate_for_run", generate)
    monkeypatch.setattr(cli, "retention_into_run", lambda *a, **k: None)
    assert main(["run", "--rows", "30", "--name", "e", "--batch-size", "4"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    report = (run_dir / "report.md").read_text()
    assert "- status: **complete**" in report
    timings = next(line for line in report.splitlines() if line.startswith("- timings:"))
    both = default == "both"
    stages = ("train", "merge", "generate:base", "generate:merged", "score", "retention", "total",
              *(("generate:base-fewshot", "generate:merged-fewshot") if both else ()))
    for stage in stages:
        assert f" {stage} " in timings, stage
    assert "agrees with the adapter on 93.8% of 16 sampled answers" in report
    assert asked[:2] == [("base", "chat", "base"), ("merged", "chat", "merged")]
    assert asked[2:] == ([("base", "fewshot", "base-fewshot"), ("merged", "fewshot", "merged-fewshot")] if both else [])
    scores = json.loads((run_dir / "scores.json").read_text())["models"]
    assert {m: s["prompting"] for m, s in scores.items()} == {
        "base": "chat", "merged": "chat", "majority": "none",
        **({"base-fewshot": "fewshot", "merged-fewshot": "fewshot"} if both else {})}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["prompting"] == default
    assert ("## Asked fewshot: base-fewshot vs merged-fewshot" in report) == both
    if both:  # the one fact the few-shot base knew shows in its own table, not in the chat one
        verbatim = scores["base-fewshot"]["summary"]["verbatim"]["all"]["hits"]
        assert verbatim == scores["base"]["summary"]["verbatim"]["all"]["hits"] + 1
        assert "asked fewshot" in report.split("**Verdict")[1].split("**")[0].lower()
        capsys.readouterr()  # the question-by-question view of the few-shot pair
        assert main(["report", str(run_dir), "--items", "--model", "merged-fewshot", "--limit", "1"]) == 0
        shown = capsys.readouterr().out
        assert "merged-fewshot" in shown and "base-fewshot" in shown and "1 shown" in shown
    else:
        assert main(["report", str(run_dir), "--items", "--model", "merged-fewshot"]) == 2
        assert "the run was not asked that way" in capsys.readouterr().err
    assert "report" in json.loads((run_dir / "manifest.json").read_text())["timings"]

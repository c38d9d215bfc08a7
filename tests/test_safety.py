"""The hostile retry's data-loss and silent-wrong-result cases: each reproduced, each now a clear error that
leaves the user's files as they were (issue: runs you can rely on)."""

import pytest

from harness.cli import main

BUILD = ["evalset", "build", "--rows", "20", "--seed", "1"]


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_out_at_a_foreign_folder_is_refused_and_kept(here, capsys):
    thesis = here / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work")
    assert main([*BUILD, "--out", "thesis"]) == 2
    assert "not an evalset" in capsys.readouterr().err
    assert (thesis / "chapter1.tex").read_text() == "years of work"
    assert main([*BUILD, "--out", "thesis", "--force"]) == 2  # --force never covers a foreign folder
    assert (thesis / "chapter1.tex").read_text() == "years of work"


def test_out_at_a_file_is_refused_and_kept(here, capsys):
    (here / "notes.txt").write_text("keep me")
    assert main([*BUILD, "--out", "notes.txt"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert (here / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt"]  # no hidden leftovers either


@pytest.mark.parametrize("name", [".", "..", "../../x", "/tmp/abs", "a/b", "x" * 101, "-dash", "sp ace", ""])
def test_names_that_are_paths_are_refused(here, capsys, name):
    (here / "evalsets").mkdir()
    (here / "evalsets" / "keep").mkdir()
    assert main([*BUILD, f"--name={name}"]) == 2
    assert "--name" in capsys.readouterr().err
    assert [p.name for p in (here / "evalsets").iterdir()] == ["keep"]


def test_a_different_evalset_under_the_same_name_needs_force(here, capsys):
    assert main([*BUILD, "--name", "e"]) == 0
    before = (here / "evalsets" / "e" / "manifest.json").read_text()
    assert main([*BUILD, "--name", "e"]) == 0  # the same bytes: nothing to do
    assert main([*BUILD, "--name", "e", "--unseen-fraction", "0.5"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (here / "evalsets" / "e" / "manifest.json").read_text() == before
    assert main([*BUILD, "--name", "e", "--unseen-fraction", "0.5", "--force"]) == 0
    assert (here / "evalsets" / "e" / "manifest.json").read_text() != before
    assert sorted(p.name for p in (here / "evalsets").iterdir()) == ["e"]


def test_default_names_carry_a_non_default_unseen_fraction(here):
    assert main([*BUILD]) == 0
    assert main([*BUILD, "--unseen-fraction", "0.5"]) == 0
    assert sorted(p.name for p in (here / "evalsets").iterdir()) == ["synthetic-20-s1-en", "synthetic-20-s1-en-u0.5"]


@pytest.mark.parametrize("flags", [["--model", "random:unknown"], ["--set", "epochs=-1"], ["--set", "nope=1"],
                                   ["--profile", "missing.toml"]])
def test_run_checks_every_input_before_writing(here, flags):
    assert main(["run", "--rows", "8", "--name", "e", *flags]) == 2
    assert not (here / "evalsets").exists() and not (here / "runs").exists()


@pytest.mark.parametrize("rows", ["-5", "0"])
def test_rows_below_one_are_refused(here, capsys, rows):
    assert main(["evalset", "build", "--rows", rows]) == 2
    assert "rows" in capsys.readouterr().err.lower()
    assert not (here / "evalsets").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "2", "-0.1", "0", "two"])
def test_the_gate_cannot_be_switched_off_by_its_own_argument(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "a.json", "b.json", "--fail-on-drop", value])
    assert exit_.value.code == 2 and "fraction in (0, 1]" in capsys.readouterr().err


def test_every_error_class_is_a_harness_error():
    """The command line catches HarnessError once: an error class outside it would print a traceback."""
    import importlib
    import inspect
    import pkgutil

    import harness
    from harness.errors import HarnessError
    found = []
    for module in (m for m in pkgutil.iter_modules(harness.__path__) if m.name != "__main__"):
        for name, obj in inspect.getmembers(importlib.import_module(f"harness.{module.name}"), inspect.isclass):
            if name.endswith("Error") and obj.__module__.startswith("harness."):
                found.append(obj)
                assert issubclass(obj, HarnessError), obj
    assert len(found) >= 9


def test_an_unreadable_folder_is_a_message_not_a_traceback(here, capsys):
    import os
    if os.geteuid() == 0:
        os.makedirs("evalsets")  # root reads everything: take a path through a file instead
        (here / "evalsets" / "blocker").write_text("a file")
        assert main([*BUILD, "--out", "evalsets/blocker/inner"]) == 2
    else:
        (here / "evalsets").mkdir(mode=0o500)
        assert main([*BUILD]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_score_stage_of_a_run_and_a_rebuilt_evalset_is_refused(scored_run, capsys):
    import json

    from harness.domains import get_domain
    from harness.domains.anime import table_of
    from harness.evalsets import build_evalset, write_evalset
    from harness.synthetic import generate_catalogue
    (scored_run / "scores.json").unlink()
    assert main(["score", str(scored_run)]) == 0
    manifest = json.loads((scored_run / "manifest.json").read_text())
    assert (scored_run / "scores.json").is_file() and "score" in manifest["stages"]["done"]
    evalset_dir = manifest["config"]["evalset_dir"]
    rebuilt = build_evalset(get_domain("anime"), table_of(generate_catalogue(61, 2)), name="e", seed=2)
    write_evalset(rebuilt, evalset_dir, force=True)
    assert main(["score", str(scored_run)]) == 2
    assert "recorded evalset" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--set", "epochs=9"], ["--profile", "article"], ["--model", "x"]])
def test_resume_cannot_silently_change_settings(scored_run, capsys, flags):
    assert main(["train", "--resume", str(scored_run), *flags]) == 2
    assert "cannot change them" in capsys.readouterr().err


def test_a_stage_uses_the_recorded_settings_and_records_an_explicit_change(scored_run):
    from harness.cli import record_setting, stage_setting
    from harness.runs import read_manifest, update_manifest
    update_manifest(scored_run, lambda m: m["config"].__setitem__("max_new_tokens", 32))
    assert stage_setting(scored_run, "max_new_tokens", None, 48) == 32
    assert stage_setting(scored_run, "max_new_tokens", 48, 48) == 48
    assert "changes" not in read_manifest(scored_run)  # nothing recorded until the stage succeeded
    record_setting(scored_run, "generate:merged", "max_new_tokens", 48)
    assert read_manifest(scored_run)["changes"] == [
        {"stage": "generate:merged", "key": "max_new_tokens", "recorded": 32, "now": 48}]


@pytest.mark.parametrize("change, message", [
    (lambda c: c["profile"].__setitem__("epochs", -1), "epochs"),
    (lambda c: c.__setitem__("max_new_tokens", "many"), "max_new_tokens"),
    (lambda c: c.__setitem__("surprise", 1), "unknown key"),
    (lambda c: c.pop("evalset_dir"), "lacks"),
])
def test_a_stage_reads_the_run_config_through_the_validating_loader(scored_run, capsys, change, message):
    from harness.runs import update_manifest
    update_manifest(scored_run, lambda m: change(m["config"]))
    assert main(["score", str(scored_run)]) == 2
    assert message in capsys.readouterr().err



@pytest.mark.parametrize("target, flag", [("mine.jsonl", "--out"), ("evalsets/e/eval.jsonl", "--out"),
                                          ("evalsets/e/manifest.json", "--out"), ("adir", "--out"),
                                          ("notes.txt/x.json", "--out")])
def test_score_never_writes_over_what_it_did_not_make(here, capsys, target, flag):
    import json
    assert main([*BUILD, "--name", "e"]) == 0
    items = [json.loads(x) for x in (here / "evalsets" / "e" / "eval.jsonl").read_text().splitlines()]
    (here / "mine.jsonl").write_text("".join(json.dumps({"id": i["id"], "output": "x"}) + "\n" for i in items))
    (here / "adir").mkdir()
    (here / "notes.txt").write_text("keep")
    before = {p: p.read_bytes() for p in here.rglob("*") if p.is_file()}
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "mine.jsonl", flag, target]) == 2
    assert flag in capsys.readouterr().err
    assert {p: p.read_bytes() for p in here.rglob("*") if p.is_file()} == before
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "mine.jsonl", "--out", "s.json"]) == 0
    assert main(["score", "--evalset", "evalsets/e", "--predictions", "mine.jsonl", "--out", "s.json"]) == 0


def test_compare_never_writes_over_a_run_record(scored_run, capsys):
    manifest = scored_run / "manifest.json"
    before = manifest.read_bytes()
    assert main(["compare", str(scored_run), "--out", str(manifest)]) == 2
    assert main(["compare", str(scored_run), "--html", str(manifest)]) == 2
    assert manifest.read_bytes() == before
    out = scored_run.parent / "c.json"
    assert main(["compare", str(scored_run), "--out", str(out)]) == 0
    assert main(["compare", str(scored_run), "--out", str(out)]) == 0  # its own output may be replaced


def test_resume_of_a_finished_training_is_refused(scored_run, capsys):
    from harness.runs import update_manifest
    update_manifest(scored_run, lambda m: m["stages"]["done"].append("train"))
    assert main(["train", "--resume", str(scored_run)]) == 2
    assert "training is done" in capsys.readouterr().err


@pytest.mark.parametrize("data, name", [("my data!.csv", "my-data-20-s1-en"), ("アニメ.csv", "data-20-s1-en")])
def test_default_names_from_odd_file_names_are_folder_names(here, data, name):
    import shutil
    from pathlib import Path
    shutil.copy(Path(__file__).parent / "data" / "tiny.csv", here / data)
    assert main(["evalset", "build", "--data", data, "--rows", "20", "--seed", "1"]) == 0
    assert [p.name for p in (here / "evalsets").iterdir()] == [name]


def _tamper_manifest(run_dir, change):
    import json
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("command", [["merge"], ["generate", "--model", "base"], ["score"]])
def test_a_stage_pointed_at_an_evalset_folder_is_refused_naming_it(scored_run, capsys, command):
    evalset_dir = scored_run.parent.parent / "evalsets" / "e"
    assert main([command[0], str(evalset_dir), *command[1:]]) == 2
    assert "is an evalset's manifest, not a run's" in capsys.readouterr().err
    assert main(["train", "--resume", str(evalset_dir)]) == 2


@pytest.mark.parametrize("change", [
    lambda m: m["config"].__setitem__("model", {"spec": "x"}),
    lambda m: m.pop("config"),
    lambda m: m.__setitem__("stages", "all"),
    lambda m: m.__setitem__("evalset", None),
])
def test_a_tampered_run_manifest_is_an_error_not_a_traceback(scored_run, capsys, change):
    _tamper_manifest(scored_run, change)
    assert main(["score", str(scored_run)]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["runs", "list", "--runs-dir", str(scored_run.parent)]) == 0


def test_a_refused_stage_leaves_a_complete_run_complete(scored_run, capsys):
    from harness.runs import read_manifest
    _tamper_manifest(scored_run, lambda m: m["evalset"].__setitem__("sha256", "f" * 64))  # as if rebuilt since
    assert main(["score", str(scored_run)]) == 2
    manifest = read_manifest(scored_run)
    assert manifest["status"] == "complete" and "error" not in manifest
    assert manifest["last_refused"]["command"] == "score" and "rebuilt" in manifest["last_refused"]["error"]


def test_a_corrupt_adapter_is_a_merge_error_naming_its_folder(tmp_path):
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, get_peft_model

    from harness.merging import MergeError, _with_adapter
    adapter = tmp_path / "adapter"
    get_peft_model(torch.nn.Sequential(torch.nn.Linear(4, 4)), LoraConfig(r=2, target_modules=["0"])).save_pretrained(
        adapter)
    (adapter / "adapter_model.safetensors").write_bytes(b"not tensors")
    with pytest.raises(MergeError, match=rf"{adapter}: the adapter files cannot be loaded.*retrain.*restore"):
        _with_adapter(torch.nn.Sequential(torch.nn.Linear(4, 4)), adapter)


def test_stale_scores_are_never_shown_beside_new_answers(scored_run, capsys):
    """A re-run stage makes the scores stale until `harness score RUN`: report and --items refuse until then."""
    from harness.runs import TRAINING_STAGES, continue_run, update_manifest
    update_manifest(scored_run, lambda m: m.update(stages={"required": list(TRAINING_STAGES),
                                                           "done": list(TRAINING_STAGES)}))
    assert main(["report", str(scored_run), "--items"]) == 0
    with continue_run(scored_run, "generate:merged"):
        pass
    assert main(["report", str(scored_run), "--items"]) == 2
    assert main(["report", str(scored_run)]) == 2
    assert "harness score" in capsys.readouterr().err
    assert main(["score", str(scored_run)]) == 0
    assert main(["report", str(scored_run), "--items"]) == 0


def test_a_stage_killed_midway_is_not_done(scored_run):
    from harness.runs import continue_run, read_manifest
    with pytest.raises(KeyboardInterrupt), continue_run(scored_run, "merge"):
        raise KeyboardInterrupt  # killed while writing merged/
    done = read_manifest(scored_run)["stages"]["done"]
    assert "merge" not in done and "generate:merged" not in done and "score" not in done


def test_score_out_never_replaces_a_run_record(scored_run, capsys):
    import json
    scores = scored_run / "scores.json"
    before = scores.read_bytes()
    evalset = json.loads((scored_run / "manifest.json").read_text())["config"]["evalset_dir"]
    assert main(["score", "--evalset", evalset, "--predictions", str(scored_run / "predictions" / "merged.jsonl"),
                 "--out", str(scores)]) == 2
    assert "inside a run or evalset folder" in capsys.readouterr().err and scores.read_bytes() == before


def test_evalset_out_through_a_file_is_named(here, capsys):
    (here / "notes.txt").write_text("keep")
    assert main([*BUILD, "--out", "notes.txt/sub"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err

import json
import subprocess
import sys

import pytest

from harness.runs import list_runs, open_run, read_manifest, timed

EVALSET = {"name": "e", "sha256": "0" * 64}


def test_complete_run_records_everything(tmp_path):
    with open_run(tmp_path, label="x", config={"seed": 3}, evalset_manifest=EVALSET) as run_dir:
        with timed(run_dir, "step"):
            pass
        assert read_manifest(run_dir)["status"] == "running"
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "complete" and manifest["seed"] == 3
    assert {"step", "total"} <= set(manifest["timings"])
    assert manifest["evalset"] == EVALSET
    assert {"commit", "dirty"} <= set(manifest["git"])
    assert manifest["packages"]["rapidfuzz"] and "cpus" in manifest["hardware"]


def test_exception_marks_run_failed(tmp_path):
    with pytest.raises(RuntimeError):
        with open_run(tmp_path, label="x", config={}, evalset_manifest=EVALSET):
            raise RuntimeError("boom")
    (run,) = list_runs(tmp_path)
    assert run["status"] == "failed"
    assert "boom" in read_manifest(tmp_path / run["run"])["error"]


def test_killed_process_reads_as_failed_never_complete(tmp_path):
    """A run whose process dies mid-way (SIGKILL: no cleanup ran) says failed, not running or complete."""
    script = (
        "import os, signal, sys\n"
        "from harness.runs import open_run\n"
        f"with open_run({str(tmp_path)!r}, label='k', config={{}}, evalset_manifest={EVALSET!r}):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=False)
    (run,) = list_runs(tmp_path)
    on_disk = json.loads((tmp_path / run["run"] / "manifest.json").read_text())
    assert on_disk["status"] == "running"
    assert run["status"] == "failed"
    assert "interrupted" in read_manifest(tmp_path / run["run"])["error"]


def test_complete_means_every_stage_done_whichever_command_did_it(tmp_path):
    from harness.runs import continue_run
    with open_run(tmp_path, label="x", config={}, evalset_manifest=EVALSET, stages=("train", "merge")) as run_dir:
        with timed(run_dir, "train"):
            pass
    assert read_manifest(run_dir)["status"] == "partial"
    assert list_runs(tmp_path)[0]["left"] == ["merge"]
    with continue_run(run_dir, "merge"):
        pass
    assert read_manifest(run_dir)["status"] == "complete"
    with pytest.raises(RuntimeError), continue_run(run_dir, "merge"):
        raise RuntimeError("killed before its check")
    assert read_manifest(run_dir)["status"] == "failed"


def test_one_corrupt_manifest_is_one_bad_row(tmp_path):
    with open_run(tmp_path, label="good", config={}, evalset_manifest=EVALSET):
        pass
    bad = tmp_path / "20990101-000000-bad-0000"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    rows = {r["run"].split("-")[2]: r["status"] for r in list_runs(tmp_path)}
    assert rows == {"good": "complete", "bad": "unreadable"}


def test_listing_a_missing_folder_is_an_error(tmp_path):
    from harness.runs import RunError
    with pytest.raises(RunError, match="no such folder"):
        list_runs(tmp_path / "nope")


def _tamper(run_dir, change):
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("change, key", [
    (lambda m: m["config"].__setitem__("model", {"spec": "x"}), "config.model"),
    (lambda m: m.pop("config"), "config"),
    (lambda m: m.__setitem__("stages", "all"), "stages"),
    (lambda m: m.__setitem__("evalset", None), "evalset"),
    (lambda m: m["evalset"].__setitem__("sha256", 5), "evalset"),
    (lambda m: m.pop("status"), "status"),
    (lambda m: m.__setitem__("timings", []), "timings"),
    (lambda m: m["stages"].__setitem__("done", "train"), "stages"),
])
def test_a_tampered_manifest_is_a_run_error_naming_the_key(tmp_path, change, key):
    from harness.runs import RunError, continue_run
    with open_run(tmp_path, label="x", config={"model": {"spec": "s", "path": "p", "kind": "local"}},
                  evalset_manifest=EVALSET) as run_dir:
        pass
    _tamper(run_dir, change)
    with pytest.raises(RunError, match=rf"manifest\.json: {key}"):
        read_manifest(run_dir)
    with pytest.raises(RunError), continue_run(run_dir, "score"):
        pass


def test_an_evalset_folder_is_not_a_run(tmp_path):
    from harness.runs import RunError, continue_run
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "e", "sha256": "0" * 64, "template_version": "1",
                                                        "files": {}}))
    with pytest.raises(RunError, match="is an evalset's manifest, not a run's"):
        read_manifest(tmp_path)
    with pytest.raises(RunError, match="evalset's manifest"), continue_run(tmp_path, "merge"):
        pass


def test_malformed_manifests_are_short_unreadable_rows_and_the_listing_survives(tmp_path):
    with open_run(tmp_path, label="good", config={}, evalset_manifest=EVALSET):
        pass
    bodies = {"stages": None, "json": "{not json", "empty": "", "list": "[]", "status": '{"status": 5}'}
    for name, body in bodies.items():
        bad = tmp_path / f"20990101-000000-{name}-0000"
        bad.mkdir()
        if body is None:
            manifest = json.loads(next(tmp_path.glob("*-good-*/manifest.json")).read_text())
            body = json.dumps({**manifest, "stages": "all"})
        (bad / "manifest.json").write_text(body)
    rows = {r["run"].split("-")[2]: r for r in list_runs(tmp_path)}
    assert rows["good"]["status"] == "complete"
    assert rows["stages"]["evalset"] == "unreadable manifest: stages is not a table"
    assert rows["json"]["evalset"] == rows["empty"]["evalset"] == "unreadable manifest: not valid JSON"
    assert rows["list"]["evalset"] == "unreadable manifest: not a JSON object"
    assert all(rows[n]["status"] == "unreadable" for n in bodies)
    assert not any("object" in rows[n]["evalset"] and "attribute" in rows[n]["evalset"] for n in bodies)


@pytest.mark.parametrize("stage, undone", [
    ("merge", {"generate:merged", "score"}),
    ("generate:base", {"score"}),
    ("generate:merged", {"score"}),
    ("train", {"merge", "generate:base", "generate:merged", "score"}),
    ("score", set()),
])
def test_rerunning_a_stage_undoes_the_stages_made_from_it(tmp_path, stage, undone):
    from harness.runs import TRAINING_STAGES, continue_run, stages_left
    with open_run(tmp_path, label="x", config={}, evalset_manifest=EVALSET, stages=TRAINING_STAGES) as run_dir:
        for done in TRAINING_STAGES:
            with timed(run_dir, done):
                pass
    assert read_manifest(run_dir)["status"] == "complete"
    with continue_run(run_dir, stage):
        pass
    manifest = read_manifest(run_dir)
    assert set(stages_left(manifest)) == undone
    assert manifest["status"] == ("partial" if undone else "complete")


def test_a_refused_stage_leaves_the_status_as_it_was(tmp_path):
    from harness.errors import HarnessError
    from harness.runs import continue_run
    with open_run(tmp_path, label="x", config={}, evalset_manifest=EVALSET) as run_dir:
        pass
    with pytest.raises(HarnessError), continue_run(run_dir, "score"):
        raise HarnessError("the evalset was rebuilt")
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "complete" and "error" not in manifest
    assert manifest["last_refused"] == {"command": "score", "error": "the evalset was rebuilt"}
    with pytest.raises(KeyboardInterrupt), continue_run(run_dir, "score"):
        raise KeyboardInterrupt
    assert read_manifest(run_dir)["status"] == "failed"


def test_a_term_signal_stops_a_command_as_ctrl_c_does_and_the_run_reads_failed(tmp_path):
    """`timeout` or a scheduler sends TERM: the run must not read "running" forever (resume would refuse it)."""
    import os
    import signal
    import time

    from harness.cli import sigterm_as_interrupt
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="signal 15"):
        with sigterm_as_interrupt(), open_run(tmp_path, label="x", config={}, evalset_manifest=EVALSET) as run_dir:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler interrupts this
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "failed" and "signal 15" in manifest["error"]
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back


def test_a_terminated_command_exits_130_with_one_line_and_no_traceback(tmp_path):
    script = ("import os, signal, sys, time\n"
              "from harness import cli\n"
              "def stop(args):\n"
              "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(10)\n"
              "cli.cmd_runs_list = stop\n"
              "sys.exit(cli.main(['runs', 'list']))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 130 and "interrupted" in done.stderr and "Traceback" not in done.stderr

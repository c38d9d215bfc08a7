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

"""`harness run` on the real embedded Gemma-3-270M, a handful of steps and questions: every file, the
manifest and the scores complete and sane."""

import json
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow


def test_harness_run_on_the_embedded_model(tmp_path, monkeypatch, embedded_source):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--rows", "3", "--set", "max_steps=3", "--set", "batch_size=4", "--set", "learning_rate=5e-3",
            "--max-new-tokens", "12", "--prompting", "both"]
    assert main(argv) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "error" not in manifest
    # both ways, chat first (the pretrained Gemma's default: tests/test_models.py)
    assert manifest["config"]["prompting"] == "both"
    stages = {"train", "merge", "generate:base", "generate:merged", "generate:base-fewshot",
              "generate:merged-fewshot", "score", "report", "total"}
    assert stages <= set(manifest["timings"])
    assert manifest["config"]["profile"]["batch_size"] == 4 and manifest["config"]["model"]["kind"] == "embedded"
    assert manifest["hardware"]["cpus"] and manifest["packages"]["trl"]
    # retention: 24 countries facts asked few-shot; the pretrained base knows some (it names 23 of 40 capitals)
    retention = json.loads((run_dir / "retention.json").read_text())
    (overall,) = [r for r in retention["rows"] if r["field"] == "all"]
    assert overall["n"] == 24 and overall["accuracy_a"] > 0 and "retention" in manifest["timings"]

    training = json.loads((run_dir / "training.json").read_text())
    assert training["steps"] == 3 and training["tokens"] > 0 and training["device"] == "cpu"
    merge = json.loads((run_dir / "merge.json").read_text())
    assert merge["lora_delta_norm"] > 0 and merge["onto"] == "nf4-dequantised" and merge["sample"] > 0
    assert round(merge["agreement"] * merge["sample"]) == merge["sample"] - len(merge["disagreements"])
    # the merged weights and the adapter, both read in float32, are the same model up to the order of additions,
    # which can still tip one exact near-tie of a model trained three steps ("year" / "years")
    assert merge["dtype"] == "float32" and len(merge["disagreements"]) <= 1, merge["disagreements"]
    for name in ("adapter/adapter_model.safetensors", "merged/model.safetensors", "report.md", "plots/loss.png",
                 "plots/accuracy.png", "comparison.json"):
        assert (run_dir / name).is_file(), name

    evalset_dir = Path(manifest["config"]["evalset_dir"])
    questions = len((evalset_dir / "eval.jsonl").read_text().splitlines())
    scores = json.loads((run_dir / "scores.json").read_text())
    assert set(scores["models"]) == {"base", "merged", "base-fewshot", "merged-fewshot", "majority"}
    for model, data in scores["models"].items():
        assert len(data["items"]) == questions, model
        assert len((run_dir / "predictions" / f"{model}.jsonl").read_text().splitlines()) == questions
        for split, fields in data["summary"].items():  # the summary counts exactly the items it summarises
            in_split = [item for item in data["items"] if item["split"] == split]
            assert fields["all"]["n"] == len(in_split) > 0, (model, split)
            assert fields["all"]["hits"] == sum(item["hit"] for item in in_split), (model, split)
            assert sum(fields["all"]["verdicts"].values()) == len(in_split), (model, split)
    base = scores["models"]["base"]["summary"]
    assert base["verbatim"]["all"]["accuracy"] < 0.2  # fictional facts: the base model cannot know them
    assert not list((run_dir / "predictions").glob("*.partial.jsonl"))

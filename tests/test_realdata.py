"""The real MyAnimeList sample through build and score (skipped where ../shared/data is absent)."""

import json

import pytest

from harness.cli import main

pytestmark = pytest.mark.realdata


def test_real_sample_build_and_score(real_sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--data", str(real_sample), "--name", "mal"]) == 0
    manifest = json.loads((tmp_path / "evalsets" / "mal" / "manifest.json").read_text())
    assert manifest["rows_read"] == 1500 and manifest["rows_kept"] >= 1490
    counts = manifest["counts"]["eval"]
    assert counts["verbatim"]["studios"] > 1000 and counts["reverse"]["title"] > 500 and counts["unseen"]
    items = [json.loads(x) for x in (tmp_path / "evalsets" / "mal" / "eval.jsonl").read_text().splitlines()]
    from harness.baselines import state_fact
    from harness.domains import get_domain
    anime = get_domain("anime")
    (tmp_path / "key.jsonl").write_text("".join(
        json.dumps({"id": i["id"], "output": state_fact(anime, i["field"], i["gold"])}) + "\n" for i in items))
    assert main(["score", "--evalset", "evalsets/mal", "--predictions", "key.jsonl"]) == 0
    summary = json.loads((tmp_path / "key.scores.json").read_text())["summary"]
    # Franchise titles, studios that contain other studios' names, numbers in titles: all credited exactly.
    assert {split: s["all"]["accuracy"] for split, s in summary.items()} == {
        "verbatim": 1.0, "paraphrase": 1.0, "reverse": 1.0, "unseen": 1.0}


def test_real_sample_quirks_are_parsed(real_sample):
    from harness.domains.anime_catalogue import read_catalogue_csv
    records = read_catalogue_csv(real_sample).records
    assert sum(r.english_name is None for r in records) > 300
    assert all(isinstance(r.episodes, int) for r in records if r.episodes is not None)
    assert any(len(r.studios) >= 2 for r in records)
    assert not any("UNKNOWN" in (r.genres + r.studios + r.producers) for r in records)

"""Retention: another domain's facts asked of base and merged, the paired difference, the CI flag."""

import dataclasses

import pytest

from harness.baselines import answer_key, majority
from harness.cli import main
from harness.retention import RETENTION_FIELDS, predictions_path, retention_evalset, score_retention
from harness.storage import write_jsonl


def test_the_retention_sample_is_fixed_and_of_the_retention_fields():
    a, b = retention_evalset(60), retention_evalset(60)
    assert [i.to_dict() for i in a.items] == [i.to_dict() for i in b.items] and a.manifest["sha256"] == \
        b.manifest["sha256"]
    assert len(a.items) == 60 and {i.split for i in a.items} == {"retention"}
    assert {i.field for i in a.items} <= set(RETENTION_FIELDS) and len({i.field for i in a.items}) == 4
    assert all(i.fewshot for i in a.items) and a.manifest["name"] == "retention-countries-60-s0-en"
    assert retention_evalset(60, seed=1).manifest["sha256"] != a.manifest["sha256"]
    assert retention_evalset(60, locale="ko").items[0].question != a.items[0].question


@pytest.fixture
def retained(scored_run):
    """The scored run with retention answers: the base states every fact, the merged model the commonest."""
    evalset = retention_evalset(40)
    for model, predict in (("base", answer_key), ("merged", majority)):
        write_jsonl(predictions_path(scored_run, model), (p.to_dict() for p in predict(evalset)))
    return scored_run, score_retention(scored_run, evalset)


def test_retention_pairs_base_and_merged_and_lists_what_was_forgotten(retained):
    run_dir, record = retained
    (total,) = [r for r in record["rows"] if r["field"] == "all"]
    assert total["split"] == "retention" and total["n"] == 40 and total["accuracy_a"] == 1.0
    assert total["accuracy_b"] < 0.5 and total["ci_high"] < 0
    assert len(record["forgotten"]) == total["forgotten"] > 0
    assert {"question", "gold", "base", "merged"} <= set(record["forgotten"][0])
    assert record["models"]["merged"]["prompting"] == "fewshot"


@pytest.mark.parametrize("bar, code", [(0.05, 1), (1.0, 0)])
def test_compare_fails_on_forgetting_below_the_bar(retained, capsys, bar, code):
    run_dir, _ = retained
    assert main(["compare", str(run_dir), "--fail-on-forgetting", str(bar)]) == code
    assert ("forgetting:" in capsys.readouterr().out) is (code == 1)


def test_fail_on_forgetting_needs_a_run_that_measured_it(scored_run, capsys):
    assert main(["compare", str(scored_run), "--fail-on-forgetting", "0.05"]) == 2
    assert "has no retention.json" in capsys.readouterr().err


def test_the_report_shows_retention_and_the_forgotten_facts(retained):
    run_dir, record = retained
    assert main(["report", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert "## Retention: facts of another domain" in report
    assert record["forgotten"][0]["question"] in report


def test_retention_predictions_must_answer_the_sample(scored_run):
    from harness.scoring import ScoringError
    evalset = retention_evalset(10)
    short = dataclasses.replace(evalset, items=evalset.items[:5])
    for model in ("base", "merged"):
        write_jsonl(predictions_path(scored_run, model), (p.to_dict() for p in answer_key(short)))
    with pytest.raises(ScoringError, match="have no prediction"):
        score_retention(scored_run, evalset)


def test_harness_retention_finishes_a_run_that_stopped_before_it(scored_run, monkeypatch, capsys):
    """A run whose retention stage never ran (the GPU image lacked the countries table) gets it from
    `harness retention RUN`; before its merge is done there is no merged model to ask, and it says so."""
    import harness.cli as cli
    from harness.runs import read_manifest, update_manifest

    assert main(["retention", str(scored_run)]) == 2
    assert "no merged model to ask" in capsys.readouterr().err and not (scored_run / "retention.json").exists()

    def generate(run_dir, model, evalset, source, name=None, **options):  # the base knows, the merged guesses
        predict = answer_key if model == "base" else majority
        write_jsonl(run_dir / "predictions" / f"{name}.jsonl", (p.to_dict() for p in predict(evalset)))

    monkeypatch.setattr(cli, "generate_for_run", generate)
    update_manifest(scored_run, lambda m: m["stages"]["done"].append("merge"))
    assert main(["retention", str(scored_run), "--retention", "12"]) == 0
    assert "retention: base 100.0% → merged" in capsys.readouterr().out
    record = (scored_run / "retention.json").read_text()
    assert '"retention-countries-12-s0-en"' in record
    manifest = read_manifest(scored_run)
    # the run was recorded without retention (0): asking 12 is a change, recorded as one
    assert manifest["changes"][-1] == {"stage": "retention", "key": "retention", "recorded": 0, "now": 12}
    assert "retention" in manifest["stages"]["done"]
    assert manifest["status"] == "complete"

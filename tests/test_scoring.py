import pytest

from harness.baselines import answer_key, majority
from harness.evalsets import build_evalset
from harness.scoring import Prediction, ScoringError, read_predictions, score_predictions, summarise
from harness.storage import RecordError
from harness.synthetic import generate_catalogue


@pytest.fixture(scope="module")
def evalset():
    return build_evalset(generate_catalogue(120, 5), name="s", seed=5)


@pytest.mark.parametrize("locale", ["en", "ko"])
def test_answer_key_scores_everything(locale):
    """The ceiling: a plainly stated gold fact must be credited, in every split and field."""
    evalset = build_evalset(generate_catalogue(120, 5), name="s", seed=5, locale=locale)
    summary = summarise(score_predictions(evalset, answer_key(evalset)))
    assert {split: fields["all"]["accuracy"] for split, fields in summary.items()} == {
        "verbatim": 1.0, "paraphrase": 1.0, "reverse": 1.0, "unseen": 1.0}


def test_majority_is_a_floor(evalset):
    summary = summarise(score_predictions(evalset, majority(evalset)))
    assert 0 < summary["verbatim"]["all"]["accuracy"] < 0.35
    assert summary["reverse"]["title"]["accuracy"] < 0.05


def test_summary_fields(evalset):
    summary = summarise(score_predictions(evalset, answer_key(evalset)))
    genres = summary["verbatim"]["genres"]
    assert genres["hits"] == genres["n"] and genres["ci_low"] < 1.0 == genres["ci_high"]
    assert genres["mean_f1"] == 1.0
    assert summary["verbatim"]["score"]["mean_abs_error"] == 0.0
    assert summary["verbatim"]["score"]["lenient_accuracy"] == 1.0


def test_missing_and_unknown_ids_are_named(evalset):
    predictions = [Prediction(i.id, "x") for i in evalset.items[1:]] + [Prediction("nope-1", "x")]
    with pytest.raises(ScoringError, match=r"preds.jsonl: 1 evalset id\(s\) have no prediction, e\.g\. \['verbatim-.*"
                                           r"1 prediction id\(s\) are not in the evalset, e\.g\. \['nope-1'\]"):
        score_predictions(evalset, predictions, source="preds.jsonl")


def test_abstentions_are_counted(evalset):
    predictions = [Prediction(i.id, "I don't know.") for i in evalset.items]
    summary = summarise(score_predictions(evalset, predictions))
    assert summary["unseen"]["all"]["abstained"] == summary["unseen"]["all"]["n"]
    assert summary["unseen"]["all"]["hits"] == 0


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "output": "x"}\n{"id": "a", "output": "y"}\n', "appears more than once"),
    ('{"id": "a"}\n', r"line 1: missing key\(s\) \['output'\]"),
    ('{"id": "a", "output": "x"}\nnot json\n', "line 2: not valid JSON"),
    ('["a"]\n', "line 1: expected a JSON object"),
])
def test_bad_prediction_files(tmp_path, content, message):
    path = tmp_path / "p.jsonl"
    path.write_text(content)
    with pytest.raises((ScoringError, RecordError), match=message):
        read_predictions(path)


def test_large_evalsets_are_scored_in_processes_with_the_same_result(evalset, monkeypatch):
    """Scoring splits into spawned processes above a size; the scores are the serial ones, in order."""
    import harness.scoring as scoring
    predictions = [Prediction(id=item.id, output=f"Maybe {item.question}") for item in evalset.items]
    predictions[::3] = [Prediction(id=p.id, output="It is 12.") for p in predictions[::3]]
    serial = score_predictions(evalset, predictions)
    monkeypatch.setattr(scoring, "PARALLEL_FROM", 10)
    monkeypatch.setattr(scoring, "PARALLEL_CHUNK", max(1, len(evalset.items) // 3))
    assert scoring.scoring_workers(len(evalset.items)) == min(2, __import__("os").cpu_count() or 1)
    assert score_predictions(evalset, predictions) == serial

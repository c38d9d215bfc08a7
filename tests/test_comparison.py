import pytest

from harness.baselines import answer_key, majority
from harness.comparison import (
    ComparisonError,
    VerdictMove,
    compare_scores,
    floor_summary,
    load_scores,
    regressions,
    verdict_moves,
)
from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.evalsets import build_evalset, write_evalset
from harness.scoring import Prediction, score_file, score_predictions
from harness.storage import write_json, write_jsonl
from harness.synthetic import generate_catalogue


@pytest.fixture(scope="module")
def evalset():
    return build_evalset(get_domain("anime"), table_of(generate_catalogue(150, 7)), name="c", seed=7)


def scored(evalset, predictions, name, tmp_path):
    path = tmp_path / f"{name}.jsonl"
    write_jsonl(path, (p.to_dict() for p in predictions))
    data = score_file(evalset, score_predictions(evalset, predictions), model=name, predictions_path=path)
    write_json(tmp_path / f"{name}.scores.json", data)
    return {**data, "source": name}


def test_learned_and_forgotten_are_counted(evalset, tmp_path):
    key = {p.id: p for p in answer_key(evalset)}
    floor = {p.id: p for p in majority(evalset)}
    # B knows everything about even anime and forgets what A knew about odd ones.
    a = [key[i.id] if i.subject_id % 2 else floor[i.id] for i in evalset.items]
    b = [key[i.id] if i.subject_id % 2 == 0 else Prediction(i.id, "no idea") for i in evalset.items]
    rows = compare_scores(scored(evalset, a, "a", tmp_path), scored(evalset, b, "b", tmp_path))
    row = next(r for r in rows if r.split == "verbatim" and r.field == "all")
    items = [i for i in evalset.items if i.split == "verbatim"]
    odd = sum(1 for i in items if i.subject_id % 2)
    assert row.forgotten == odd
    assert row.n == len(items) and row.ci_low <= row.delta <= row.ci_high
    assert row.accuracy_b - row.accuracy_a == pytest.approx(row.delta)


def test_gate_fires_only_on_a_drop_beyond_noise(evalset, tmp_path):
    key = answer_key(evalset)
    good = scored(evalset, key, "good", tmp_path)
    bad = scored(evalset, [Prediction(p.id, "no idea") for p in key], "bad", tmp_path)
    assert regressions(compare_scores(good, good), 0.02) == []
    dropped = regressions(compare_scores(good, bad), 0.02)
    assert {(r.split, r.field) for r in dropped} >= {("verbatim", "all"), ("paraphrase", "episodes")}


def test_different_evalsets_are_refused(evalset, tmp_path):
    other = build_evalset(get_domain("anime"), table_of(generate_catalogue(150, 8)), name="other", seed=8)
    a = scored(evalset, answer_key(evalset), "a", tmp_path)
    b = scored(other, answer_key(other), "b", tmp_path)
    with pytest.raises(ComparisonError, match="different evalsets"):
        compare_scores(a, b)


def test_load_scores_from_file_and_run(evalset, tmp_path):
    data = scored(evalset, answer_key(evalset), "m", tmp_path)
    assert load_scores(tmp_path / "m.scores.json")["model"] == "m"
    run = tmp_path / "run"
    write_json(run / "scores.json", {"baseline": "m", "candidate": "m", "models": {"m": data}})
    assert load_scores(run)["model"] == "m" and load_scores(f"{run}:m")["model"] == "m"
    with pytest.raises(ComparisonError, match="no model 'x'"):
        load_scores(f"{run}:x")
    with pytest.raises(ComparisonError, match="no score file"):
        load_scores(tmp_path / "missing")
    write_evalset(evalset, tmp_path / "ev")
    with pytest.raises(ComparisonError, match="not a score file"):
        load_scores(tmp_path / "ev" / "manifest.json")


# id, split, class under A, class under B
MOVES_TABLE = [
    ("1", "verbatim", "echo", "correct"),
    ("2", "verbatim", "echo", "correct"),
    ("3", "verbatim", "wrong_value", "correct"),
    ("4", "verbatim", "correct", "correct"),
    ("5", "verbatim", "correct", "declined"),
    ("6", "verbatim", "correct", "declined"),
    ("7", "verbatim", "correct", "declined"),
    ("8", "unseen", "empty", "echo"),
    ("9", "paraphrase", "echo", "correct"),
    ("10", "paraphrase", "partial", "partial"),
]


def hand_made(column: int, order=slice(None)) -> dict:
    items = [{"id": row[0], "split": row[1], "verdict": row[column]} for row in MOVES_TABLE[order]]
    return {"evalset": {"name": "t", "sha256": "0" * 64}, "items": items, "source": f"column {column}"}


def test_verdict_moves_count_pairs_per_split_largest_first():
    moves = verdict_moves(hand_made(2), hand_made(3, slice(None, None, -1)))  # paired by id, not by position
    assert moves == [VerdictMove("verbatim", "correct", "declined", 3),
                     VerdictMove("verbatim", "echo", "correct", 2),
                     VerdictMove("verbatim", "wrong_value", "correct", 1),
                     VerdictMove("paraphrase", "echo", "correct", 1),
                     VerdictMove("unseen", "empty", "echo", 1)]
    assert verdict_moves(hand_made(2), hand_made(2)) == []
    with pytest.raises(ComparisonError, match="different questions"):
        verdict_moves(hand_made(2), hand_made(3, slice(1, None)))


def test_floor_comes_from_a_run_on_the_same_evalset(evalset, tmp_path):
    data = scored(evalset, answer_key(evalset), "m", tmp_path)
    floor = scored(evalset, majority(evalset), "majority", tmp_path)
    run = tmp_path / "run"
    write_json(run / "scores.json", {"baseline": "m", "candidate": "m", "models": {"m": data, "majority": floor}})
    sha = evalset.manifest["sha256"]
    plain = tmp_path / "m.scores.json"
    assert floor_summary(plain, f"{run}:m", sha256=sha) == floor["summary"]
    assert floor_summary(plain, sha256=sha) is None
    assert floor_summary(run, sha256="f" * 64) is None


@pytest.mark.parametrize("damage, message", [
    (lambda item: item.__setitem__("hit", "yes"), r"item 1 \(id '.*'\): hit = 'yes' must be a bool"),
    (lambda item: item.pop("id"), r"item 1 \(id None\): id = None must be a str"),
    (lambda item: item.pop("split"), "split = None must be a str"),
    (lambda item: item.__setitem__("field", 3), "field = 3 must be a str"),
    (lambda item: item.__setitem__("subject_id", 1.5), "subject_id = 1.5 must be a whole number or text"),
    (lambda item: item.__setitem__("subject_id", True), "subject_id = True must be a whole number or text"),
    (lambda item: item.pop("subject_id"), "subject_id = None must be a whole number or text"),
])
def test_damaged_score_items_name_the_file_and_item(evalset, tmp_path, damage, message):
    import json
    scored(evalset, answer_key(evalset), "m", tmp_path)
    path = tmp_path / "m.scores.json"
    data = json.loads(path.read_text())
    damage(data["items"][0])
    write_json(path, data)
    with pytest.raises(ComparisonError, match=rf"m\.scores\.json: .*{message}"):
        load_scores(path)


def test_score_files_that_name_the_anime_compare_as_before(evalset, tmp_path):
    """Score files before harness.scores/3 carry `anime_id`: read as the subject id, clustering included."""
    import json
    floor = scored(evalset, majority(evalset), "floor", tmp_path)
    key = scored(evalset, answer_key(evalset), "key", tmp_path)
    data = json.loads((tmp_path / "floor.scores.json").read_text())
    for item in data["items"]:
        item["anime_id"] = item.pop("subject_id")
    write_json(tmp_path / "old.scores.json", data)
    old = load_scores(tmp_path / "old.scores.json")
    assert compare_scores(old, key) == compare_scores(floor, key)

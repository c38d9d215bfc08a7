import pytest

from harness.baselines import answer_key, majority
from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.evalsets import build_evalset
from harness.scoring import Prediction, ScoringError, read_predictions, score_predictions, summarise
from harness.storage import RecordError
from harness.synthetic import generate_catalogue

ANIME = get_domain("anime")


@pytest.fixture(scope="module")
def evalset():
    return build_evalset(ANIME, table_of(generate_catalogue(120, 5)), name="s", seed=5)


@pytest.mark.parametrize("locale", ["en", "ko"])
def test_answer_key_scores_everything(locale):
    """The ceiling: a plainly stated gold fact must be credited, in every split and field."""
    evalset = build_evalset(ANIME, table_of(generate_catalogue(120, 5)), name="s", seed=5, locale=locale)
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


def test_large_evalsets_are_scored_in_processes_with_the_same_result(evalset):
    """Scoring in spawned processes gives the serial scores, in order (two workers forced, on any machine)."""
    predictions = [Prediction(id=item.id, output=f"Maybe {item.question}") for item in evalset.items]
    predictions[::3] = [Prediction(id=p.id, output="It is 12.") for p in predictions[::3]]
    serial = score_predictions(evalset, predictions, workers=1)
    assert score_predictions(evalset, predictions, workers=2) == serial


@pytest.mark.parametrize("questions, cpus, workers", [
    (19_999, 16, 1), (20_000, 16, 4), (368_710, 16, 16), (368_710, 2, 2), (40_000, 1, 1)])
def test_scoring_workers_by_size_and_cores(questions, cpus, workers, monkeypatch):
    import harness.scoring as scoring
    monkeypatch.setattr(scoring.os, "cpu_count", lambda: cpus)
    assert scoring.scoring_workers(questions) == workers


# --- the defect classes of the 2026-11 blind audit, each as a table of answers through the whole scorer ---

AUDIT_LEXICON = {
    "companies": {"Production I.G": [], "Lantis": [], "Anime R": [], "animate": [], "Sunrise": [],
                  "Animation Do": [], "Bones": [], "Toei Animation": ["Toei"], "Rushifu Pictures": ["Rushifu"],
                  "Sebashi Animation": ["Sebashi"], "Age": [], "Network": [], "TV Tokyo": [], "Bandai Visual": []},
    "genres": {"Action": [], "Comedy": [], "Sci-Fi": ["science fiction"]},
    "type": {"TV": ["TV", "TV series"], "Movie": ["movie", "film"], "OVA": ["OVA"], "Special": ["special"]},
    "title": {"Sola": [], "Sprite: Between Two Worlds": [], "Kidou Senshi Gundam 0083: Stardust Memory":
              ["Mobile Suit Gundam 0083"], "Grappler Baki (TV)": [], "Sci-fi Harry": [], "X": []},
}


def _judge(field, question, answer, gold, subject):
    from harness.evalsets import QAItem
    from harness.scoring import score_items, scoring_context
    item = QAItem(id="q", subject_id=1, split="paraphrase", field=field, question=question, gold=gold, subject=subject)
    (score,) = score_items([(item, answer)], scoring_context(AUDIT_LEXICON, ANIME))
    return score


@pytest.mark.parametrize("field, question, answer, gold, subject, hit, verdict", [
    # 1. words of the sentence frame are not companies
    ("producers", "What production companies were involved in Sola?",
     "The production companies behind Sola are Lantis.", ["Lantis"], "Sola", True, "correct"),
    ("producers", "Who produced the anime Sola?", "The anime Sola was produced by Lantis.", ["Lantis"], "Sola",
     True, "correct"),
    ("studios", "Which studio animated Sola?", "Sola was animated by Sunrise.", ["Sunrise"], "Sola", True, "correct"),
    ("studios", "What animation studio made Sola?", "The animation studio behind Sola is Bones.", ["Bones"], "Sola",
     True, "correct"),
    ("producers", "Who produced the anime Sola?", "Sola was produced by Lantis and Age.", ["Lantis", "Age"], "Sola",
     True, "correct"),  # 'Age' the company, spelled as its name
    ("producers", "Who produced the anime Sola?", "Sola was produced by Lantis for an adult age group.", ["Lantis"],
     "Sola", True, "correct"),  # 'age' the word
    ("producers", "Who produced the anime Sola?", "Sola was produced by animate.", ["animate"], "Sola", True,
     "correct"),
    # 2. an echo of the question is never credited, and is its own class
    ("episodes", "How many episodes long is Sprite: Between Two Worlds?",
     "How many episodes long is Sprite: Between Two Worlds? How many episodes", 2, "Sprite: Between Two Worlds",
     False, "echo"),
    ("type", "What kind of production is X: series, film or something else?",
     "What kind of production is X: series, film or something else?", "Movie", "X", False, "echo"),
    ("type", "What kind of production is X: series, film or something else?",
     "X: series, film or something else is a TV series.", "TV", "X", True, "correct"),
    ("type", "What type of release is Sola?", "What is the release date of the movie?", "Movie", "Sola", False,
     "echo"),
    ("type", "Grappler Baki (TV)의 작품 유형을 알려 주세요.", "Baki (TV)의 작품 유형을 알려 주세요.", "TV",
     "Grappler Baki (TV)", False, "echo"),
    # 4. a different company that shares the distinctive word
    ("producers", "Who produced the anime Sola?", "Sola was produced by Rushifu Records.", ["Rushifu Pictures"],
     "Sola", False, "wrong_value"),
    ("studios", "Which studio animated Sola?", "Sola was animated by Sebashi Broadcasting.", ["Sebashi Animation"],
     "Sola", False, "wrong_value"),
    ("studios", "Which studio animated Sola?", "Sola was animated by Toei Company.", ["Toei Animation"], "Sola",
     False, "wrong_value"),
    ("studios", "Which studio animated Sola?", "Sola was animated by Toei.", ["Toei Animation"], "Sola", True,
     "correct"),
    ("type", "What format is Sola?", "The format of Sola is TV Tokyo and Bandai Visual.", "TV", "Sola", False,
     "other_field"),  # a company holding a type word is a company
    # 5. a number of the title is not the answer
    ("episodes", "How many episodes does Kidou Senshi Gundam 0083: Stardust Memory have?",
     "Gundam 0083 has 13 episodes.", 13, "Kidou Senshi Gundam 0083: Stardust Memory", True, "correct"),
    ("episodes", "How many episodes long is Sola?", "Sola is a one-episode special.", 1, "Sola", True, "correct"),
    ("episodes", "How many episodes long is Sola?", "Just one.", 1, "Sola", True, "correct"),
    ("genres", "What kind of anime is Sci-fi Harry?", "The genres are Action and Sci-Fi.", ["Action", "Sci-Fi"],
     "Sci-fi Harry", True, "correct"),  # a title word that is also the answer stays
    # 6. strict score is equal at two decimals
    ("score", "What is the MyAnimeList score of Sola?", "Sola has a score of 5.59.", 5.58, "Sola", False,
     "wrong_value"),
    # the other classes
    ("episodes", "How many episodes long is Sola?", "Sola was released as an OVA.", 13, "Sola", False,
     "other_field"),
    ("genres", "What kind of anime is Sola?", "Sola is an Action anime.", ["Action", "Comedy"], "Sola", False,
     "partial"),
    ("genres", "What kind of anime is Sola?", "I don't know.", ["Action"], "Sola", False, "declined"),
    ("genres", "What kind of anime is Sola?", "", ["Action"], "Sola", False, "empty"),
    ("genres", "What kind of anime is Sola?", "Sola is a story about a girl who loves the sky.", ["Action"], "Sola",
     False, "no_value"),
])
def test_audit_defect_classes(field, question, answer, gold, subject, hit, verdict):
    score = _judge(field, question, answer, gold, subject)
    assert (score.hit, score.verdict) == (hit, verdict), score


@pytest.mark.parametrize("field, answer, gold, hit, extracted", [
    ("scored_by", "Sola is rated R - 17+ and 914,193 users have scored it.", 914193, True, [914193]),
    ("scored_by", "Sola is rated PG-13; 2,749 users have scored it.", 2749, True, [2749]),
    ("episodes", "Sola is rated PG-13 and has 13 episodes.", 13, True, [13]),
    ("episodes", "Sola is rated PG-13 (Teens 13 or older) and has 12 episodes.", 12, True, [12]),
    ("episodes", "Sola is rated PG-13.", 13, False, []),  # the rating's 13 is no count
    ("score", "Sola is rated PG-13 and scores 7.10.", 7.1, True, 7.1),
])
def test_numbers_of_a_rating_are_not_answers(field, answer, gold, hit, extracted):
    """The anime domain's rating numbers ('PG-13', '17+') are taken out before a numeric field is matched."""
    score = _judge(field, "Tell me about Sola.", answer, gold, "Sola")
    assert (score.hit, score.extracted) == (hit, extracted), score


def test_item_scores_carry_the_subject_id_and_read_the_old_key(evalset):
    from harness.scoring import ItemScore
    (score,) = score_predictions(evalset, [Prediction(evalset.items[0].id, "x")], subset=True)
    row = score.to_dict()
    assert row["subject_id"] == evalset.items[0].subject_id and "anime_id" not in row
    old = {**{k: v for k, v in row.items() if k != "subject_id"}, "anime_id": row["subject_id"]}
    assert ItemScore.from_dict(row) == ItemScore.from_dict(old) == score  # score files before harness.scores/3


def test_partial_names_what_is_missing_and_extra():
    score = _judge("genres", "What kind of anime is Sola?", "Sola is an Action and Sci-Fi anime.",
                   ["Action", "Comedy"], "Sola")
    assert score.detail["missing"] == ["Comedy"] and score.detail["extra"] == ["Sci-Fi"]


def test_verdicts_are_counted_in_the_summary(evalset):
    scores = score_predictions(evalset, [Prediction(i.id, "" if n % 2 else i.question)
                                         for n, i in enumerate(evalset.items)])
    counts = summarise(scores)["verbatim"]["all"]["verdicts"]
    verbatim = [s for s in scores if s.split == "verbatim"]
    assert counts["empty"] == sum(s.verdict == "empty" for s in verbatim) > 0
    assert counts["echo"] == sum(s.verdict == "echo" for s in verbatim) > 0
    assert sum(counts.values()) == len(verbatim)


@pytest.mark.parametrize("line, message", [
    ('{"id": "a", "output": 12}', "output must be text"),
    ('{"id": "a", "output": null}', "output must be text"),
    ('{"id": "a", "output": ["x"]}', "output must be text"),
    ('{"id": "a", "output": NaN}', "output must be text"),
    ('{"id": true, "output": "x"}', "id must be text"),
    ('{"id": ["a"], "output": "x"}', "id must be text"),  # unhashable: checked before the duplicate look-up
    ('{"id": {"a": 1}, "output": "x"}', "id must be text"),
])
def test_non_text_answers_are_errors_naming_the_record(tmp_path, line, message):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "ok", "output": "fine"}\n' + line + "\n")
    with pytest.raises(ScoringError, match=f"record 2.*{message}"):
        read_predictions(path)


def test_answers_made_for_another_evalset_are_refused(evalset):
    """English answers on the Korean evalset share every id: the evalset sha256 they carry tells them apart."""
    korean = build_evalset(ANIME, table_of(generate_catalogue(120, 5)), name="s-ko", seed=5, locale="ko")
    english_key = answer_key(evalset)
    assert {p.id for p in english_key} == {i.id for i in korean.items}
    with pytest.raises(ScoringError, match="made for evalset sha256"):
        score_predictions(korean, english_key)
    assert score_predictions(evalset, english_key)  # and on their own evalset they score

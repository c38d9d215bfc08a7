import pytest

from harness.catalogue import AnimeRecord
from harness.templates import (
    FACT_FIELDS,
    FORMS,
    LOCALES,
    fact_values,
    join_names,
    render_article,
    render_form,
    render_reverse,
)

FULL = AnimeRecord(anime_id=7, name="Kazehana no Tabi", english_name="Wind Flower Journey", other_name="カゼハナ",
                   score=7.5, genres=("Adventure", "Fantasy"), synopsis="A painter travels.", type="TV", episodes=1,
                   producers=("Dentsu",), studios=("Sunrise",), rating="PG-13", scored_by=914193)
BARE = AnimeRecord(anime_id=8, name="Fumei")


def test_article_formats_fix_the_articles_defects():
    question, answer = render_article("GI2", FULL, "en")
    assert question == "Who were the producers and animation studio of Wind Flower Journey?"
    assert "1 episode." in answer and "1.0" not in answer  # whole numbers print whole
    no_english = AnimeRecord(anime_id=9, name="Hoshizora", genres=("Comedy",))
    question, answer = render_article("GI1", no_english, "en")
    assert question == "What is the anime Hoshizora about?"  # never "UNKNOWN aka Hoshizora"
    assert answer == "The anime Hoshizora is a Comedy anime."  # the missing synopsis drops its clause


def test_article_gi3_states_rating_count_and_score():
    _, answer = render_article("GI3", FULL, "en")
    assert answer == ("Kazehana no Tabi is rated PG-13 - Teens 13 or older. 914,193 users have scored it. "
                      "Its score is 7.50.")


def test_record_without_facts_renders_nothing():
    assert all(render_article(t, BARE, "en") is None for t in ("GI1", "GI2", "GI3"))
    assert render_reverse(BARE, "en") is None


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("field", FACT_FIELDS)
def test_every_form_renders_without_placeholders_or_missing_markers(locale, field):
    for pool in ("train", "heldout"):
        assert len(FORMS[locale][field][pool]) >= 2
        for form in FORMS[locale][field][pool]:
            question, answer = render_form(form, FULL, locale)
            for text in (question, answer):
                assert "{" not in text and "UNKNOWN" not in text and "None" not in text and "nan" not in text
            assert FULL.name in question


@pytest.mark.parametrize("locale", LOCALES)
def test_train_and_heldout_questions_differ(locale):
    for field in FACT_FIELDS:
        train = {f.question for f in FORMS[locale][field]["train"]}
        heldout = {f.question for f in FORMS[locale][field]["heldout"]}
        assert not train & heldout


@pytest.mark.parametrize("locale, expected", [("en", "a, b and c"), ("ko", "a, b, c")])
def test_join_names(locale, expected):
    assert join_names(("a", "b", "c"), locale) == expected
    assert join_names(("a",), locale) == "a"


def test_fact_values_formats_numbers():
    values = fact_values(FULL, "en")
    assert values["scored_by"] == "914,193" and values["score"] == "7.50" and values["episodes_phrase"] == "1 episode"
    assert values["a_genres"] == "an Adventure and Fantasy"


def test_reverse_question_names_facts_not_title():
    question = render_reverse(FULL, "en")
    assert FULL.name not in question and "Sunrise" in question and "1 episode" in question


def test_a_value_ending_in_a_full_stop_ends_the_sentence_once():
    from harness.catalogue import AnimeRecord
    from harness.templates import FORMS, render_article, render_form
    record = AnimeRecord(1, "Hoshi", studios=("Poji Inc.",), producers=("A.C.G.T.",), episodes=12)
    _, answer = render_form(FORMS["en"]["studios"]["train"][0], record, "en")
    assert answer == "Hoshi was animated by Poji Inc."
    _, article = render_article("GI2", record, "en")
    assert ".." not in article and "produced by A.C.G.T. It was animated by Poji Inc. It has 12 episodes." in article

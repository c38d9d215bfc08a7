import pytest

from harness.domains import anime, fill, join_names
from harness.domains.anime import (
    ARTICLE_CLAUSES,
    ARTICLE_QUESTIONS,
    DOMAIN,
    FIELD_NAMES,
    FORMS,
    REVERSE_FIELDS,
    REVERSE_QUESTION,
    TEMPLATE_VERSION,
    article_rows,
    subject_of,
)
from harness.domains.anime_catalogue import AnimeRecord
from harness.evalsets import render_form

FULL = subject_of(AnimeRecord(anime_id=7, name="Kazehana no Tabi", english_name="Wind Flower Journey",
                              other_name="カゼハナ", score=7.5, genres=("Adventure", "Fantasy"),
                              synopsis="A painter travels.", type="TV", episodes=1, producers=("Dentsu",),
                              studios=("Sunrise",), rating="PG-13", scored_by=914193))
BARE = subject_of(AnimeRecord(anime_id=8, name="Fumei"))


def article(subject, locale="en") -> dict[str, tuple[str, str]]:
    """template -> (question, answer), for the article formats the subject has clauses for."""
    return {template: (question, answer) for template, question, answer in article_rows(subject, locale)}


def render_reverse(subject, locale="en") -> str | None:
    if not all(subject.has(f) for f in REVERSE_FIELDS):
        return None
    return fill(REVERSE_QUESTION[locale], anime.values(subject, locale))


def test_domain_declares_the_anime_fields_and_templates():
    assert FIELD_NAMES == ("genres", "studios", "producers", "episodes", "score", "rating", "scored_by", "type")
    assert DOMAIN.field_names == FIELD_NAMES and DOMAIN.locales == ("en", "ko")
    assert DOMAIN.template_version == TEMPLATE_VERSION == "2026.11-3"
    assert set(ARTICLE_QUESTIONS) == set(ARTICLE_CLAUSES) == set(REVERSE_QUESTION) == set(DOMAIN.locales)


def test_article_formats_fix_the_articles_defects():
    question, answer = article(FULL)["GI2"]
    assert question == "Who were the producers and animation studio of Wind Flower Journey?"
    assert "1 episode." in answer and "1.0" not in answer  # whole numbers print whole
    no_english = subject_of(AnimeRecord(anime_id=9, name="Hoshizora", genres=("Comedy",)))
    assert list(article(no_english)) == ["GI1"]  # formats without a clause are left out
    question, answer = article(no_english)["GI1"]
    assert question == "What is the anime Hoshizora about?"  # never "UNKNOWN aka Hoshizora"
    assert answer == "The anime Hoshizora is a Comedy anime."  # the missing synopsis drops its clause


def test_article_rows_come_in_template_order():
    assert [template for template, _, _ in article_rows(FULL, "en")] == ["GI1", "GI2", "GI3"]
    assert DOMAIN.training_extras(FULL, "en") == article_rows(FULL, "en")


def test_article_gi3_states_rating_count_and_score():
    _, answer = article(FULL)["GI3"]
    assert answer == ("Kazehana no Tabi is rated PG-13 - Teens 13 or older. 914,193 users have scored it. "
                      "Its score is 7.50.")


def test_record_without_facts_renders_nothing():
    assert article_rows(BARE, "en") == []
    assert not any(BARE.has(f) for f in FIELD_NAMES)
    assert render_reverse(BARE, "en") is None


@pytest.mark.parametrize("locale", DOMAIN.locales)
@pytest.mark.parametrize("field", FIELD_NAMES)
def test_every_form_renders_without_placeholders_or_missing_markers(locale, field):
    values = anime.values(FULL, locale)
    for pool in ("train", "heldout"):
        assert len(FORMS[locale][field][pool]) >= 2
        for form in FORMS[locale][field][pool]:
            question, answer = render_form(form, values)
            for text in (question, answer):
                assert "{" not in text and "UNKNOWN" not in text and "None" not in text and "nan" not in text
            assert FULL.name in question


@pytest.mark.parametrize("locale", DOMAIN.locales)
def test_train_and_heldout_questions_differ(locale):
    for field in FIELD_NAMES:
        train = {f.question for f in FORMS[locale][field]["train"]}
        heldout = {f.question for f in FORMS[locale][field]["heldout"]}
        assert not train & heldout


@pytest.mark.parametrize("locale, expected", [("en", "a, b and c"), ("ko", "a, b, c")])
def test_join_names(locale, expected):
    assert join_names(("a", "b", "c"), locale) == expected
    assert join_names(("a",), locale) == "a"


def test_fact_values_formats_numbers():
    values = anime.values(FULL, "en")
    assert values["scored_by"] == "914,193" and values["score"] == "7.50" and values["episodes_phrase"] == "1 episode"
    assert values["a_genres"] == "an Adventure and Fantasy"
    assert DOMAIN.values(FULL, "en") == values


def test_missing_facts_have_no_placeholder():
    values = anime.values(BARE, "en")
    assert values == {"title": "Fumei", "title_english": "Fumei", "title_aka": "Fumei"}


def test_reverse_question_names_facts_not_title():
    question = render_reverse(FULL, "en")
    assert FULL.name not in question and "Sunrise" in question and "1 episode" in question


def test_a_value_ending_in_a_full_stop_ends_the_sentence_once():
    subject = subject_of(AnimeRecord(1, "Hoshi", studios=("Poji Inc.",), producers=("A.C.G.T.",), episodes=12))
    _, answer = render_form(FORMS["en"]["studios"]["train"][0], anime.values(subject, "en"))
    assert answer == "Hoshi was animated by Poji Inc."
    _, article_answer = article(subject)["GI2"]
    assert ".." not in article_answer
    assert "produced by A.C.G.T. It was animated by Poji Inc. It has 12 episodes." in article_answer


def test_template_words_are_the_frame_of_every_template():
    words = DOMAIN.template_words()
    assert {"which", "genres", "animated", "synopsis", "reviews", "장르는"} <= words  # forms, article, reverse
    assert "series" in words  # the type phrases of several words ('a TV series')
    assert not any("{" in w or "}" in w for w in words)
    assert "title" not in words and "title_english" not in words  # placeholders are left out

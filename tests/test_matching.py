"""Every matcher's table of hits and near-misses. A near-miss that scores as a hit is a lie in every report."""

import re

import pytest

from harness.domains import get_domain, lexicons
from harness.domains.anime import (
    DOMAIN,
    GENRE_ALIASES,
    GENRE_DISTRACTORS,
    GENRES,
    TYPE_ALIASES,
    match_rating,
    subject_of,
)
from harness.domains.anime_catalogue import AnimeRecord
from harness.matching import (
    Lexicon,
    build_lexicon,
    company_aliases,
    extract_numbers,
    find_mentions,
    is_abstention,
    match_category,
    match_companies,
    match_count,
    match_decimal,
    match_large_count,
    match_names,
    match_title,
    matcher_for,
    normalise_company,
    normalise_text,
    strip_echo,
)

GENRE_LEXICON = build_lexicon({g: GENRE_ALIASES.get(g, ()) for g in (*GENRES, *GENRE_DISTRACTORS)})
COMPANIES = ["Sunrise", "Sunrise Beyond", "Studio Deen", "Kyoto Animation", "Production I.G", "Madhouse",
             "J.C.Staff", "Toei Animation", "Bandai Visual", "Comstock, Ltd.", "A-1 Pictures"]
COMPANY_LEXICON = build_lexicon({c: company_aliases(c)[1:] for c in COMPANIES}, normalise_company)
TITLES = [AnimeRecord(1, "Bishoujo Senshi Sailor Moon"), AnimeRecord(2, "Bishoujo Senshi Sailor Moon R"),
          AnimeRecord(3, "Bishoujo Senshi Sailor Moon S"), AnimeRecord(4, "Cowboy Bebop", english_name="Space Cowboys"),
          AnimeRecord(5, "I''s"), AnimeRecord(6, "X")]
TITLE_LEXICON = build_lexicon(lexicons(DOMAIN, [subject_of(r) for r in TITLES])["title"])
TYPE_LEXICON = build_lexicon(TYPE_ALIASES)


def without_rating_numbers(output: str) -> str:
    """What the anime scorer hands a numeric field's matcher: the numbers of a rating ('PG-13', '17+') taken out,
    since they state no count."""
    return re.sub(DOMAIN.number_noise, " ", output, flags=re.IGNORECASE)


@pytest.mark.parametrize("text, expected", [
    ("Sci-Fi", "sci fi"),
    ("Studio Deen, Inc.", "studio deen inc"),
    ("Ｓｕｎｒｉｓｅ", "sunrise"),
    ("Sunrise입니다", "sunrise 입니다"),
    ("Action & Adventure", "action and adventure"),
])
def test_normalise_text(text, expected):
    assert normalise_text(text) == expected


@pytest.mark.parametrize("output, gold, hit", [
    ("It is an Action, Comedy and Sci-Fi anime.", ["Action", "Comedy", "Sci-Fi"], True),
    ("action / comedy / science fiction", ["Action", "Comedy", "Sci-Fi"], True),
    ("Genres: Slice-of-life, Gourmet", ["Slice of Life", "Gourmet"], True),
    ("Adventures and Mystery", ["Adventure", "Mystery"], True),  # a plural, ratio >= 90
    ("Sci Fi", ["Sci-Fi"], True),
    ("Sports", ["Sports"], True),
    ("The Sport genre.", ["Sports"], True),
    ("Action and Comedy", ["Action", "Comedy", "Sci-Fi"], False),  # a subset is a miss
    ("Action, Comedy, Sci-Fi and Romance", ["Action", "Comedy", "Sci-Fi"], False),  # a superset is a miss
    ("Action, Comedy, Sci-Fi, Mecha", ["Action", "Comedy", "Sci-Fi"], False),  # a theme counts against it
    ("It is dramatic and romantic.", ["Drama", "Romance"], False),  # adjectives are not genres
    ("", ["Drama"], False),
    ("Sci-Fi아니메입니다", ["Sci-Fi"], True),
])
def test_match_genres(output, gold, hit):
    assert match_names(output, gold, GENRE_LEXICON).hit is hit


def test_match_genres_reports_partial_credit():
    match = match_names("Action and Comedy", ["Action", "Comedy", "Sci-Fi"], GENRE_LEXICON)
    assert match.extracted == ["Action", "Comedy"]
    assert match.detail["precision"] == 1.0 and match.detail["recall"] == pytest.approx(2 / 3)
    assert match.detail["f1"] == pytest.approx(0.8)


@pytest.mark.parametrize("output, gold, hit", [
    ("It was animated by Sunrise.", ["Sunrise"], True),
    ("sunrise inc.", ["Sunrise"], True),
    ("Sunrise Beyond made it.", ["Sunrise"], False),  # a different studio that contains the gold's name
    ("Sunrise Beyond made it.", ["Sunrise Beyond"], True),
    ("Deen", ["Studio Deen"], True),
    ("Studio DEEN", ["Studio Deen"], True),
    ("Kyoto Animation", ["Kyoto Animation"], True),
    ("Kyoto", ["Kyoto Animation"], True),  # the trailing 'Animation' may be dropped
    ("Toei", ["Kyoto Animation"], False),
    ("JC Staff", ["J.C.Staff"], True),
    ("Production IG", ["Production I.G"], True),
    ("Madhouse and Sunrise", ["Sunrise"], False),  # naming several where one is right is not a hit
    ("Madhouse and Production I.G", ["Madhouse", "Production I.G"], True),
    ("Madhouse", ["Madhouse", "Production I.G"], False),
    ("Comstock", ["Comstock, Ltd."], True),
    ("A-1 Pictures", ["A-1 Pictures"], True),
    ("Studio Pierrot", ["Sunrise"], False),  # an unknown studio is not the gold
    ("애니메이션 스튜디오는 Madhouse입니다.", ["Madhouse"], True),
])
def test_match_companies(output, gold, hit):
    assert match_companies(output, gold, COMPANY_LEXICON).hit is hit


@pytest.mark.parametrize("output, gold, hit", [
    ("It has 26 episodes.", 26, True),
    ("26", 26, True),
    ("twenty-six episodes", 26, True),
    ("Twenty six episodes", 26, True),
    ("It has 1.0 episodes.", 1, True),  # the article's formatting defect is still the right number
    ("It is one episode long.", 1, True),
    ("It is one of the best, with 12 episodes.", 12, True),  # 'one' as a pronoun is not a number
    ("112 episodes", 12, False),  # never a substring match
    ("12 or 13 episodes", 12, False),  # more than one distinct answer
    ("12 episodes (12 in total)", 12, True),  # one distinct number, said twice
    ("It has 2nd season with 12 episodes", 12, True),  # ordinals are not counts
    ("13 episodes", 12, False),
    ("I don't know.", 12, False),
    ("총 26화입니다.", 26, True),
    ("2.5 episodes", 2, False),
])
def test_match_episodes(output, gold, hit):
    assert match_count(without_rating_numbers(output), gold).hit is hit


@pytest.mark.parametrize("output, subject, gold, hit", [
    ("Gundam 0083 has 13 episodes.", "Gundam 0083", 13, True),  # the title's number is not an answer
    ("gundam 0083 has 13 episodes.", "Gundam 0083", 13, True),
    ("Lupin III: $1 Money Wars has 1 episode.", "Lupin III: $1 Money Wars", 1, True),
    ("It has 83 episodes.", "Gundam 0083", 13, False),
])
def test_title_echo_is_not_an_answer(output, subject, gold, hit):
    assert match_count(without_rating_numbers(strip_echo(output, subject)), gold).hit is hit


@pytest.mark.parametrize("output, gold, strict, lenient", [
    ("Its score is 8.75.", 8.75, True, True),
    ("8.75/10", 8.75, True, True),
    ("Out of 10, it scores 8.75.", 8.75, True, True),  # the first decimal, not the first number
    ("8.76", 8.75, False, True),  # strict is equal at two decimals: a neighbouring value is not
    ("5.59", 5.58, False, True),
    ("8.5", 8.50, True, True),
    ("8.8", 8.75, False, True),
    ("8.9", 8.75, False, False),
    ("About 9 out of 10", 8.75, False, False),
    ("It is rated PG-13 and scores 7.10", 7.1, True, True),
    ("No idea", 7.0, False, False),
])
def test_match_score(output, gold, strict, lenient):
    match = match_decimal(without_rating_numbers(output), gold)
    assert match.hit is strict and match.detail["lenient_hit"] is lenient


def test_match_score_error():
    assert match_decimal("7.5", 7.0).detail["abs_error"] == pytest.approx(0.5)
    assert match_decimal("nothing", 7.0).detail["abs_error"] is None


@pytest.mark.parametrize("output, gold, decimals, lenient, bounds, strict, lenient_hit", [
    ("It scores 4.2.", 4.2, 1, 0.5, (0, 5), True, True),  # one decimal: 4.2 is 4.20
    ("It scores 4.24.", 4.2, 1, 0.5, (0, 5), True, True),  # equal at one decimal
    ("It scores 4.26.", 4.2, 1, 0.5, (0, 5), False, True),
    ("It scores 4.8.", 4.2, 1, 0.5, (0, 5), False, False),  # 0.6 off, past the lenient 0.5
    ("Out of 5, it scores 4.5.", 4.5, 2, 0.1, (0, 5), True, True),
    ("It scores 7.5.", 7.5, 2, 0.1, (0, 5), False, False),  # out of bounds: no answer
    ("It scores 75.5 points.", 75.5, 1, 1.0, (0, 100), True, True),
])
def test_match_decimal_follows_the_fields_declaration(output, gold, decimals, lenient, bounds, strict, lenient_hit):
    match = match_decimal(output, gold, decimals=decimals, lenient=lenient, bounds=bounds)
    assert match.hit is strict and match.detail["lenient_hit"] is lenient_hit


@pytest.mark.parametrize("output, gold, hit", [
    ("914,193 users have scored it.", 914193, True),
    ("914193 users", 914193, True),
    ("About 915,000 users", 914193, True),  # within 1%
    ("914.2k users", 914193, True),
    ("0.9 million users", 914193, False),  # 1.6% off
    ("It is rated R - 17+ by 914,193 users", 914193, True),  # the rating's 17 is not a count
    ("914,193 users scored it 8.75", 914193, True),  # a score is not a count
    ("900,000 or 914,193 users", 914193, False),
    ("2,749명의 사용자가 점수를 매겼습니다.", 2749, True),
    ("1801 users", 18010, False),
])
def test_match_scored_by(output, gold, hit):
    assert match_large_count(without_rating_numbers(output), gold).hit is hit


@pytest.mark.parametrize("output, gold, relative, hit", [
    ("About 950,000 users", 914193, 0.01, False),  # 3.9% off
    ("About 950,000 users", 914193, 0.05, True),  # within 5%
    ("1.1 million users", 914193, 0.05, False),  # 20% off
    ("1.1 million users", 914193, 0.25, True),
])
def test_match_large_count_takes_the_fields_tolerance(output, gold, relative, hit):
    assert match_large_count(output, gold, relative=relative).hit is hit


@pytest.mark.parametrize("output, gold, numbers", [
    ("It is rated R - 17+ by 914,193 users", 914193, [17, 914193]),
    ("Rated PG-13, 2,749 users scored it", 2749, [13, 2749]),
])
def test_rating_numbers_are_the_scorers_to_remove(output, gold, numbers):
    """The generic matchers count every number; the anime domain declares the rating's numbers as noise, which
    the scorer takes out before a numeric field is matched."""
    assert match_large_count(output, gold).extracted == numbers and not match_large_count(output, gold).hit
    assert match_large_count(without_rating_numbers(output), gold).extracted == [gold]


@pytest.mark.parametrize("field, matcher", [
    ("genres", match_names), ("studios", match_companies), ("producers", match_companies),
    ("episodes", match_count), ("rating", match_rating), ("type", match_category),
])
def test_anime_fields_are_matched_by_their_kind(field, matcher):
    assert matcher_for(get_domain("anime").field(field)) is matcher


@pytest.mark.parametrize("field, matcher, keywords, output, gold, hit", [
    ("score", match_decimal, {"decimals": 2, "lenient": 0.1, "bounds": (0.0, 10.0)}, "Its score is 8.75.", 8.75, True),
    ("score", match_decimal, {"decimals": 2, "lenient": 0.1, "bounds": (0.0, 10.0)}, "Its score is 8.76.", 8.75, False),
    ("scored_by", match_large_count, {"relative": 0.01}, "914,193 users scored it 8.75", 914193, True),
    ("scored_by", match_large_count, {"relative": 0.01}, "0.9 million users", 914193, False),
])
def test_anime_numeric_fields_keep_the_old_tolerances(field, matcher, keywords, output, gold, hit):
    bound = matcher_for(DOMAIN.field(field))
    assert bound.func is matcher and keywords.items() <= bound.keywords.items()
    assert bound(output, gold, {}).hit is hit


@pytest.mark.parametrize("output, gold, hit", [
    ("It is rated PG-13 - Teens 13 or older.", "PG-13", True),
    ("Rated PG-13.", "PG-13", True),
    ("rated pg13", "PG-13", True),
    ("Teens 13 or older", "PG-13", True),
    ("It is rated PG.", "PG-13", False),
    ("R - 17+ (violence & profanity)", "R", True),
    ("R+ - Mild Nudity", "R", False),
    ("R+ - Mild Nudity", "R+", True),
    ("Rx - Hentai", "Rx", True),
    ("G - All Ages", "G", True),
    ("PG or PG-13", "PG-13", False),
    ("관람 등급은 PG-13입니다.", "PG-13", True),
    ("a good show", "G", False),  # a lowercase letter is not a rating
])
def test_match_rating(output, gold, hit):
    assert match_rating(output, gold).hit is hit


@pytest.mark.parametrize("output, gold, hit", [
    ("It is a TV series.", "TV", True),
    ("A movie.", "Movie", True),
    ("It is an OVA.", "OVA", True),
    ("a TV special", "Special", True),  # the longer name wins over 'TV'
    ("a TV series and a movie", "TV", False),
    ("극장판 작품입니다.", "Movie", True),
    ("It is an ONA.", "OVA", False),  # no fuzzy matching between three-letter codes
])
def test_match_type(output, gold, hit):
    assert match_category(output, gold, TYPE_LEXICON).hit is hit


@pytest.mark.parametrize("output, gold, hit", [
    ("It is Cowboy Bebop.", "Cowboy Bebop", True),
    ("Space Cowboys", "Cowboy Bebop", True),  # an alias of the same anime
    ("It is Cowboy Bebopp.", "Cowboy Bebop", True),  # a typo, close to one title only
    ("Bishoujo Senshi Sailor Moon", "Bishoujo Senshi Sailor Moon", True),
    ("Bishoujo Senshi Sailor Moon S", "Bishoujo Senshi Sailor Moon", False),  # a franchise sibling
    ("Bishoujo Senshi Sailor Moon S", "Bishoujo Senshi Sailor Moon S", True),
    ("Bishoujo Senshi Sailor Moon Q", "Bishoujo Senshi Sailor Moon S", False),  # close to two: names neither
    ("Cowboy Bebop or Bishoujo Senshi Sailor Moon R", "Cowboy Bebop", False),
    ("It is I''s.", "I''s", True),
    ("It is a show.", "I''s", False),  # short titles do not hide in common words
])
def test_match_title(output, gold, hit):
    assert match_title(output, gold, TITLE_LEXICON).hit is hit


@pytest.mark.parametrize("text, expected", [
    ("26 episodes", [26.0]),
    ("914,193 users", [914193.0]),
    ("1.5k", [1500.0]),
    ("twenty-six", [26.0]),
    ("a hundred", [100.0]),
    ("none", []),
])
def test_extract_numbers(text, expected):
    assert extract_numbers(text) == expected


def test_find_mentions_is_ordered_and_uses_tokens_once():
    assert find_mentions("Comedy then Action then comedy", GENRE_LEXICON) == ["Comedy", "Action"]


def test_ambiguous_alias_names_nobody():
    lexicon = build_lexicon({"Alpha Works": ["shared"], "Beta Works": ["shared"]})
    assert "shared" not in lexicon and "alpha works" in lexicon


@pytest.mark.parametrize("output, declined", [
    ("I don't know.", True),
    ("I'm not sure about that anime.", True),
    ("잘 모르겠습니다.", True),
    ("It has 12 episodes.", False),
])
def test_is_abstention(output, declined):
    assert is_abstention(output) is declined


def test_lexicon_index_finds_what_a_plain_mapping_finds():
    """The indexed lexicon (forms by token count, then by length, for the exact length filter of the fuzzy
    pass) names exactly what the same forms as a plain dict name, near-misses and ambiguities included."""
    texts = ["It is Hoshimura no Kazeri, I think", "Hoshimura no Kazery", "jc staff and Kyoto Animaton",
             "Sailor Moon X or Action", "Comedy then Action then comedy", "scifi, slice-of-life"]
    for lexicon in (TITLE_LEXICON, COMPANY_LEXICON, GENRE_LEXICON):
        assert isinstance(lexicon, Lexicon)
        for text in texts:
            assert find_mentions(text, lexicon) == find_mentions(text, dict(lexicon))


def test_fuzzy_length_filter_is_exact():
    """No form the filter skips could have reached the threshold: `ratio` is bounded by the lengths."""
    from rapidfuzz import fuzz
    span = "hoshimura no kazeri"
    for other in ("hoshimura no kazer", "hoshimura no kazeri desu", "hoshimura", "h" * 40):
        bound = 200 * min(len(span), len(other)) / (len(span) + len(other))
        assert fuzz.ratio(span, other) <= bound + 1e-9


def test_fuzzy_length_filter_keeps_a_form_that_reaches_the_threshold_exactly():
    """11 characters against 9 can reach ratio 90 exactly (the prefix): the filter must not drop it."""
    from harness.matching import _fuzzy_name
    lexicon = Lexicon({"abcdefghi": "Nine"})
    assert _fuzzy_name("abcdefghijk", lexicon.by_token_count[1], lexicon, 90.0) == "Nine"
    assert _fuzzy_name("abcdefghijkl", lexicon.by_token_count[1], lexicon, 90.0) is None

"""The anime domain: MyAnimeList's table of anime (the Kaggle `anime-dataset-2023.csv`, or its synthetic twin).

Declares the eight fact fields the harness asks about, their vocabularies (MAL's genres, types and age
ratings), and the question and answer templates: the article's three training formats (GI1 genres and
synopsis; GI2 producers, studio and episodes; GI3 rating, users who scored it and score) and, per field,
paraphrased single-field forms, some trained and some held out, in English and Korean. Example row, as the
pipeline sees it:

    Subject(id=1, name="Cowboy Bebop", aliases={"english_name": "Cowboy Bebop", "other_name": "カウボーイビバップ"},
            facts={"genres": ("Action", "Award Winning", "Sci-Fi"), "studios": ("Sunrise",),
                   "producers": ("Bandai Visual",), "episodes": 26, "score": 8.75,
                   "rating": "R", "scored_by": 914193, "type": "TV"},
            notes={"synopsis": "Crime is timeless. ..."})

    render_form(FORMS["en"]["episodes"]["train"][0], values)
    -> ("How many episodes does Hoshimura no Kazeri have?", "Hoshimura no Kazeri has 13 episodes.")

The article's two defects are fixed: a missing English name falls back to the romaji Name (never "UNKNOWN aka
..."), and whole numbers print as whole numbers (never "1.0 episodes"). A missing fact drops its clause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from harness.domains import Domain, FactField, Reverse, Subject, Table, fill, forms, join_names
from harness.domains.anime_catalogue import RATINGS, AnimeRecord, Catalogue, first_rows, read_catalogue_csv
from harness.matching import Match

TEMPLATE_VERSION = "2026.11-3"  # evalsets/README.md says what each version changed
DEFAULT_ROWS = 1000  # synthetic anime when --rows is not given

# MyAnimeList's genre vocabulary, as in the 2023 Kaggle table.
GENRES = (
    "Action", "Adventure", "Avant Garde", "Award Winning", "Boys Love", "Comedy", "Drama", "Ecchi", "Erotica",
    "Fantasy", "Girls Love", "Gourmet", "Hentai", "Horror", "Mystery", "Romance", "Sci-Fi", "Slice of Life",
    "Sports", "Supernatural", "Suspense",
)
# MAL themes, demographics and retired genres a model may name instead: recognised so that naming them
# costs precision, never silently ignored.
GENRE_DISTRACTORS = (
    "Mecha", "Music", "School", "Isekai", "Psychological", "Military", "Historical", "Space", "Parody",
    "Martial Arts", "Harem", "Shounen", "Shoujo", "Seinen", "Josei", "Kids", "Samurai", "Vampire",
    "Thriller", "Magic", "Idols", "Super Power", "Mythology", "Detective", "Survival", "Time Travel",
)
GENRE_ALIASES = {
    "Sci-Fi": ("science fiction", "scifi"),
    "Boys Love": ("shounen ai", "yaoi"),
    "Girls Love": ("shoujo ai", "yuri"),
    "Avant Garde": ("avant-garde", "experimental"),
    "Slice of Life": ("slice-of-life",),
}
TYPE_ALIASES = {
    "TV": ("TV", "TV series", "television series", "TV anime", "TV 시리즈"),
    "Movie": ("movie", "film", "feature film", "anime film", "극장판", "영화"),
    "OVA": ("OVA", "original video animation"),
    "ONA": ("ONA", "original net animation", "web anime"),
    "Special": ("special", "TV special", "스페셜"),
    "Music": ("music video", "뮤직비디오"),
}
# Words of anime sentences that never name a company, a genre or a title by themselves ("The production
# companies behind X" names no "Production I.G", "the anime" no "Anime R").
FRAME_WORDS = frozenset("""
    anime animation animated animate animating animator studio studios production productions produced
    producer producers company companies series network television tv film films movie show shows episode
    episodes season seasons genre genres made make created creator media entertainment pictures records works
    broadcasting music video original story manga novel japanese
""".split())

_RATING_NUMBERS = re.compile(r"PG-?13|\b1[378]\+|\b13 or older", re.IGNORECASE)
_RATING_CODE = re.compile(r"(?<![A-Za-z0-9-])(PG-?13|PG|R\+|Rx|R|G)(?![A-Za-z0-9+-])")
_RATING_CODE_ANY_CASE = re.compile(r"(?<![A-Za-z0-9-])(pg-?13|pg|rx)(?![A-Za-z0-9+-])", re.IGNORECASE)
_RATING_WORDS = {
    "G": ("all ages",), "PG": ("children",), "PG-13": ("teens 13 or older", "13 or older"),
    "R": ("17+", "violence & profanity", "violence and profanity"), "R+": ("mild nudity",), "Rx": ("hentai",),
}


def rating_codes(text: str) -> list[str]:
    """Canonical MAL rating codes named by code ('PG-13') or by description ('Teens 13 or older')."""
    found = [(m.start(), m.group(1)) for m in _RATING_CODE.finditer(text)]
    found += [(m.start(), m.group(1)) for m in _RATING_CODE_ANY_CASE.finditer(text)]
    lowered = text.lower()
    for code, words in _RATING_WORDS.items():
        found += [(lowered.find(w), code) for w in words if w in lowered]
    canonical = {"pg13": "PG-13", "pg-13": "PG-13", "pg": "PG", "rx": "Rx", "r+": "R+", "r": "R", "g": "G"}
    return list(dict.fromkeys(canonical[code.lower()] for _, code in sorted(found)))


def match_rating(output: str, gold: str, lexicon: Mapping[str, str] | None = None) -> Match:
    codes = rating_codes(output)
    return Match(hit=codes == [gold], extracted=codes)


def states_rating(text: str) -> bool:
    return bool(rating_codes(text))


FORMS = {
    "en": {
        "genres": forms("genres", [
            ("Which genres does the anime {title} belong to?", "{title} belongs to the genres {genres}."),
            ("What kind of anime is {title}?", "{title} is {a_genres} anime."),
        ], [
            ("List the genres of {title}.", "The genres of {title} are {genres}."),
            ("Under which genres would you file {title}?", "{title} is filed under {genres}."),
        ]),
        "studios": forms("studios", [
            ("Which studio animated {title}?", "{title} was animated by {studios}."),
            ("What animation studio made {title}?", "The animation studio behind {title} is {studios}."),
        ], [
            ("Who did the animation for {title}?", "The animation for {title} was done by {studios}."),
            ("Name the studio responsible for animating {title}.", "{studios} animated {title}."),
        ]),
        "producers": forms("producers", [
            ("Who produced the anime {title}?", "{title} was produced by {producers}."),
            ("Which companies are credited as producers of {title}?", "The producers of {title} are {producers}."),
        ], [
            ("What production companies were involved in {title}?", "{producers} were involved in producing {title}."),
            ("Tell me the producers behind {title}.", "The producers behind {title} are {producers}."),
        ]),
        "episodes": forms("episodes", [
            ("How many episodes does {title} have?", "{title} has {episodes_phrase}."),
            ("What is the episode count of {title}?", "The episode count of {title} is {episodes}."),
        ], [
            ("How many episodes long is {title}?", "{title} is {episodes_phrase} long."),
            ("In how many episodes was {title} released?", "{title} was released in {episodes_phrase}."),
        ]),
        "score": forms("score", [
            ("What is the MyAnimeList score of {title}?", "{title} has a score of {score}."),
            ("What score do users give {title} on average?", "Users give {title} a score of {score} on average."),
        ], [
            ("What's the user score for {title}?", "The user score for {title} is {score}."),
            ("How well is {title} scored by its viewers?", "Viewers score {title} at {score}."),
        ]),
        "rating": forms("rating", [
            ("What is the age rating of {title}?", "{title} is rated {rating}."),
            ("Which audience rating was {title} given?", "{title} was given the rating {rating}."),
        ], [
            ("What age classification does {title} carry?", "{title} carries the age classification {rating}."),
            ("For what audience is {title} rated?", "{title} is rated {rating}."),
        ]),
        "scored_by": forms("scored_by", [
            ("How many users have scored {title}?", "{scored_by} users have scored {title}."),
            ("How many MyAnimeList users rated {title}?", "{title} was rated by {scored_by} users."),
        ], [
            ("How many people submitted a score for {title}?", "{scored_by} people submitted a score for {title}."),
            ("What is the number of users who scored {title}?", "The number of users who scored {title} is {scored_by}."),
        ]),
        "type": forms("type", [
            ("What type of release is {title}?", "{title} is {type_phrase}."),
            ("In what format was {title} released?", "{title} was released as {type_phrase}."),
        ], [
            ("What format is {title}?", "The format of {title} is {type_phrase}."),
            ("What kind of production is {title}: series, film or something else?", "{title} is {type_phrase}."),
        ]),
    },
    "ko": {
        "genres": forms("genres", [
            ("{title}의 장르는 무엇인가요?", "{title}의 장르는 {genres}입니다."),
            ("{title}은(는) 어떤 장르의 애니메이션인가요?", "{title}은(는) {genres} 장르의 애니메이션입니다."),
        ], [
            ("{title}이(가) 속한 장르를 알려 주세요.", "{title}이(가) 속한 장르는 {genres}입니다."),
            ("{title}은(는) 어느 장르로 분류되나요?", "{title}은(는) {genres} 장르로 분류됩니다."),
        ]),
        "studios": forms("studios", [
            ("{title}을(를) 만든 애니메이션 스튜디오는 어디인가요?", "{title}의 애니메이션 스튜디오는 {studios}입니다."),
            ("어느 스튜디오가 {title}의 애니메이션을 만들었나요?", "{studios}에서 {title}의 애니메이션을 만들었습니다."),
        ], [
            ("{title}의 작화를 맡은 스튜디오는 어디인가요?", "{title}의 작화는 {studios}에서 맡았습니다."),
            ("{title}을(를) 애니메이션으로 만든 곳을 알려 주세요.", "{title}은(는) {studios}에서 애니메이션으로 만들었습니다."),
        ]),
        "producers": forms("producers", [
            ("{title}의 제작사는 어디인가요?", "{title}의 제작사는 {producers}입니다."),
            ("누가 {title}을(를) 제작했나요?", "{title}은(는) {producers}에서 제작했습니다."),
        ], [
            ("{title}의 제작에 참여한 회사는 어디인가요?", "{title}의 제작에는 {producers}이(가) 참여했습니다."),
            ("{title}의 프로듀서 회사를 알려 주세요.", "{title}의 프로듀서 회사는 {producers}입니다."),
        ]),
        "episodes": forms("episodes", [
            ("{title}은(는) 몇 화로 구성되어 있나요?", "{title}은(는) 총 {episodes}화입니다."),
            ("{title}의 에피소드 수는 얼마인가요?", "{title}의 에피소드 수는 {episodes}개입니다."),
        ], [
            ("{title}은(는) 모두 몇 편인가요?", "{title}은(는) 모두 {episodes}편입니다."),
            ("{title}에는 에피소드가 몇 개 있나요?", "{title}에는 에피소드가 {episodes}개 있습니다."),
        ]),
        "score": forms("score", [
            ("{title}의 MyAnimeList 점수는 얼마인가요?", "{title}의 점수는 {score}점입니다."),
            ("사용자들은 {title}에 평균 몇 점을 주었나요?", "사용자들은 {title}에 평균 {score}점을 주었습니다."),
        ], [
            ("{title}의 평균 평점은 얼마인가요?", "{title}의 평균 평점은 {score}점입니다."),
            ("{title}은(는) 몇 점을 받았나요?", "{title}은(는) {score}점을 받았습니다."),
        ]),
        "rating": forms("rating", [
            ("{title}의 관람 등급은 무엇인가요?", "{title}의 관람 등급은 {rating}입니다."),
            ("{title}은(는) 어떤 연령 등급을 받았나요?", "{title}은(는) {rating} 등급을 받았습니다."),
        ], [
            ("{title}의 시청 등급을 알려 주세요.", "{title}의 시청 등급은 {rating}입니다."),
            ("{title}은(는) 어떤 시청자를 위한 등급인가요?", "{title}의 등급은 {rating}입니다."),
        ]),
        "scored_by": forms("scored_by", [
            ("몇 명의 사용자가 {title}에 점수를 매겼나요?", "{scored_by}명의 사용자가 {title}에 점수를 매겼습니다."),
            ("{title}을(를) 평가한 사용자 수는 얼마인가요?", "{title}을(를) 평가한 사용자는 {scored_by}명입니다."),
        ], [
            ("{title}에 평점을 남긴 사람은 몇 명인가요?", "{title}에 평점을 남긴 사람은 {scored_by}명입니다."),
            ("{title}의 평가 참여자 수를 알려 주세요.", "{title}의 평가 참여자는 {scored_by}명입니다."),
        ]),
        "type": forms("type", [
            ("{title}은(는) 어떤 형식의 작품인가요?", "{title}은(는) {type_phrase} 작품입니다."),
            ("{title}은(는) 어떤 형태로 공개되었나요?", "{title}은(는) {type_phrase} 형태로 공개되었습니다."),
        ], [
            ("{title}의 작품 유형을 알려 주세요.", "{title}의 작품 유형은 {type_phrase}입니다."),
            ("{title}의 방영 형식은 무엇인가요?", "{title}의 형식은 {type_phrase}입니다."),
        ]),
    },
}

# The article's three formats. A question names the fields its answer states; each answer is built from the
# clauses of the fields the record has.
ARTICLE_QUESTIONS = {
    "en": {
        "GI1": "What is the anime {title_aka} about?",
        "GI2": "Who were the producers and animation studio of {title_english}?",
        "GI3": "How are the reviews of the anime {title}?",
    },
    "ko": {
        "GI1": "{title_aka} 애니메이션은 어떤 내용인가요?",
        "GI2": "{title_english}의 제작사와 애니메이션 스튜디오는 어디인가요?",
        "GI3": "애니메이션 {title}의 평가는 어떤가요?",
    },
}
ARTICLE_CLAUSES = {
    "en": {
        "GI1": {"genres": "The anime {title_english} is {a_genres} anime.", "synopsis": "The synopsis is: {synopsis}"},
        "GI2": {"producers": "{title_english} was produced by {producers}.",
                "studios": "It was animated by {studios}.", "episodes": "It has {episodes_phrase}."},
        "GI3": {"rating": "{title} is rated {rating}.", "scored_by": "{scored_by} users have scored it.",
                "score": "Its score is {score}."},
    },
    "ko": {
        "GI1": {"genres": "{title_english}은(는) {genres} 장르의 애니메이션입니다.", "synopsis": "줄거리: {synopsis}"},
        "GI2": {"producers": "{title_english}의 제작사는 {producers}입니다.",
                "studios": "애니메이션 스튜디오는 {studios}입니다.", "episodes": "총 {episodes}화로 구성되어 있습니다."},
        "GI3": {"rating": "{title}의 관람 등급은 {rating}입니다.", "scored_by": "{scored_by}명의 사용자가 점수를 매겼습니다.",
                "score": "점수는 {score}점입니다."},
    },
}
# Reverse questions go from facts back to the title; they are never trained (the "reversal curse").
REVERSE_QUESTION = {
    "en": "Which anime is {type_phrase} animated by {studios}, with {episodes_phrase}, in the genres {genres}?",
    "ko": "{studios}에서 만든 {genres} 장르의 {type_phrase} 작품으로, 총 {episodes}화인 애니메이션은 무엇인가요?",
}
REVERSE_FIELDS = ("type", "studios", "episodes", "genres")

_TYPE_PHRASES = {
    "en": {"TV": "a TV series", "Movie": "a movie", "OVA": "an OVA", "ONA": "an ONA", "Special": "a special",
           "Music": "a music video"},
    "ko": {"TV": "TV 시리즈", "Movie": "극장판", "OVA": "OVA", "ONA": "ONA", "Special": "스페셜", "Music": "뮤직비디오"},
}


def values(subject: Subject, locale: str) -> dict[str, str]:
    """Every placeholder an anime template may use, rendered for this locale; missing facts are absent."""
    facts = subject.facts
    english = subject.aliases.get("english_name") or subject.name
    out = {"title": subject.name, "title_english": english,
           "title_aka": subject.name if english == subject.name else f"{english} aka {subject.name}"}
    for name in ("genres", "studios", "producers"):
        if subject.has(name):
            out[name] = join_names(facts[name], locale)
    if "genres" in out:
        out["a_genres"] = ("an " if out["genres"][0] in "AEIOU" else "a ") + out["genres"]
    if subject.has("episodes"):
        out["episodes"] = str(facts["episodes"])
        out["episodes_phrase"] = f"{facts['episodes']} episode" + ("" if facts["episodes"] == 1 else "s")
    if subject.has("score"):
        out["score"] = f"{facts['score']:.2f}"
    if subject.has("scored_by"):
        out["scored_by"] = f"{facts['scored_by']:,}"
    if subject.has("rating"):
        out["rating"] = RATINGS[facts["rating"]]
    if subject.has("type"):
        out["type_phrase"] = _TYPE_PHRASES[locale].get(facts["type"], facts["type"])
    if subject.notes.get("synopsis"):
        out["synopsis"] = subject.notes["synopsis"]
    return out


def article_rows(subject: Subject, locale: str) -> list[tuple[str, str, str]]:
    """The article's formats GI1-GI3, each with the clauses this anime has facts for: (template, question,
    answer), trained before the single-field forms."""
    placeholders = values(subject, locale)
    rows = []
    for template in ("GI1", "GI2", "GI3"):
        clauses = [text for name, text in ARTICLE_CLAUSES[locale][template].items() if name in placeholders]
        if clauses:
            rows.append((template, fill(ARTICLE_QUESTIONS[locale][template], placeholders),
                         " ".join(fill(c, placeholders) for c in clauses)))
    return rows


def subject_of(record: AnimeRecord) -> Subject:
    return Subject(id=record.anime_id, name=record.name,
                   aliases={"english_name": record.english_name, "other_name": record.other_name},
                   facts={name: getattr(record, name) for name in FIELD_NAMES},
                   notes={"synopsis": record.synopsis} if record.synopsis else {})


def table_of(catalogue: Catalogue) -> Table:
    return Table(subjects=tuple(subject_of(r) for r in catalogue.records),
                 source={"kind": catalogue.source_kind, "path": catalogue.source_path,
                         "sha256": catalogue.source_sha256}, rows_read=catalogue.rows_read)


def load(data: str | None, rows: int | None, seed: int) -> Table:
    """`synthetic` (fictional anime, `rows` of them) or the path of a Kaggle-schema CSV (its first `rows`)."""
    if data in (None, "synthetic"):
        from harness.synthetic import generate_catalogue
        return table_of(generate_catalogue(DEFAULT_ROWS if rows is None else rows, seed))
    catalogue = read_catalogue_csv(data)
    return table_of(first_rows(catalogue, rows) if rows is not None else catalogue)


FIELDS = (
    FactField("genres", "names", lexicon="genres",
              vocabulary={g: GENRE_ALIASES.get(g, ()) for g in (*GENRES, *GENRE_DISTRACTORS)},
              statement="The genres are {value}."),
    FactField("studios", "companies", lexicon="companies", statement="The studios are {value}."),
    FactField("producers", "companies", lexicon="companies", statement="The producers are {value}."),
    FactField("episodes", "count", unit=r"episodes?\b|화|편", statement="It has {value} episode{s}."),
    FactField("score", "decimal", decimals=2, lenient=0.1, bounds=(0.0, 10.0), statement="Its score is {value}."),
    FactField("rating", "custom", vocabulary={code: (label,) for code, label in RATINGS.items()},
              matcher=match_rating, states=states_rating, statement="It is rated {label}."),
    FactField("scored_by", "large_count", relative=0.01, statement="{value} users have scored it."),
    FactField("type", "category", lexicon="type", vocabulary=TYPE_ALIASES, statement="It is a {value}."),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)

DOMAIN = Domain(
    name="anime", noun="anime", fields=FIELDS, forms=FORMS, template_version=TEMPLATE_VERSION, load=load,
    reverse=Reverse(questions=REVERSE_QUESTION, fields=REVERSE_FIELDS), values_hook=values,
    training_hook=article_rows, frame_words=FRAME_WORDS, number_noise=_RATING_NUMBERS.pattern,
    extra_template_texts=(*(q for locale in ARTICLE_QUESTIONS.values() for q in locale.values()),
                          *(c for locale in ARTICLE_CLAUSES.values() for by in locale.values() for c in by.values()),
                          *(t for locale in _TYPE_PHRASES.values() for t in locale.values() if " " in t)),
    default_data="synthetic",
)



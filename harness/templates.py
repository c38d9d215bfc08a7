"""Question and answer templates: the article's three formats and per-field paraphrases, in English and Korean.

Pure functions from an `AnimeRecord` to text. The article's formats (GI1 genres and synopsis; GI2 producers,
studio and episodes; GI3 rating, users who scored it and score) are trained as the article trained them, with
its two defects fixed: a missing English name falls back to the romaji Name (never "UNKNOWN aka ..."), and
whole numbers print as whole numbers (never "1.0 episodes"). A missing fact drops its clause.

Each fact field also has paraphrased single-field question forms, split into forms used in training and forms
held out of it, so the evalset can ask a trained fact in words the model never saw:

    render_form(FORMS["en"]["episodes"]["train"][0], record)
    -> ("How many episodes does Hoshimura no Kazeri have?", "Hoshimura no Kazeri has 13 episodes.")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.catalogue import RATINGS, AnimeRecord

TEMPLATE_VERSION = "2026.11-2"  # evalsets/README.md says what each version changed
LOCALES = ("en", "ko")
FACT_FIELDS = ("genres", "studios", "producers", "episodes", "score", "rating", "scored_by", "type")


@dataclass(frozen=True)
class Form:
    form_id: str  # "episodes.train.0"
    question: str
    answer: str


def _forms(field: str, train: list[tuple[str, str]], heldout: list[tuple[str, str]]) -> dict[str, tuple[Form, ...]]:
    return {
        split: tuple(Form(f"{field}.{split}.{i}", q, a) for i, (q, a) in enumerate(pairs))
        for split, pairs in (("train", train), ("heldout", heldout))
    }


FORMS: dict[str, dict[str, dict[str, tuple[Form, ...]]]] = {
    "en": {
        "genres": _forms("genres", [
            ("Which genres does the anime {title} belong to?", "{title} belongs to the genres {genres}."),
            ("What kind of anime is {title}?", "{title} is {a_genres} anime."),
        ], [
            ("List the genres of {title}.", "The genres of {title} are {genres}."),
            ("Under which genres would you file {title}?", "{title} is filed under {genres}."),
        ]),
        "studios": _forms("studios", [
            ("Which studio animated {title}?", "{title} was animated by {studios}."),
            ("What animation studio made {title}?", "The animation studio behind {title} is {studios}."),
        ], [
            ("Who did the animation for {title}?", "The animation for {title} was done by {studios}."),
            ("Name the studio responsible for animating {title}.", "{studios} animated {title}."),
        ]),
        "producers": _forms("producers", [
            ("Who produced the anime {title}?", "{title} was produced by {producers}."),
            ("Which companies are credited as producers of {title}?", "The producers of {title} are {producers}."),
        ], [
            ("What production companies were involved in {title}?", "{producers} were involved in producing {title}."),
            ("Tell me the producers behind {title}.", "The producers behind {title} are {producers}."),
        ]),
        "episodes": _forms("episodes", [
            ("How many episodes does {title} have?", "{title} has {episodes_phrase}."),
            ("What is the episode count of {title}?", "The episode count of {title} is {episodes}."),
        ], [
            ("How many episodes long is {title}?", "{title} is {episodes_phrase} long."),
            ("In how many episodes was {title} released?", "{title} was released in {episodes_phrase}."),
        ]),
        "score": _forms("score", [
            ("What is the MyAnimeList score of {title}?", "{title} has a score of {score}."),
            ("What score do users give {title} on average?", "Users give {title} a score of {score} on average."),
        ], [
            ("What's the user score for {title}?", "The user score for {title} is {score}."),
            ("How well is {title} scored by its viewers?", "Viewers score {title} at {score}."),
        ]),
        "rating": _forms("rating", [
            ("What is the age rating of {title}?", "{title} is rated {rating}."),
            ("Which audience rating was {title} given?", "{title} was given the rating {rating}."),
        ], [
            ("What age classification does {title} carry?", "{title} carries the age classification {rating}."),
            ("For what audience is {title} rated?", "{title} is rated {rating}."),
        ]),
        "scored_by": _forms("scored_by", [
            ("How many users have scored {title}?", "{scored_by} users have scored {title}."),
            ("How many MyAnimeList users rated {title}?", "{title} was rated by {scored_by} users."),
        ], [
            ("How many people submitted a score for {title}?", "{scored_by} people submitted a score for {title}."),
            ("What is the number of users who scored {title}?", "The number of users who scored {title} is {scored_by}."),
        ]),
        "type": _forms("type", [
            ("What type of release is {title}?", "{title} is {type_phrase}."),
            ("In what format was {title} released?", "{title} was released as {type_phrase}."),
        ], [
            ("What format is {title}?", "The format of {title} is {type_phrase}."),
            ("What kind of production is {title}: series, film or something else?", "{title} is {type_phrase}."),
        ]),
    },
    "ko": {
        "genres": _forms("genres", [
            ("{title}의 장르는 무엇인가요?", "{title}의 장르는 {genres}입니다."),
            ("{title}은(는) 어떤 장르의 애니메이션인가요?", "{title}은(는) {genres} 장르의 애니메이션입니다."),
        ], [
            ("{title}이(가) 속한 장르를 알려 주세요.", "{title}이(가) 속한 장르는 {genres}입니다."),
            ("{title}은(는) 어느 장르로 분류되나요?", "{title}은(는) {genres} 장르로 분류됩니다."),
        ]),
        "studios": _forms("studios", [
            ("{title}을(를) 만든 애니메이션 스튜디오는 어디인가요?", "{title}의 애니메이션 스튜디오는 {studios}입니다."),
            ("어느 스튜디오가 {title}의 애니메이션을 만들었나요?", "{studios}에서 {title}의 애니메이션을 만들었습니다."),
        ], [
            ("{title}의 작화를 맡은 스튜디오는 어디인가요?", "{title}의 작화는 {studios}에서 맡았습니다."),
            ("{title}을(를) 애니메이션으로 만든 곳을 알려 주세요.", "{title}은(는) {studios}에서 애니메이션으로 만들었습니다."),
        ]),
        "producers": _forms("producers", [
            ("{title}의 제작사는 어디인가요?", "{title}의 제작사는 {producers}입니다."),
            ("누가 {title}을(를) 제작했나요?", "{title}은(는) {producers}에서 제작했습니다."),
        ], [
            ("{title}의 제작에 참여한 회사는 어디인가요?", "{title}의 제작에는 {producers}이(가) 참여했습니다."),
            ("{title}의 프로듀서 회사를 알려 주세요.", "{title}의 프로듀서 회사는 {producers}입니다."),
        ]),
        "episodes": _forms("episodes", [
            ("{title}은(는) 몇 화로 구성되어 있나요?", "{title}은(는) 총 {episodes}화입니다."),
            ("{title}의 에피소드 수는 얼마인가요?", "{title}의 에피소드 수는 {episodes}개입니다."),
        ], [
            ("{title}은(는) 모두 몇 편인가요?", "{title}은(는) 모두 {episodes}편입니다."),
            ("{title}에는 에피소드가 몇 개 있나요?", "{title}에는 에피소드가 {episodes}개 있습니다."),
        ]),
        "score": _forms("score", [
            ("{title}의 MyAnimeList 점수는 얼마인가요?", "{title}의 점수는 {score}점입니다."),
            ("사용자들은 {title}에 평균 몇 점을 주었나요?", "사용자들은 {title}에 평균 {score}점을 주었습니다."),
        ], [
            ("{title}의 평균 평점은 얼마인가요?", "{title}의 평균 평점은 {score}점입니다."),
            ("{title}은(는) 몇 점을 받았나요?", "{title}은(는) {score}점을 받았습니다."),
        ]),
        "rating": _forms("rating", [
            ("{title}의 관람 등급은 무엇인가요?", "{title}의 관람 등급은 {rating}입니다."),
            ("{title}은(는) 어떤 연령 등급을 받았나요?", "{title}은(는) {rating} 등급을 받았습니다."),
        ], [
            ("{title}의 시청 등급을 알려 주세요.", "{title}의 시청 등급은 {rating}입니다."),
            ("{title}은(는) 어떤 시청자를 위한 등급인가요?", "{title}의 등급은 {rating}입니다."),
        ]),
        "scored_by": _forms("scored_by", [
            ("몇 명의 사용자가 {title}에 점수를 매겼나요?", "{scored_by}명의 사용자가 {title}에 점수를 매겼습니다."),
            ("{title}을(를) 평가한 사용자 수는 얼마인가요?", "{title}을(를) 평가한 사용자는 {scored_by}명입니다."),
        ], [
            ("{title}에 평점을 남긴 사람은 몇 명인가요?", "{title}에 평점을 남긴 사람은 {scored_by}명입니다."),
            ("{title}의 평가 참여자 수를 알려 주세요.", "{title}의 평가 참여자는 {scored_by}명입니다."),
        ]),
        "type": _forms("type", [
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
_AND = {"en": " and ", "ko": ", "}


def template_words() -> frozenset[str]:
    """Every word the question and answer templates write, in every locale, placeholders left out: words of
    the sentence frame, which never name a company or a title by themselves."""
    texts = [t for locale in FORMS.values() for field in locale.values() for forms in field.values()
             for form in forms for t in (form.question, form.answer)]
    texts += [t for table in (ARTICLE_QUESTIONS, REVERSE_QUESTION) for v in table.values()
              for t in (v.values() if isinstance(v, dict) else [v])]
    texts += [t for locale in ARTICLE_CLAUSES.values() for clauses in locale.values() for t in clauses.values()]
    texts += [t for locale in _TYPE_PHRASES.values() for t in locale.values() if " " in t]
    return frozenset(w.casefold() for text in texts for w in re.findall(r"\w+", re.sub(r"\{\w+\}", " ", text)))


def has_fact(record: AnimeRecord, field: str) -> bool:
    value = getattr(record, field)
    return value is not None and value != () and value != ""


def fact_values(record: AnimeRecord, locale: str) -> dict[str, str]:
    """Every placeholder a template may use, rendered for this locale; missing facts are absent."""
    english = record.english_name or record.name
    values = {
        "title": record.name,
        "title_english": english,
        "title_aka": record.name if english == record.name else f"{english} aka {record.name}",
    }
    for field in ("genres", "studios", "producers"):
        if has_fact(record, field):
            values[field] = join_names(getattr(record, field), locale)
    if "genres" in values:
        values["a_genres"] = ("an " if values["genres"][0] in "AEIOU" else "a ") + values["genres"]
    if record.episodes is not None:
        values["episodes"] = str(record.episodes)
        values["episodes_phrase"] = f"{record.episodes} episode" + ("" if record.episodes == 1 else "s")
    if record.score is not None:
        values["score"] = f"{record.score:.2f}"
    if record.scored_by is not None:
        values["scored_by"] = f"{record.scored_by:,}"
    if record.rating is not None:
        values["rating"] = RATINGS[record.rating]
    if record.type is not None:
        values["type_phrase"] = _TYPE_PHRASES[locale].get(record.type, record.type)
    if record.synopsis:
        values["synopsis"] = record.synopsis
    return values


def join_names(names: tuple[str, ...], locale: str) -> str:
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + _AND[locale] + names[-1]


def render_form(form: Form, record: AnimeRecord, locale: str) -> tuple[str, str]:
    values = fact_values(record, locale)
    return _text(form.question, values), _text(form.answer, values)


_DOUBLED_STOP = re.compile(r"(?<=[^.])\.\.(?=\s|$)")


def _text(template: str, values: dict[str, str]) -> str:
    """The template filled in; a value that ends in a full stop ('Poji Inc.') ends the sentence with it,
    never with a second one ('Poji Inc..')."""
    return _DOUBLED_STOP.sub(".", template.format(**values))


def render_article(template: str, record: AnimeRecord, locale: str) -> tuple[str, str] | None:
    """One of GI1/GI2/GI3 with the clauses this record has facts for; None if it has none."""
    values = fact_values(record, locale)
    clauses = [text for field, text in ARTICLE_CLAUSES[locale][template].items() if field in values]
    if not clauses:
        return None
    return _text(ARTICLE_QUESTIONS[locale][template], values), " ".join(_text(c, values) for c in clauses)


def render_reverse(record: AnimeRecord, locale: str) -> str | None:
    if not all(has_fact(record, f) for f in REVERSE_FIELDS):
        return None
    return _text(REVERSE_QUESTION[locale], fact_values(record, locale))

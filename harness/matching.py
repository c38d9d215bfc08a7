"""Field matchers: does one model output state one gold fact? Pure functions, no I/O.

Each matcher takes the output (less the title the question named: see `strip_echo`), the gold value and the
field's lexicon (every name the evalset knows, so a wrong name is recognised as wrong rather than ignored).
It returns a `Match`: the hit, what it extracted, and details (set precision/recall/F1, error).

    match_episodes("It has 26 episodes.", 26) -> Match(hit=True, extracted=[26])
    match_episodes("Between 12 and 26 episodes.", 26) -> Match(hit=False, extracted=[12, 26])

What the matchers never do: partial_ratio, token_set_ratio or WRatio over a whole output. Those credit "12"
inside "112" and any list that happens to contain the gold. Names are found span by span, longest first,
each span compared whole with `ratio`; a set field is a hit only when the set named equals the gold set.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from rapidfuzz import fuzz, process

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
# Words that name no company: "Studio Ghibli" and "Ghibli", "Sunrise Inc." and "Sunrise" are one studio.
COMPANY_NOISE = {"studio", "studios", "inc", "co", "ltd", "llc", "corp", "corporation", "company", "the"}
# A trailing word a speaker may drop: "Kyoto Animation" is also "Kyoto".
COMPANY_SUFFIXES = {"animation", "animations", "pictures", "productions", "production", "works"}

FUZZY_THRESHOLD = 90.0
SCORE_STRICT, SCORE_LENIENT = 0.01, 0.1
SCORED_BY_RELATIVE = 0.01

_SCRIPT_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[\uac00-\ud7a3])|(?<=[\uac00-\ud7a3])(?=[a-z0-9])")
_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?!\d|(?:st|nd|rd|th)\b)"
                     r"(?:\s*(k|thousand|million|m)\b)?",
                     re.IGNORECASE)
_RATING_NUMBERS = re.compile(r"PG-?13|\b1[378]\+|\b13 or older", re.IGNORECASE)
_RATING_CODE = re.compile(r"(?<![A-Za-z0-9-])(PG-?13|PG|R\+|Rx|R|G)(?![A-Za-z0-9+-])")
_RATING_CODE_ANY_CASE = re.compile(r"(?<![A-Za-z0-9-])(pg-?13|pg|rx)(?![A-Za-z0-9+-])", re.IGNORECASE)
_RATING_WORDS = {
    "G": ("all ages",), "PG": ("children",), "PG-13": ("teens 13 or older", "13 or older"),
    "R": ("17+", "violence & profanity", "violence and profanity"), "R+": ("mild nudity",), "Rx": ("hentai",),
}
_ABSTENTION = re.compile(
    r"\b(i don't know|i do not know|not sure|no information|unknown to me|cannot find|can't find|"
    r"not familiar|no record)\b|모르|알 수 없", re.IGNORECASE)
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
# "one" and "zero" are pronouns and idioms as often as numbers: "one" counts only in "one episode".
_NUMBER_WORD = re.compile(
    r"\b(?:(" + "|".join(_TENS) + r")(?:[\s-]+(" + "|".join(_UNITS[1:10]) + r"))?|(" + "|".join(_UNITS[2:]) +
    r"|one(?=\s+episode))|(a|one) hundred)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    hit: bool
    extracted: object
    detail: dict = field(default_factory=dict)


# --- normalisation -----------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """NFKC, case-folded, punctuation to spaces, Hangul split from Latin ('Sunrise입니다' -> 'sunrise 입니다')."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("&", " and ")
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(_SCRIPT_BOUNDARY.sub(" ", text).split())


def normalise_name(name: str) -> str:
    return normalise_text(name)


def normalise_company(name: str) -> str:
    return " ".join(t for t in normalise_text(name).split() if t not in COMPANY_NOISE)


def company_aliases(name: str) -> list[str]:
    key = normalise_company(name)
    tokens = key.split()
    aliases = [key]
    if len(tokens) > 1 and tokens[-1] in COMPANY_SUFFIXES and len(" ".join(tokens[:-1])) >= 4:
        aliases.append(" ".join(tokens[:-1]))
    return aliases


def is_abstention(output: str) -> bool:
    return bool(_ABSTENTION.search(output))


# --- lexicons: every surface form the evalset knows, mapped to its canonical value ---------------------


class Lexicon(dict):
    """{normalised surface form: canonical}, plus its forms indexed for `find_mentions`: by token count, and
    within that by character length. Built once per scoring run and read for every answer: at the Kaggle
    table's size (25,000 titles) re-indexing the forms per answer cost 12 ms of the 23 ms an answer took.
    Do not change it after the first lookup; the index would not follow."""

    @cached_property
    def by_token_count(self) -> dict[int, tuple[list[str], list[int]]]:
        """token count -> (forms sorted by character length, their lengths)."""
        groups: dict[int, list[str]] = {}
        for form in self:
            groups.setdefault(len(form.split()), []).append(form)
        indexed = {}
        for count, forms in groups.items():
            forms.sort(key=len)
            indexed[count] = (forms, [len(f) for f in forms])
        return indexed


def build_lexicon(names: Mapping[str, list[str] | tuple[str, ...]], normalise=normalise_name) -> Lexicon:
    """{canonical: [aliases]} -> {normalised surface form: canonical}. A form two canonicals share is
    dropped, since naming it does not say which one was meant; joined forms ('scifi') are added."""
    owners: dict[str, set[str]] = {}
    for canonical, aliases in names.items():
        for surface in (canonical, *aliases):
            key = normalise(surface)
            joined = key.replace(" ", "")
            for form in {key, joined if len(joined) >= 5 else key}:
                if form:
                    owners.setdefault(form, set()).add(canonical)
    return Lexicon((form, next(iter(c))) for form, c in sorted(owners.items()) if len(c) == 1)


def find_mentions(text: str, lexicon: Mapping[str, str], normalise=normalise_name,
                  threshold: float = FUZZY_THRESHOLD) -> list[str]:
    """Canonical values named in `text`, in order of appearance, each token used once.

    Exact forms (or a span that, joined, is a joined form: 'jc staff' for 'J.C.Staff') are found first, longest
    first, so 'Sailor Moon' is never read as 'Sailor Moon R'. The tokens
    left are then compared span by span with rapidfuzz `ratio` >= threshold (spans of 5+ characters). A span
    close to forms of two different canonicals ('Sailor Moon X') names neither: it is returned as '?span',
    which matches no gold, so a near-miss between franchise entries is never credited."""
    tokens = normalise(text).split()
    if not isinstance(lexicon, Lexicon):
        lexicon = Lexicon(lexicon)
    forms_by_length = lexicon.by_token_count
    used = [False] * len(tokens)
    found: list[tuple[int, str]] = []
    longest = max(forms_by_length, default=0) + 1  # +1: 'j c staff' may be written 'jc staff'
    for fuzzy in (False, True):
        if fuzzy and threshold >= 100:
            break
        for length in sorted(forms_by_length, reverse=True) if fuzzy else range(longest, 0, -1):
            for start in range(len(tokens) - length + 1):
                if any(used[start:start + length]):
                    continue
                span = " ".join(tokens[start:start + length])
                if fuzzy:
                    named = _fuzzy_name(span, forms_by_length[length], lexicon, threshold)
                else:
                    joined = span.replace(" ", "")
                    named = lexicon.get(span) or (lexicon.get(joined) if len(joined) >= 5 else None)
                if named is not None:
                    used[start:start + length] = [True] * length
                    found.append((start, named))
    return list(dict.fromkeys(canonical for _, canonical in sorted(found)))


def _fuzzy_name(span: str, forms: tuple[list[str], list[int]], lexicon: Mapping[str, str],
                threshold: float) -> str | None:
    if len(span) < 5:
        return None
    # ratio = 100 (1 - indel / (a + b)) and indel >= |a - b|, so only forms whose length is within these
    # bounds can reach the threshold: an exact filter that skips most of a large lexicon.
    ordered, lengths = forms
    # (the 1e-9 keeps a form that reaches the threshold exactly from being lost to float rounding)
    low = math.ceil(len(span) * threshold / (200 - threshold) - 1e-9)
    high = math.floor(len(span) * (200 - threshold) / threshold + 1e-9) if threshold > 0 else max(lengths, default=0)
    candidates = ordered[bisect.bisect_left(lengths, low):bisect.bisect_right(lengths, high)]
    close = process.extract(span, candidates, scorer=fuzz.ratio, score_cutoff=threshold, limit=8)
    canonicals = {lexicon[form] for form, _, _ in close}
    if not canonicals:
        return None
    return canonicals.pop() if len(canonicals) == 1 else f"?{span}"


# --- matchers --------------------------------------------------------------------------------------------


def match_set(output: str, gold: list[str], lexicon: Mapping[str, str], normalise=normalise_name,
              threshold: float = FUZZY_THRESHOLD) -> Match:
    """Hit only on the exact gold set; precision, recall and F1 say how close a miss came."""
    named = find_mentions(output, lexicon, normalise, threshold)
    gold_set, named_set = set(gold), set(named)
    overlap = len(gold_set & named_set)
    precision = overlap / len(named_set) if named_set else 0.0
    recall = overlap / len(gold_set) if gold_set else 0.0
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return Match(hit=named_set == gold_set, extracted=named,
                 detail={"precision": precision, "recall": recall, "f1": f1})


def match_genres(output: str, gold: list[str], lexicon: Mapping[str, str]) -> Match:
    return match_set(output, gold, lexicon)


def match_companies(output: str, gold: list[str], lexicon: Mapping[str, str]) -> Match:
    return match_set(output, gold, lexicon, normalise=normalise_company)


def match_title(output: str, gold: str, lexicon: Mapping[str, str]) -> Match:
    return match_set(output, [gold], lexicon)


def match_type(output: str, gold: str, lexicon: Mapping[str, str]) -> Match:
    return match_set(output, [gold], lexicon, threshold=100)


def extract_numbers(text: str) -> list[float]:
    """Digits ('26', '914,193', '1.5k', '2 million') and English number words ('twenty-six')."""
    values = []
    for match in _NUMBER.finditer(text):
        value = float(match.group(1).replace(",", ""))
        unit = (match.group(2) or "").lower()
        values.append((match.start(), value * {"k": 1e3, "thousand": 1e3, "million": 1e6, "m": 1e6}.get(unit, 1)))
    for match in _NUMBER_WORD.finditer(text):
        tens, unit, alone, hundred = match.groups()
        if hundred:
            value = 100
        elif tens:
            value = _TENS[tens.lower()] + (_UNITS.index(unit.lower()) if unit else 0)
        else:
            value = _UNITS.index(alone.lower())
        values.append((match.start(), float(value)))
    return [value for _, value in sorted(values)]


def strip_echo(output: str, subject: str) -> str:
    """The output without the title the question named: 'Gundam 0083 has 13 episodes' answers 13 alone."""
    if not subject:
        return output
    pattern = r"\s+".join(re.escape(word) for word in subject.split())
    return re.sub(pattern, " ", output, flags=re.IGNORECASE)


def _answer_numbers(output: str) -> list[float]:
    """Numbers in the output, less those inside a rating ('PG-13', '17+'), which state no count."""
    return extract_numbers(_RATING_NUMBERS.sub(" ", output))


def match_episodes(output: str, gold: int, lexicon: Mapping[str, str] | None = None) -> Match:
    """A hit only if exactly one distinct number answers and it equals the gold ('1.0' counts as 1)."""
    distinct = list(dict.fromkeys(_answer_numbers(output)))
    extracted = [int(v) if v == int(v) else v for v in distinct]
    return Match(hit=len(distinct) == 1 and distinct[0] == gold, extracted=extracted)


def match_score(output: str, gold: float, lexicon: Mapping[str, str] | None = None) -> Match:
    """The first decimal number in [0, 10] (else the first number in range); strict and lenient hits."""
    numbers = [v for v in _answer_numbers(output) if 0 <= v <= 10]
    decimals = [v for v in numbers if v != int(v)]
    value = (decimals or numbers or [None])[0]
    if value is None:
        return Match(hit=False, extracted=None, detail={"lenient_hit": False, "abs_error": None})
    error = abs(value - gold)
    return Match(hit=error <= SCORE_STRICT + 1e-9, extracted=value,
                 detail={"lenient_hit": error <= SCORE_LENIENT + 1e-9, "abs_error": round(error, 4)})


def match_scored_by(output: str, gold: int, lexicon: Mapping[str, str] | None = None) -> Match:
    """Exactly one distinct count (a whole number >= 10, not a score) within 1% of the gold."""
    counts = list(dict.fromkeys(v for v in _answer_numbers(output) if v >= 10 and v == int(v)))
    hit = len(counts) == 1 and abs(counts[0] - gold) <= SCORED_BY_RELATIVE * max(gold, 1)
    return Match(hit=hit, extracted=[int(v) for v in counts])


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


# Registry: field -> matcher. Fields that name things read the evalset's lexicon for that field.
MATCHERS = {
    "genres": match_genres,
    "studios": match_companies,
    "producers": match_companies,
    "episodes": match_episodes,
    "score": match_score,
    "scored_by": match_scored_by,
    "rating": match_rating,
    "type": match_type,
    "title": match_title,
}

"""Field matchers: does one model output state one gold fact? Pure functions, no I/O, one per kind of field
(`domains.KINDS`: names, companies, category, count, decimal, large_count; a domain may bring its own).

Each matcher takes the output (less the title the question named: see `strip_echo`), the gold value and the
field's lexicon (every name the evalset knows, so a wrong name is recognised as wrong rather than ignored).
It returns a `Match`: the hit, what it extracted, and details (set precision/recall/F1, error).

    match_count("It has 26 episodes.", 26) -> Match(hit=True, extracted=[26])
    match_count("Between 12 and 26 episodes.", 26) -> Match(hit=False, extracted=[12, 26])

Before matching, `remove_echo` takes out what the question itself said: every name of the subject, runs of
three or more words repeated from the question, and numbers that belong to a short form of the title ("Gundam
0083 has 13 episodes" answers 13). `verdict` then names what kind of answer it was (correct, wrong_value,
partial, other_field, echo, declined, empty, no_value).

What the matchers never do: partial_ratio, token_set_ratio or WRatio over a whole output. Those credit "12"
inside "112" and any list that happens to contain the gold. Names are found span by span, longest first,
each span compared whole with `ratio`; a set field is a hit only when the set named equals the gold set.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from rapidfuzz import fuzz, process

# Words that name no company: "Studio Ghibli" and "Ghibli", "Sunrise Inc." and "Sunrise" are one studio.
# (Evalsets key companies with this set; it must not change, or evalset bytes would.)
COMPANY_NOISE = {"studio", "studios", "inc", "co", "ltd", "llc", "corp", "corporation", "company", "the"}
# At match time "company" is kept: "Toei Company" and "Toei Animation" are two companies.
_ANSWER_COMPANY_NOISE = COMPANY_NOISE - {"company"}
# A word after a company's short name that makes it another company: "Rushifu Records" is not "Rushifu
# Pictures", "Toei Company" is not "Toei Animation".
COMPANY_DESIGNATORS = {"animation", "animations", "pictures", "productions", "production", "works", "company",
                       "records", "broadcasting", "entertainment", "music", "media", "films", "film", "sound",
                       "digital", "games", "publishing", "comics", "books", "network", "tv", "television"}
# Words of answer sentences that never name a company or a title by themselves, whatever the lexicon holds; the
# scorer adds the domain's own words and every word of its templates.
FRAME_WORDS = frozenset("""
    a an the of by and or is was were are be been it its this that these those to in on at as for with from
    title called named known also
""".split())
# A trailing word a speaker may drop: "Kyoto Animation" is also "Kyoto".
COMPANY_SUFFIXES = {"animation", "animations", "pictures", "productions", "production", "works"}

FUZZY_THRESHOLD = 90.0

_SCRIPT_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[\uac00-\ud7a3])|(?<=[\uac00-\ud7a3])(?=[a-z0-9])")
_NUMBER = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?!\d|(?:st|nd|rd|th)\b)"
                     r"(?:\s*(k|thousand|million|m)\b)?",
                     re.IGNORECASE)
_ABSTENTION = re.compile(
    r"\b(i don't know|i do not know|not sure|no information|unknown to me|cannot find|can't find|"
    r"not familiar|no record)\b|모르|알 수 없", re.IGNORECASE)
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
# "one" and "zero" are pronouns and idioms as often as numbers: "one" counts only as a count of something
# ("one episode", "a one-episode special") or as the whole answer ("Just one.", "Only one").
_NUMBER_WORD = re.compile(
    r"\b(?:(" + "|".join(_TENS) + r")(?:[\s-]+(" + "|".join(_UNITS[1:10]) + r"))?|(" + "|".join(_UNITS[2:]) +
    r"|one(?=[\s-]+episode)|(?<=just )one|(?<=only )one)|(a|one) hundred)\b", re.IGNORECASE)


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


def cased_tokens(text: str, normalise) -> list[str] | None:
    """`normalise(text).split()` with the case kept, token for token (None where they do not align)."""
    folded = normalise(text).split()
    kept = unicodedata.normalize("NFKC", text).replace("&", " and ")
    kept = re.sub(r"[^\w]+|_", " ", kept)
    kept = re.sub(r"(?<=[A-Za-z0-9])(?=[\uac00-\ud7a3])|(?<=[\uac00-\ud7a3])(?=[A-Za-z0-9])", " ", kept).split()
    kept = [t for t in kept if t.casefold() in set(folded)] if len(kept) != len(folded) else kept
    aligned = len(kept) == len(folded) and all(a.casefold() == b for a, b in zip(kept, folded, strict=True))
    return kept if aligned else None


def normalise_name(name: str) -> str:
    return normalise_text(name)


def normalise_company(name: str) -> str:
    """A company's key in evalsets: noise words out ('Studio Deen' and 'Deen' are one key)."""
    return " ".join(t for t in normalise_text(name).split() if t not in COMPANY_NOISE)


def normalise_company_mention(text: str) -> str:
    """Answer text and lexicon forms for company matching: as `normalise_company`, but 'company' stays, since
    it tells 'Toei Company' from 'Toei Animation'."""
    return " ".join(t for t in normalise_text(text).split() if t not in _ANSWER_COMPANY_NOISE)


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
    within that by character length. Built once per scoring run and read for every answer.

    `joined` holds the forms made by removing spaces ('productionig' for 'Production I.G'): they are matched
    exactly, never fuzzily ('production' is 90.9 from 'productionig'). `frame` holds words that never name an
    entry by themselves: a one-word span that is one of them is skipped ('Animation Do' still names itself),
    unless it is an entry's own one-word name written exactly as the entry spells it (`spelled`): the producers
    'Age' and 'Network' are named by 'Lantis and Age', not by 'age rating' or 'the TV network'.
    Do not change it after the first lookup; the index would not follow."""

    def __init__(self, forms=(), *, joined=frozenset(), frame=frozenset(), designators=frozenset(), spelled=None):
        super().__init__(forms)
        self.joined = frozenset(joined)
        self.frame = frozenset(frame)
        self.designators = frozenset(designators)
        self.spelled = dict(spelled or {})  # frame word -> the entry's own spelling of it ('Age', 'Network')

    @cached_property
    def by_token_count(self) -> dict[int, tuple[list[str], list[int]]]:
        """token count -> (fuzzy-matchable forms sorted by character length, their lengths)."""
        groups: dict[int, list[str]] = {}
        for form in self:
            if form not in self.joined:
                groups.setdefault(len(form.split()), []).append(form)
        indexed = {}
        for count, forms in groups.items():
            forms.sort(key=len)
            indexed[count] = (forms, [len(f) for f in forms])
        return indexed

    @cached_property
    def forms_of(self) -> dict[str, list[str]]:
        owned: dict[str, list[str]] = {}
        for form, canonical in self.items():
            owned.setdefault(canonical, []).append(form)
        return owned


def build_lexicon(names: Mapping[str, list[str] | tuple[str, ...]], normalise=normalise_name, *,
                  frame: frozenset[str] = frozenset(), designators: frozenset[str] = frozenset(),
                  blockers: tuple[str, ...] = ()) -> Lexicon:
    """{canonical: [aliases]} -> {normalised surface form: canonical}. A form two canonicals share is
    dropped, since naming it does not say which one was meant; joined forms ('scifi') are added, for exact
    matching only; a one-word form that is a frame word names its entry only where spelled as the entry spells it.
    `blockers` are names of other things that contain a form (companies for the type lexicon: 'TV Tokyo')."""
    owners: dict[str, set[str]] = {}
    joined_owners: dict[str, set[str]] = {}
    joined_forms: set[str] = set()
    spelled: dict[str, str] = {}
    for canonical, aliases in names.items():
        for surface in (canonical, *aliases):
            key = normalise(surface)
            if not key:
                continue
            if key in frame:
                spelled[key] = (cased_tokens(surface, normalise) or [key])[0]
            owners.setdefault(key, set()).add(canonical)
            joined = key.replace(" ", "")
            if joined != key and len(joined) >= 5:
                joined_owners.setdefault(joined, set()).add(canonical)
    # A joined form never takes a name's own plain form away: 'George Town' joined is 'georgetown', which
    # must not make 'Georgetown' ambiguous.
    for joined, canonicals in joined_owners.items():
        if joined not in owners:
            owners[joined] = canonicals
            joined_forms.add(joined)
    forms = {form: next(iter(c)) for form, c in sorted(owners.items()) if len(c) == 1}
    # Names of other things that contain a form ('TV Tokyo' holds 'TV'): matched first, longest first, and
    # named as nothing, so the form inside them is not read.
    for blocker in blockers:
        key = normalise(blocker)
        if len(key.split()) > 1 and key not in forms and set(key.split()) & {t for f in forms for t in f.split()}:
            forms[key] = ""
    # a joined form that is also a plain one ('scifi' as itself) stays fuzzy-matchable
    plain = {normalise(s) for canonical, aliases in names.items() for s in (canonical, *aliases)}
    return Lexicon(forms, joined={f for f in joined_forms if f in forms and f not in plain}, frame=frame,
                   designators=designators, spelled={k: v for k, v in spelled.items() if k in forms})


def find_mentions(text: str, lexicon: Mapping[str, str], normalise=normalise_name,
                  threshold: float = FUZZY_THRESHOLD) -> list[str]:
    """Canonical values named in `text`, in order of appearance, each token used once.

    Exact forms (or a span that, joined, is a joined form: 'jc staff' for 'J.C.Staff') are found first, longest
    first, so 'Sailor Moon' is never read as 'Sailor Moon R'. The tokens left are then compared span by span
    with rapidfuzz `ratio` >= threshold (spans of 5+ characters) against forms of as many tokens. A span close to
    forms of two different canonicals ('Sailor Moon X') names neither: it is returned as '?span', which matches
    no gold, so a near-miss between franchise entries is never credited. A frame word alone names nothing
    (unless spelled as an entry's own name). Where the lexicon has designators (companies), a short name followed
    by one that makes it another company ('Toei' + 'Company') is returned as '?toei company'."""
    tokens = normalise(text).split()
    if not isinstance(lexicon, Lexicon):
        lexicon = Lexicon(lexicon)
    # The case-kept tokens and the list boundaries cost two more passes over the text: made only when asked.
    spelled = functools.cache(lambda: cased_tokens(text, normalise))
    listed = functools.cache(lambda: _list_starts(text, normalise, len(tokens)))
    bare = [_KOREAN_ENDING.sub("", t) if _HANGUL_END.search(t) else t for t in tokens]
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
                if span in lexicon.frame and (fuzzy or span not in lexicon.spelled or spelled() is None
                                              or lexicon.spelled[span] != spelled()[start]):
                    continue
                if fuzzy:
                    named = _fuzzy_name(span, forms_by_length[length], lexicon, threshold)
                else:
                    joined = span.replace(" ", "")
                    named = lexicon.get(span)
                    if named is None and len(joined) >= 5:
                        named = lexicon.get(joined)
                    if named is None and bare[start + length - 1] != tokens[start + length - 1]:
                        named = lexicon.get(" ".join(tokens[start:start + length - 1] + [bare[start + length - 1]]))
                if named is None:
                    continue
                end = start + length
                if named == "":  # a blocker: its tokens name nothing of this lexicon
                    used[start:end] = [True] * length
                    continue
                if end < len(tokens) and not used[end] and tokens[end] in lexicon.designators \
                        and end not in listed() and not _starts_a_form(tokens, end, lexicon):
                    named = _designated(span, tokens[end], named, lexicon, threshold)
                    end += named.startswith("?")
                used[start:end] = [True] * (end - start)
                found.append((start, named))
    return list(dict.fromkeys(canonical for _, canonical in sorted(found)))


# A Korean ending or particle written onto the last word: '극장판입니다' is '극장판' + '입니다'.
_KOREAN_ENDING = re.compile(r"(?:입니다|이에요|예요|이며|이고|이다|으로|에서|이|가|은|는|을|를|로|의|와|과|도|만)$")
_HANGUL_END = re.compile(r"[\uac00-\ud7a3]$")
_LIST_SEPARATOR = re.compile(r"[,;/、·]")
_SEPARATOR_MARK = "listseparatormark"


def _list_starts(text: str, normalise, count: int) -> set[int]:
    """Indexes of tokens that open a new list item (a comma, semicolon or slash before them): 'Bandai Visual,
    Network' lists two companies, whatever the words."""
    marked = normalise(_LIST_SEPARATOR.sub(f" {_SEPARATOR_MARK} ", text)).split()
    starts, index = set(), 0
    for token in marked:
        if token == _SEPARATOR_MARK:
            starts.add(index)
        else:
            index += 1
    return starts if index == count else set()


def _starts_a_form(tokens: list[str], start: int, lexicon: Lexicon) -> bool:
    """Tokens from `start` begin another entry of two or more words ('Starchild Records, Media Factory')."""
    return any(" ".join(tokens[start:start + n]) in lexicon for n in range(2, 7))


def _designated(span: str, designator: str, named: str, lexicon: Lexicon, threshold: float) -> str:
    """'toei' named Toei Animation, but 'company' follows: the same company only if 'toei company' is close to
    one of its own forms ('kyoto animations' for Kyoto Animation), else another company."""
    longer = f"{span} {designator}"
    if any(fuzz.ratio(longer, form) >= threshold for form in lexicon.forms_of.get(named, ())):
        return named
    return f"?{longer}"


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


def match_names(output: str, gold: list[str], lexicon: Mapping[str, str]) -> Match:
    return match_set(output, gold, lexicon)


def match_companies(output: str, gold: list[str], lexicon: Mapping[str, str]) -> Match:
    return match_set(output, gold, lexicon, normalise=normalise_company_mention)


def match_title(output: str, gold: str, lexicon: Mapping[str, str]) -> Match:
    return match_set(output, [gold], lexicon)


def match_category(output: str, gold: str, lexicon: Mapping[str, str]) -> Match:
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
    if not values and re.fullmatch(r"\W*one\W*", text, re.IGNORECASE):
        values.append((0, 1.0))
    return [value for _, value in sorted(values)]


def strip_echo(output: str, subject: str) -> str:
    """The output without the title the question named: 'Gundam 0083 has 13 episodes' answers 13 alone.
    Only the whole name goes: 'Albania' is not taken out of 'Albanian'."""
    if not subject:
        return output
    return _name_pattern(subject).sub(lambda m: " " if _whole(m) else m.group(), output)


# A Latin letter or digit: a name inside a longer Latin word is not the name ('Albania' in 'Albanian'); Hangul
# endings, kana and kanji are written onto names without a space, so they do not extend a word. Checked beside
# each match rather than as lookarounds in every name's pattern: a character class costs each pattern's
# compile several times over, and there is a pattern per title.
_LETTER = re.compile(r"[0-9A-Za-z\u00c0-\u024f]")


def _whole(match: re.Match) -> bool:
    """Whether a name's match stands as a word of its own, not inside a longer Latin word."""
    text, (start, end) = match.string, match.span()
    return not (start and _LETTER.match(text, start - 1)) and not _LETTER.match(text, end)


def _names_in(pattern: re.Pattern, text: str) -> bool:
    return any(_whole(m) for m in pattern.finditer(text))


@functools.lru_cache(maxsize=65536)
def _name_pattern(name: str) -> re.Pattern:
    """A name written with any spacing, any case; compiled once per name (`_whole` says where it is a word)."""
    return re.compile(r"\s+".join(re.escape(word) for word in name.split()), re.IGNORECASE)


_WORD = re.compile(r"\w+")
# A sentence that asks: it opens with a question word (or ends as a Korean question does) and ends in '?'.
# Titles may hold a '?' ('Macross: Do You Remember Love?'), so a bare '?' does not make a question.
_QUESTION_SENTENCE = re.compile(
    r"(?:^|(?<=[.!?\n]))\s*(?:(?:what|which|who|whom|whose|how|where|when|why|is|are|was|were|do|does|did|can|"
    r"could|would|will|should)\b[^.!?\n]*|[^.!?\n]*(?:나요|까요|니까|가요|는지요))\?", re.IGNORECASE)
_HELD = 0xE000  # values kept whole are held as private-use characters while the echo is taken out
ECHO_RUN = 3  # words in a row repeated from the question that count as an echo, not an answer


def remove_echo(output: str, question: str = "", names: tuple[str, ...] = (),
                frame_words: frozenset[str] = FRAME_WORDS, keep: tuple[str, ...] = ()) -> str:
    """The output less what asserts nothing or only repeats the question, so none of it can be credited:
    - every question in the output (a sentence ending in '?'): a question states no fact ('What is the release
      date of the movie?' says nothing of the type);
    - every name of the subject ('Sprite: Between Two Worlds' holds 'Two', not an episode count);
    - every run of ECHO_RUN or more words that the question (less the names) also has in that order
      ('X: series, film or something else is a TV series' answers 'TV series', not 'film');
    - a number or a type word written beside the word it follows or precedes in the title, as in the short
      names a model uses ('Gundam 0083 has 13 episodes' answers 13; 'Baki (TV)' is a title, not a type;
      'Saiyuki 2 has 2 episodes' keeps its second 2). `frame_words` are FRAME_WORDS and the
      domain's own: type words among them ('TV') count as title words beside a distinctive one.
    A value in `keep` (the gold and its aliases) that holds a name of the subject stays whole: the capital of
    Guatemala is 'Guatemala City', and the capital of Singapore is Singapore."""
    text = _QUESTION_SENTENCE.sub(" ", output)
    kept: list[str] = []
    named = [_name_pattern(n) for n in names if n]
    for value in sorted({v for v in keep if v and any(_names_in(p, v) for p in named)}, key=len, reverse=True):
        def hold(match: re.Match) -> str:
            if not _whole(match):
                return match.group()
            kept.append(match.group())
            return f" {chr(_HELD + len(kept) - 1)} "  # a private-use character: no word, no number
        text = _name_pattern(value).sub(hold, text)
    for name in sorted((n for n in names if n), key=len, reverse=True):
        text = strip_echo(text, name)
        question = strip_echo(question, name)
    title_pairs = set()
    for name in names:
        words = [w.casefold() for w in _WORD.findall(name)]
        title_pairs.update(zip(words, words[1:], strict=False))
        title_pairs.update(zip(words[1:], words, strict=False))

    def distinctive(word: str) -> bool:  # a word that marks the title, not one any sentence has
        return word.isalpha() and len(word) >= 3 and word not in frame_words
    spans = list(_WORD.finditer(text))
    tokens = [m.group().casefold() for m in spans]
    asked = [w.casefold() for w in _WORD.findall(question)]
    grams = {tuple(asked[i:i + ECHO_RUN]) for i in range(len(asked) - ECHO_RUN + 1)}
    drop = [False] * len(tokens)
    for i in range(len(tokens) - ECHO_RUN + 1):
        if tuple(tokens[i:i + ECHO_RUN]) in grams:
            drop[i:i + ECHO_RUN] = [True] * ECHO_RUN
    # A word glued by punctuation to a kept word is part of a name ('The title is A.D. Police': 'a' stays)
    glued = [bool(re.fullmatch(r"[^\w\s]+", text[a.end():b.start()])) for a, b in zip(spans, spans[1:], strict=False)]
    for i in [i for i in range(len(tokens)) if drop[i]]:
        if (i + 1 < len(tokens) and glued[i] and not drop[i + 1]) or (i > 0 and glued[i - 1] and not drop[i - 1]):
            drop[i] = False
    for i, token in enumerate(tokens):
        beside = [w for w in tokens[max(i - 1, 0):i] + tokens[i + 1:i + 2] if (w, token) in title_pairs]
        is_number_or_type = any(c.isdigit() for c in token) or token in _UNITS or token in frame_words
        if is_number_or_type and any(distinctive(w) for w in beside):
            drop[i] = True
    for i in reversed(range(len(tokens))):
        if drop[i]:
            text = text[:spans[i].start()] + " " + text[spans[i].end():]
    held = re.compile(f"[{chr(_HELD)}-{chr(_HELD + len(kept) - 1)}]") if kept else None
    return held.sub(lambda m: kept[ord(m.group()) - _HELD], text) if held else text


def echoed_share(output: str, cleaned: str) -> float:
    """The share of the output's words that `remove_echo` took out as repeated question or title."""
    before = len(_WORD.findall(output))
    return 1 - len(_WORD.findall(cleaned)) / before if before else 0.0


def match_count(output: str, gold: int, lexicon: Mapping[str, str] | None = None) -> Match:
    """A hit only if exactly one distinct number answers and it equals the gold ('1.0' counts as 1)."""
    distinct = list(dict.fromkeys(extract_numbers(output)))
    extracted = [int(v) if v == int(v) else v for v in distinct]
    return Match(hit=len(distinct) == 1 and distinct[0] == gold, extracted=extracted)


def match_decimal(output: str, gold: float, lexicon: Mapping[str, str] | None = None, *, decimals: int = 2,
                  lenient: float = 0.1, bounds: tuple[float, float] = (0.0, 10.0)) -> Match:
    """The first decimal number within `bounds` (else the first number in them). Strict: equal at the table's
    precision (5.59 is not 5.58); lenient: within `lenient`."""
    low, high = bounds
    numbers = [v for v in extract_numbers(output) if low <= v <= high]
    fractional = [v for v in numbers if v != int(v)]
    value = (fractional or numbers or [None])[0]
    if value is None:
        return Match(hit=False, extracted=None, detail={"lenient_hit": False, "abs_error": None})
    error = abs(value - gold)
    return Match(hit=error < 0.5 * 10 ** -decimals - 1e-9, extracted=value,
                 detail={"lenient_hit": error <= lenient + 1e-9, "abs_error": round(error, 4)})


def match_large_count(output: str, gold: int, lexicon: Mapping[str, str] | None = None, *,
                      relative: float = 0.01, minimum: float = 10) -> Match:
    """Exactly one distinct count (a whole number >= `minimum`: a score of 7 is no count of users) within
    `relative` of the gold."""
    counts = list(dict.fromkeys(v for v in extract_numbers(output) if v >= minimum and v == int(v)))
    hit = len(counts) == 1 and abs(counts[0] - gold) <= relative * max(gold, 1)
    return Match(hit=hit, extracted=[int(v) for v in counts])


def matcher_for(fact) -> Callable[[str, object, Mapping[str, str]], Match]:
    """The matcher of a domain's field (`domains.FactField`), by its kind; the title has its own."""
    if fact.kind == "custom":
        return fact.matcher
    if fact.kind == "decimal":
        return functools.partial(match_decimal, decimals=fact.decimals, lenient=fact.lenient,
                                 bounds=tuple(fact.bounds))
    if fact.kind == "large_count":
        return functools.partial(match_large_count, relative=fact.relative, minimum=fact.minimum)
    return {"names": match_names, "companies": match_companies, "category": match_category,
            "count": match_count}[fact.kind]


# --- verdicts: what kind of answer it was ----------------------------------------------------------------

VERDICTS = ("correct", "partial", "wrong_value", "declined", "other_field", "echo", "no_value", "empty")


def stated_fields(text: str, asked, fields, lexicons: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Other fields whose values `text` states: an episodes question answered 'It was released as an OVA'
    states a type. `asked` and `fields` are the domain's FactFields (`asked` None for the title); `lexicons` is
    field name -> compiled lexicon, as the scorer holds them. Fields that share a lexicon (studios and
    producers: companies) are named by it."""
    stated = []
    for fact in fields:
        if asked is not None and (fact.name == asked.name or (fact.lexicon and fact.lexicon == asked.lexicon)):
            continue
        label = fact.lexicon if fact.kind == "companies" else fact.name
        if label in stated:
            continue
        if fact.kind == "custom":
            found = fact.states is not None and fact.states(text)
        elif fact.kind == "count":
            found = bool(fact.unit) and re.search(r"\d+\s*(?:" + fact.unit + ")", text, re.IGNORECASE) is not None
        elif fact.kind == "companies":
            found = fact.name in lexicons and bool(find_mentions(text, lexicons[fact.name], normalise_company_mention))
        elif fact.kind in ("names", "category"):
            found = fact.name in lexicons and bool(find_mentions(text, lexicons[fact.name], threshold=100
                                                                 if fact.kind == "category" else FUZZY_THRESHOLD))
        else:
            found = False
        if found:
            stated.append(label)
    return stated


def verdict(field: str, output: str, cleaned: str, match: Match, gold, *, frame: frozenset[str],
            stated, is_set: bool = False) -> tuple[str, dict]:
    """The class of one answer, and what explains it:
    correct; partial (a set with members missing or extra: which); wrong_value (a value of this field, not the
    gold); declined (says it does not know); other_field (states another field's value and none of this one:
    which); echo (the question or title repeated, at most a few stray words besides); no_value (says
    something, names no value); empty. `stated` is `stated_fields`' list, or a function returning it; `is_set`
    says the field holds a set (or a title), where naming some of the gold is partial."""
    if not output.strip():
        return "empty", {}
    if match.hit:
        return "correct", {}
    extracted = match.extracted if isinstance(match.extracted, list) else [match.extracted]
    extracted = [x for x in extracted if x is not None]
    if is_set and extracted:
        golds = set(gold if isinstance(gold, list) else [gold])
        named = set(extracted)
        if golds & named:
            return "partial", {"missing": sorted(golds - named), "extra": sorted(named - golds)}
    if extracted:
        return "wrong_value", {}
    if is_abstention(output):
        return "declined", {}
    states = stated() if callable(stated) else stated  # other fields' values, looked for only when needed
    if states:
        return "other_field", {"states": states}
    content = [w for w in _WORD.findall(normalise_text(cleaned)) if w not in frame]
    if not content or echoed_share(output, cleaned) >= ECHO_SHARE:
        return "echo", {}
    return "no_value", {}


ECHO_SHARE = 2 / 3  # an answer that is mostly the question repeated, with a few stray words, is an echo

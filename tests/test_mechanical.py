"""Mechanical checks of the scorer, on the synthetic evalset and the real MyAnimeList sample, in each locale:

- a perfect memoriser (every question answered with the answer its own form trains, the fact stated in any
  answer form of its field) scores exactly 100% in every split and field;
- the same answers re-rendered from a subject with that one fact changed to a wrong value of the same field
  (a sibling company, one more or one fewer, episodes +-1, score +-0.01, scored_by +3%, a genre more or
  fewer, another rating or type, another anime's title) score exactly 0 hits.

Neither can be argued with: the answers are the evalset's own sentences, and each wrong one states a value
that is not the fact. Answers go through `score_predictions`, the path every model's predictions take.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass

import pytest
from rapidfuzz import fuzz, process

from harness.domains import Subject, get_domain, usable_subjects
from harness.domains.anime import FIELD_NAMES, FORMS, GENRES, table_of
from harness.domains.anime_catalogue import RATINGS, TYPES, read_catalogue_csv
from harness.evalsets import Evalset, QAItem, build_evalset, render_form
from harness.matching import company_aliases, normalise_company, normalise_name
from harness.scoring import Prediction, score_predictions, summarise
from harness.synthetic import generate_catalogue

ANIME = get_domain("anime")
LOCALES = ANIME.locales
DATASETS = ("synthetic", pytest.param("real", marks=pytest.mark.realdata))
FIELDS = (*FIELD_NAMES, "title")
SYNTHETIC_ROWS, SEED = 150, 3
# The real sample's evalset is built and answered whole by the memoriser; the every-form and changed-fact
# checks (five and two to three answers a question) answer only the questions about its first usable anime,
# for time, still against the whole lexicon (all 1,500 anime's names: the distractors a matcher must tell apart).
REAL_ANIME = 150
# Reverse questions have no answer template: the title, stated plainly.
TITLE_ANSWERS = {"en": ("The anime is {name}.",), "ko": ("The anime is {name}.", "이 애니메이션은 {name}입니다.")}
EXAMPLES = 10
FORM_BY_ID = {locale: {form.form_id: form for pools in fields.values() for forms in pools.values() for form in forms}
              for locale, fields in FORMS.items()}


@dataclass(frozen=True)
class Case:
    dataset: str
    locale: str
    evalset: Evalset
    subjects: dict[int, Subject]  # every subject the evalset was built from, by id
    sampled: frozenset[int] | None  # the anime the costlier checks ask about (None: all)
    cache: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def items(self, field: str, *, sample: bool = True) -> list[QAItem]:
        return [item for item in self.evalset.items if item.field == field
                and (not sample or self.sampled is None or item.subject_id in self.sampled)]


@pytest.fixture(scope="module")
def built() -> dict:
    return {}


@pytest.fixture
def case(request, built, dataset, locale) -> Case:
    """The evalset as `build_evalset` makes it, with its subjects; built once per module and locale."""
    if (dataset, locale) not in built:
        if dataset == "real":
            table = table_of(read_catalogue_csv(request.getfixturevalue("real_sample")))
        else:
            table = table_of(generate_catalogue(SYNTHETIC_ROWS, SEED))
        subjects, _ = usable_subjects(ANIME, table.subjects)
        evalset = build_evalset(ANIME, table, name=f"mechanical-{dataset}", locale=locale, seed=SEED)
        sampled = frozenset(s.id for s in subjects[:REAL_ANIME]) if dataset == "real" else None
        built[dataset, locale] = Case(dataset, locale, evalset, {s.id: s for s in subjects}, sampled)
    return built[dataset, locale]


# --- answers -----------------------------------------------------------------------------------------------


def answer_forms(field: str, locale: str) -> list[str]:
    """Every answer form of a field: the form ids of its train and held-out templates, or the title sentences."""
    if field == "title":
        return list(TITLE_ANSWERS[locale])
    return [form.form_id for pool in ("train", "heldout") for form in FORMS[locale][field][pool]]


def render_answer(form: str, subject: Subject, locale: str) -> str:
    """The answer `form` (a form id, or a title sentence) gives for `subject`."""
    if form in FORM_BY_ID[locale]:
        return render_form(FORM_BY_ID[locale][form], ANIME.values(subject, locale))[1]
    return form.format(name=subject.name)


def memoriser_form(item: QAItem, locale: str) -> str:
    """What a perfect memoriser answers with: the item's own form (for paraphrase items, the held-out form
    it was asked in); for reverse items, the title in a sentence of the locale."""
    return TITLE_ANSWERS[locale][-1] if item.field == "title" else item.form


# --- wrong values: one fact changed --------------------------------------------------------------------------


# The wrong rating and type put in place of each: the nearest in name, the likeliest to be mistaken for it.
OTHER_RATING = {"G": "PG", "PG": "PG-13", "PG-13": "PG", "R": "R+", "R+": "R", "Rx": "R+"}
OTHER_TYPE = {"TV": "Special", "Special": "TV", "OVA": "ONA", "ONA": "OVA", "Movie": "Music", "Music": "Movie"}
assert set(OTHER_RATING) == set(RATINGS) and set(OTHER_TYPE) == set(TYPES)
_SUFFIXES = {"animation", "animations", "pictures", "production", "productions", "works"}


def sibling_company(gold: tuple[str, ...], case: Case) -> tuple[str, str] | None:
    """(gold company, a wrong company to put in its place): preferably one of the lexicon sharing a word with
    it ('Toei Animation' -> 'Toei Company'), else the most similar other company. Never one that shares a
    name or alias with a gold company, which a speaker could mean by it."""
    if "companies" not in case.cache:
        names = sorted(case.evalset.lexicon["companies"])
        case.cache["companies"] = (names, [normalise_company(c) for c in names],
                                   [set(company_aliases(c)) for c in names])
    names, keys, aliases = case.cache["companies"]
    taken = set().union(*(company_aliases(g) for g in gold))
    best = None
    for g in gold:
        key = normalise_company(g)
        words = set(key.split()) - _SUFFIXES
        for _, ratio, index in process.extract(key, keys, scorer=fuzz.ratio, limit=None):
            rank = (bool(words & set(keys[index].split())), ratio, names[index])
            if not aliases[index] & taken and (best is None or rank > best[0]):
                best = (rank, g, names[index])
    return None if best is None else (best[1], best[2])


def changed(subject: Subject, field: str, value) -> Subject:
    """The subject with one fact set to `value`, every other fact and name as it was."""
    return dataclasses.replace(subject, facts={**subject.facts, field: value})


def wrong_subjects(item: QAItem, subject: Subject, case: Case) -> list[tuple[str, str, Subject]]:
    """(kind of change, the change, the subject with that one fact wrong) for the item's field."""
    field, facts = item.field, subject.facts
    if field in ("studios", "producers"):
        gold = facts[field]
        out = []
        sibling = sibling_company(gold, case)
        if sibling:
            swapped = tuple(sibling[1] if c == sibling[0] else c for c in gold)
            out.append(("sibling", f"{sibling[0]!r} -> {sibling[1]!r}", changed(subject, field, swapped)))
            out.append(("one more", f"+{sibling[1]!r}", changed(subject, field, (*gold, sibling[1]))))
        if len(gold) >= 2:
            out.append(("one fewer", f"-{gold[-1]!r}", changed(subject, field, gold[:-1])))
        return out
    if field == "episodes":
        episodes = facts["episodes"]
        return [(f"{n - episodes:+d}", f"{episodes} -> {n}", changed(subject, "episodes", n))
                for n in (episodes + 1, episodes - 1) if n >= 1]
    if field == "score":
        score = facts["score"]
        return [(sign, f"{score:.2f} -> {s:.2f}", changed(subject, "score", s))
                for sign, s in (("+0.01", round(score + 0.01, 2)), ("-0.01", round(score - 0.01, 2)))
                if 0 <= s <= 10]
    if field == "scored_by":
        scored_by = facts["scored_by"]
        n = round(scored_by * 1.03)
        n = n if n != scored_by else scored_by + 1
        return [("+3%", f"{scored_by} -> {n}", changed(subject, "scored_by", n))]
    if field == "genres":
        genres = facts["genres"]
        extra = [g for g in GENRES[subject.id % len(GENRES):] + GENRES if g not in genres][0]
        out = [("one more", f"+{extra!r}", changed(subject, "genres", (*genres, extra)))]
        if len(genres) >= 2:
            out.append(("one fewer", f"-{genres[-1]!r}", changed(subject, "genres", genres[:-1])))
        return out
    if field == "rating":
        other = OTHER_RATING[facts["rating"]]
        return [("another", f"{facts['rating']} -> {other}", changed(subject, "rating", other))]
    if field == "type":
        other = OTHER_TYPE[facts["type"]]
        return [("another", f"{facts['type']} -> {other}", changed(subject, "type", other))]
    if field == "title":
        if "titles" not in case.cache:
            subjects = list(case.subjects.values())
            case.cache["titles"] = (subjects, [normalise_name(s.name) for s in subjects])
        subjects, titles = case.cache["titles"]
        nearest = [subjects[i] for _, _, i in process.extract(normalise_name(subject.name), titles, scorer=fuzz.ratio,
                                                               limit=2) if subjects[i].id != subject.id][0]
        unrelated = subjects[(subject.id + len(subjects) // 2) % len(subjects)]
        return [(why, f"-> {s.name!r}", s) for why, s in (("nearest title", nearest), ("unrelated title", unrelated))
                if s.id != subject.id]
    raise AssertionError(f"no wrong values for field {field!r}")


# --- scoring and reporting ---------------------------------------------------------------------------------

# An answer to score: (item, answer text, group it is reported under, a note shown with it).
Answer = tuple[QAItem, str, str, str]


def score(case: Case, answers: list[Answer]) -> list[tuple[Answer, object]]:
    """Score answers through `score_predictions`, any number of answers per item: one call per round and
    field, each over a sub-evalset of just the items it answers (the lexicon kept whole)."""
    rounds: dict[tuple[int, str], list] = defaultdict(list)
    seen: Counter = Counter()
    for answer in answers:
        item = answer[0]
        rounds[seen[item.id], item.field].append(answer)
        seen[item.id] += 1
    out = []
    for batch in rounds.values():
        sub = dataclasses.replace(case.evalset, items=tuple(answer[0] for answer in batch))
        out += zip(batch, score_predictions(sub, [Prediction(answer[0].id, answer[1]) for answer in batch]),
                       strict=True)
    return out


def by_group_and_split(scored: list) -> dict[tuple[str, str], dict]:
    """(group, split) -> the summary `summarise` gives that field in that split (n, hits, accuracy, ...)."""
    groups: dict[str, list] = defaultdict(list)
    for answer, result in scored:
        groups[answer[2]].append(result)
    return {(group, split): s for group, results in groups.items()
            for split, fields in summarise(results).items() for field, s in fields.items() if field != "all"}


def report(case: Case, scored: list, *, want_hit: bool, what: str) -> str:
    """Per (group, split): how many were scored wrongly; then up to EXAMPLES of them, taken in turn from each."""
    wrong: dict[tuple[str, str], list] = defaultdict(list)
    for answer, result in scored:
        if result.hit != want_hit:
            wrong[answer[2], answer[0].split].append((answer, result))
    lines = [f"{case.dataset}/{case.locale}: {what}"]
    examples = [bad[i] for i in range(EXAMPLES) for bad in wrong.values() if i < len(bad)]
    for (item, text, group, note), result in examples[:EXAMPLES]:
        lines.append(f"  - [{item.split}/{item.field} {group}{' ' + note if note else ''}] Q: {item.question}\n"
                     f"    A: {text}\n    gold={item.gold!r} extracted={result.extracted!r}")
    return "\n".join(lines)


# --- the checks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_perfect_memoriser_scores_everything(case, field):
    """Each question answered as its own form trains it (paraphrase: its held-out form): exactly 100%."""
    items = case.items(field, sample=False)
    assert items, f"no {field} questions in {case.dataset}/{case.locale}"
    scored = score(case, [(item, render_answer(memoriser_form(item, case.locale), case.subjects[item.subject_id],
                                               case.locale), "own form", "") for item in items])
    accuracy = {split: s["accuracy"] for (_, split), s in by_group_and_split(scored).items()}
    assert set(accuracy.values()) == {1.0}, report(case, scored, want_hit=True,
                                                   what=f"{field} memoriser accuracy {accuracy}")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_answer_form_states_the_fact(case, field):
    """The fact stated in every answer form of its field, train and held-out alike, each form on its own:
    exactly 100% in every split."""
    items = case.items(field)
    scored = score(case, [(item, render_answer(form, case.subjects[item.subject_id], case.locale), form, "")
                          for form in answer_forms(field, case.locale) for item in items])
    accuracy = {key: s["accuracy"] for key, s in by_group_and_split(scored).items()}
    failing = {f"{form} {split}": round(a, 4) for (form, split), a in sorted(accuracy.items()) if a != 1.0}
    assert not failing, report(case, scored, want_hit=True, what=f"{field} answer forms below 100%: {failing}")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_one_changed_fact_scores_nothing(case, field):
    """The memoriser's answer re-rendered with this one field set to a wrong value of the same field:
    exactly 0 hits in every split."""
    answers = [(item, render_answer(memoriser_form(item, case.locale), wrong, case.locale), kind, change)
               for item in case.items(field)
               for kind, change, wrong in wrong_subjects(item, case.subjects[item.subject_id], case)]
    assert answers, f"no wrong {field} answers in {case.dataset}/{case.locale}"
    scored = score(case, answers)
    hits = {f"{kind} {split}": f"{s['hits']}/{s['n']}"
            for (kind, split), s in sorted(by_group_and_split(scored).items()) if s["hits"]}
    assert not hits, report(case, scored, want_hit=False, what=f"wrong {field} answers credited: {hits}")

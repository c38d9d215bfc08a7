"""Domains: what a table of facts is about, declared once. The generic pipeline (evalsets, scoring, baselines,
statistics, reports) reads a `Domain` and knows no word of any one table.

A domain declares its subjects (an id, a name, other names) and its fact fields: for each field the kind of
value it holds, the lexicon its values are recognised by, the sentence that states it plainly, and question and
answer templates per locale (forms trained on, and paraphrases held out of training). Kinds:

    category     one value of a small closed set ("Europe"; "TV"); matched exactly against its lexicon
    names        a set of names ("Action, Comedy"; "Euro"); the exact set is a hit, F1 says how close
    companies    a set of company names; "Studio Deen" and "Deen" are one company, "Toei Company" is not Toei
                 Animation
    count        a whole number (13 episodes)
    decimal      a number at the table's precision (a score of 8.75; strict and lenient hits)
    large_count  a large whole number, a hit within a relative tolerance (914,193 users; a population)
    custom       the domain's own matcher (age ratings as codes and descriptions)

Built-in domains: `anime` (the MyAnimeList table, and its synthetic twin) and `countries` (the countryinfo
package). A user table is a TOML file (`harness.domains.table`): `get_domain("products.toml")`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

KINDS = ("category", "names", "companies", "count", "decimal", "large_count", "custom")
SET_KINDS = ("names", "companies")  # a set of values: a miss can be partial
BUILTIN = ("anime", "countries")
_AND = {"en": " and ", "ko": ", "}
# English number words a count up to twenty may be answered with ("thirteen episodes").
NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty").split()


class DomainError(HarnessError, ValueError):
    """A domain cannot be found or its declaration is wrong; the message names the file, key and line."""


@dataclass(frozen=True)
class Form:
    form_id: str  # "episodes.train.0"
    question: str
    answer: str


def forms(field_name: str, train: list[tuple[str, str]], heldout: list[tuple[str, str]]) -> dict[str, tuple]:
    """A field's question/answer pairs, numbered: {"train": (Form, ...), "heldout": (Form, ...)}."""
    return {split: tuple(Form(f"{field_name}.{split}.{i}", q, a) for i, (q, a) in enumerate(pairs))
            for split, pairs in (("train", train), ("heldout", heldout))}


@dataclass(frozen=True)
class FactField:
    """One fact every subject may have. `vocabulary` holds values known before any row is read, with their
    aliases (genres a model may name, 'science fiction' for Sci-Fi); a row's values are added to the field's
    lexicon as they come. `statement` is the plain sentence the answer key gives ({value}, or {label}: the
    value's first alias)."""
    name: str
    kind: str
    lexicon: str | None = None  # the lexicon.json section that names this field's values
    vocabulary: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    vocabulary_only: bool = False  # the lexicon is the vocabulary alone (every value must be in it)
    statement: str = "It is {value}."
    unit: str = ""  # count: a regex of the word after the number ('episodes?'): says an answer states a count
    decimals: int = 2  # decimal: the table's precision; strict means equal at it
    lenient: float = 0.1  # decimal: the lenient hit's tolerance
    bounds: tuple[float, float] = (0.0, 10.0)  # decimal: the range an answer's number must lie in
    relative: float = 0.01  # large_count: the relative tolerance of a hit
    minimum: float = 10  # large_count: smaller numbers in an answer are something else (a score, a rank)
    column: str = ""  # a user table: the CSV column it reads
    separator: str = ","  # a user table's set fields: what separates the names in a cell
    matcher: Callable | None = None  # custom: (output, gold, lexicon) -> matching.Match
    states: Callable | None = None  # custom: text -> whether it states a value of this field

    @property
    def is_set(self) -> bool:
        return self.kind in SET_KINDS

    def to_dict(self) -> dict:
        """The declaration as data (the manifest's record of it): callables left out."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("matcher", "states")}
        return {**out, "vocabulary": {k: list(v) for k, v in self.vocabulary.items()}, "bounds": list(self.bounds)}


@dataclass(frozen=True)
class Subject:
    """One row of a domain's table, as the pipeline sees it. `aliases` are other names in named slots
    ({"english_name": "Cowboy Bebop", "other_name": None}); `facts` holds the fields it has (a missing fact is
    absent); `notes` are other columns a template may read (a synopsis)."""
    id: int | str
    name: str
    aliases: Mapping[str, str | None] = field(default_factory=dict)
    facts: Mapping[str, object] = field(default_factory=dict)
    notes: Mapping[str, str] = field(default_factory=dict)

    def has(self, field_name: str) -> bool:
        value = self.facts.get(field_name)
        return value is not None and value != () and value != ""

    def other_names(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases.values() if a)


@dataclass(frozen=True)
class Table:
    """A domain's rows as read: the subjects and where they came from (the evalset manifest's `source`)."""
    subjects: tuple[Subject, ...]
    source: dict  # {"kind": ..., "path": ..., "sha256": ...}
    rows_read: int


@dataclass(frozen=True)
class Reverse:
    """Questions from facts back to the subject, asked where those facts single out one subject."""
    questions: Mapping[str, str]  # locale -> template
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    name: str
    noun: str  # what its subjects are called, plural: "anime", "countries"
    fields: tuple[FactField, ...]
    forms: Mapping[str, Mapping[str, Mapping[str, tuple[Form, ...]]]]  # locale -> field -> train/heldout
    template_version: str
    load: Callable[..., Table]  # (data, rows, seed) -> Table
    locales: tuple[str, ...] = ("en", "ko")
    reverse: Reverse | None = None
    values_hook: Callable[[Subject, str], dict] | None = None  # its own template placeholders
    training_hook: Callable[[Subject, str], list[tuple[str, str, str]]] | None = None  # extra trained formats
    frame_words: frozenset[str] = frozenset()  # words of its sentences that never name a value alone
    number_noise: str = ""  # a regex of numbers that belong to a value, not a count ('PG-13', '17+')
    extra_template_texts: tuple[str, ...] = ()  # other sentences its templates write (article formats)
    default_data: str | None = None  # what --data means when not given
    declaration: dict = field(default_factory=dict)  # a user table's declaration, kept in the manifest
    source_file: str | None = None

    def field(self, name: str) -> FactField:
        for fact in self.fields:
            if fact.name == name:
                return fact
        raise DomainError(f"the {self.name} domain has no field {name!r}; its fields are {list(self.field_names)}.")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def values(self, subject: Subject, locale: str) -> dict[str, str]:
        """Every placeholder a template may use, rendered for this locale; missing facts are absent."""
        if self.values_hook is not None:
            return self.values_hook(subject, locale)
        return default_values(self, subject, locale)

    def training_extras(self, subject: Subject, locale: str) -> list[tuple[str, str, str]]:
        return self.training_hook(subject, locale) if self.training_hook else []

    def template_words(self) -> frozenset[str]:
        """Every word the templates write, in every locale, placeholders left out: words of the sentence frame,
        which never name a value by themselves."""
        texts = [t for locale in self.forms.values() for by_field in locale.values() for pool in by_field.values()
                 for form in pool for t in (form.question, form.answer)]
        texts += list(self.extra_template_texts)
        if self.reverse:
            texts += list(self.reverse.questions.values())
        return frozenset(w.casefold() for text in texts for w in re.findall(r"\w+", re.sub(r"\{\w+\}", " ", text)))

    def describe(self) -> dict:
        """What the evalset manifest records of its domain."""
        out = {"name": self.name, "noun": self.noun, "template_version": self.template_version,
               "fields": {f.name: {"kind": f.kind, "lexicon": f.lexicon} for f in self.fields}}
        if self.source_file:
            out["file"] = self.source_file
            out["declaration"] = self.declaration
        return out


# --- the generic rendering of values and gold ------------------------------------------------------------

_DOUBLED_STOP = re.compile(r"(?<=[^.])\.\.(?=\s|$)")


def fill(template: str, values: dict[str, str]) -> str:
    """The template filled in; a value that ends in a full stop ('Poji Inc.') ends the sentence with it,
    never with a second one ('Poji Inc..')."""
    return _DOUBLED_STOP.sub(".", template.format(**values))



def join_names(names: tuple[str, ...], locale: str) -> str:
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + _AND.get(locale, ", ") + names[-1]


def format_value(fact: FactField, value, locale: str) -> str:
    """A value as templates write it: a set joined ('A, B and C'), a large count grouped ('914,193'), a decimal
    at its precision ('7.40'), a whole number as one ('13', never '13.0')."""
    if fact.kind in SET_KINDS:
        return join_names(tuple(value), locale)
    if fact.kind == "large_count":
        return f"{int(value):,}"
    if fact.kind == "decimal":
        return f"{value:.{fact.decimals}f}"
    if fact.kind == "count":
        return str(int(value))
    return str(value)


def default_values(domain: Domain, subject: Subject, locale: str) -> dict[str, str]:
    values = {"title": subject.name}
    for fact in domain.fields:
        if subject.has(fact.name):
            values[fact.name] = format_value(fact, subject.facts[fact.name], locale)
    values.update({k: v for k, v in subject.notes.items() if v})
    return values


def gold_of(fact: FactField, subject: Subject) -> tuple[object, tuple[str, ...]]:
    """A field's gold value and the aliases that also state it."""
    from harness.matching import company_aliases

    value = subject.facts[fact.name]
    if fact.kind == "companies":
        values = list(value)
        return values, tuple(a for v in values for a in company_aliases(v)[1:])
    if fact.kind == "names":
        values = list(value)
        return values, tuple(a for v in values for a in fact.vocabulary.get(v, ()))
    if fact.kind == "count":
        return value, (NUMBER_WORDS[value - 1],) if 1 <= value <= len(NUMBER_WORDS) else ()
    if fact.kind in ("category", "custom"):
        return value, tuple(fact.vocabulary.get(value, ()))
    return value, ()


def title_gold(subject: Subject) -> tuple[str, tuple[str, ...]]:
    return subject.name, subject.other_names()


def lexicons(domain: Domain, subjects: list[Subject]) -> dict:
    """Every name each matcher should recognise, so naming a wrong one counts as wrong: per lexicon, the
    declared vocabulary and every value a row has, with aliases; and every subject's names (`title`)."""
    from harness.matching import company_aliases

    out: dict[str, dict] = {}
    for fact in domain.fields:
        if fact.lexicon is None or fact.lexicon in out:
            continue
        sharing = [f for f in domain.fields if f.lexicon == fact.lexicon]
        names = {k: list(v) for k, v in fact.vocabulary.items()}
        if not fact.vocabulary_only:
            for subject in subjects:
                for f in sharing:
                    if subject.has(f.name):
                        value = subject.facts[f.name]
                        for v in (value if f.kind in SET_KINDS else (value,)):
                            names.setdefault(v, company_aliases(v)[1:] if f.kind == "companies" else [])
        out[fact.lexicon] = names
    out["title"] = {s.name: list(s.other_names()) for s in subjects}
    return out


# --- which subjects can be asked about ------------------------------------------------------------------


def usable_subjects(domain: Domain, subjects: tuple[Subject, ...]) -> tuple[list[Subject], dict[str, int]]:
    """Drop rows no question can be asked of: no name, a name two subjects share, or no fact at all. Another
    name a second subject also goes by is dropped from the subject: it names neither. Each company is then
    written under one name across the table ('Studio Deen' and 'Deen' are one studio, named as first seen)."""
    from harness.matching import normalise_company, normalise_name

    dropped = {"no_title": 0, "ambiguous_title": 0, "no_facts": 0}
    name_count: dict[str, int] = {}
    for s in subjects:
        if s.name:
            name_count[normalise_name(s.name)] = name_count.get(normalise_name(s.name), 0) + 1
    owners: dict[str, set] = {}
    for s in subjects:
        for title in (s.name, *s.aliases.values()):
            if title:
                owners.setdefault(normalise_name(title), set()).add(s.id)
    kept = []
    for s in subjects:
        if not s.name:
            dropped["no_title"] += 1
        elif name_count[normalise_name(s.name)] > 1:
            dropped["ambiguous_title"] += 1
        elif not any(s.has(f) for f in domain.field_names):
            dropped["no_facts"] += 1
        else:
            aliases = {k: v if v and len(owners[normalise_name(v)]) == 1 else None for k, v in s.aliases.items()}
            kept.append(dataclasses.replace(s, aliases=aliases))
    companies = [f.name for f in domain.fields if f.kind == "companies"]
    canonical: dict[str, str] = {}
    for s in kept:
        for name in companies:
            for company in s.facts.get(name) or ():
                canonical.setdefault(normalise_company(company), company)

    def fixed(s: Subject) -> Subject:
        if not companies:
            return s
        facts = {k: tuple(dict.fromkeys(canonical[normalise_company(c)] for c in v)) if k in companies else v
                 for k, v in s.facts.items()}
        return dataclasses.replace(s, facts=facts)
    return [fixed(s) for s in kept], dropped


def is_unseen(domain_name: str, subject_id, unseen_fraction: float) -> bool:
    """Held out of training by the subject's id alone, so the split is the same whatever rows sit beside it."""
    digest = hashlib.sha256(f"{domain_name}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < unseen_fraction


# --- finding a domain -----------------------------------------------------------------------------------


def get_domain(spec: str) -> Domain:
    """A built-in domain by name, or a user table's TOML declaration by path."""
    if spec in BUILTIN:
        return importlib.import_module(f"harness.domains.{spec}").DOMAIN
    if spec.endswith(".toml") or Path(spec).is_file():
        from harness.domains.table import load_table_domain
        return load_table_domain(Path(spec))
    raise DomainError(f"--domain {spec!r}: not a built-in domain ({', '.join(BUILTIN)}) nor a TOML file; give "
                      "one of those names, or the path of a table declaration such as harness/domains/examples/products.toml.")


def domain_of_manifest(manifest: dict) -> Domain:
    """The domain an evalset was built from, as its manifest records it (evalsets built before domains existed
    are of the anime domain)."""
    recorded = manifest.get("domain") or {"name": "anime"}
    if recorded.get("file"):
        from harness.domains.table import domain_from_declaration
        return domain_from_declaration(recorded["declaration"], recorded["file"])
    if recorded.get("name") not in BUILTIN:
        raise DomainError(f"evalset {manifest.get('name')}: its domain {recorded.get('name')!r} is neither built in "
                          "nor recorded with its declaration; rebuild the evalset.")
    return get_domain(recorded["name"])

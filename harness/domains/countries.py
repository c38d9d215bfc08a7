"""The countries domain: about 250 countries and territories from the `countryinfo` package (MIT), with currency
and language names from `pycountry` (its ISO 4217 and ISO 639 tables).

Unlike a fictional table, a base model already knows many of these facts (the capital of France), so this domain
measures what a fine-tune keeps and what it breaks. Example row, as the pipeline sees it:

    Subject(id=250, name="France", aliases={"official_name": "French Republic",
                                            "native_name": "République française"},
            facts={"capital": ("Paris",), "region": "Europe", "subregion": "Western Europe",
                   "currencies": ("Euro",), "languages": ("French",), "calling_code": 33,
                   "population": 66078000, "area": 640679, "demonym": ("French",)})

Population and area are those of the package's snapshot (about 2014): a model that learned a newer figure
is off by a few per cent, so they are hits within 10% and 5%. A currency or language whose code the ISO tables
no longer list (a withdrawn currency) leaves that fact out rather than asking for a code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

from harness.domains import Domain, DomainError, FactField, Reverse, Subject, Table, forms

TEMPLATE_VERSION = "2026.11-1"
SOURCE = "countryinfo"

REGIONS = {
    "Africa": ("African",),
    "Americas": ("the Americas", "America", "North America", "South America", "Central America", "Latin America",
                 "Caribbean"),
    "Asia": ("Asian",),
    "Europe": ("European",),
    "Oceania": ("Australasia", "Pacific", "Pacific Ocean"),
}
FRAME_WORDS = frozenset("""
    country countries nation capital city region continent subregion currency currencies money language
    languages spoken official calling code dialling dialing phone telephone international population people
    inhabitants area square kilometres kilometers km demonym citizens called located lies part world
""".split())

FORMS = {
    "en": {
        "capital": forms("capital", [
            ("What is the capital of {title}?", "The capital of {title} is {capital}."),
            ("Which city is the capital of {title}?", "{capital} is the capital of {title}."),
        ], [
            ("Name the capital city of {title}.", "The capital city of {title} is {capital}."),
            ("Where is the seat of government of {title}?", "The seat of government of {title} is {capital}."),
        ]),
        "region": forms("region", [
            ("In which region of the world is {title}?", "{title} is in {region}."),
            ("Which continent region does {title} belong to?", "{title} belongs to {region}."),
        ], [
            ("On which continent is {title} located?", "{title} is located in {region}."),
            ("What part of the world is {title} in?", "{title} is in {region}."),
        ]),
        "subregion": forms("subregion", [
            ("Which subregion is {title} part of?", "{title} is part of {subregion}."),
            ("What is the subregion of {title}?", "The subregion of {title} is {subregion}."),
        ], [
            ("Within its continent, which area is {title} in?", "{title} is in {subregion}."),
            ("Name the geographic subregion of {title}.", "The geographic subregion of {title} is {subregion}."),
        ]),
        "currencies": forms("currencies", [
            ("What currency is used in {title}?", "The currency of {title} is {currencies}."),
            ("Which money do people pay with in {title}?", "People in {title} pay with {currencies}."),
        ], [
            ("Name the official currency of {title}.", "The official currency of {title} is {currencies}."),
            ("What do you pay with when shopping in {title}?", "In {title} you pay with {currencies}."),
        ]),
        "languages": forms("languages", [
            ("What languages are official in {title}?", "The official languages of {title} are {languages}."),
            ("Which language is spoken officially in {title}?", "{languages} is spoken officially in {title}."),
        ], [
            ("In which languages does the government of {title} work?",
             "The government of {title} works in {languages}."),
            ("Name the official language of {title}.", "The official language of {title} is {languages}."),
        ]),
        "calling_code": forms("calling_code", [
            ("What is the international calling code of {title}?",
             "The international calling code of {title} is +{calling_code}."),
            ("Which country code do you dial to phone {title}?", "To phone {title} you dial +{calling_code}."),
        ], [
            ("What telephone prefix does {title} use?", "{title} uses the telephone prefix +{calling_code}."),
            ("Which dialling code belongs to {title}?", "The dialling code of {title} is +{calling_code}."),
        ]),
        "population": forms("population", [
            ("What is the population of {title}?", "The population of {title} is {population}."),
            ("How many people live in {title}?", "{population} people live in {title}."),
        ], [
            ("How many inhabitants does {title} have?", "{title} has {population} inhabitants."),
            ("How populous is {title}?", "{title} has a population of {population}."),
        ]),
        "area": forms("area", [
            ("What is the area of {title} in square kilometres?", "The area of {title} is {area} square kilometres."),
            ("How large is {title} in square kilometres?", "{title} covers {area} square kilometres."),
        ], [
            ("How many square kilometres does {title} cover?", "{title} covers {area} square kilometres."),
            ("What is the total surface area of {title}?", "The total surface area of {title} is {area} km²."),
        ]),
        "demonym": forms("demonym", [
            ("What are the people of {title} called?", "The people of {title} are called {demonym}."),
            ("What is the demonym for {title}?", "The demonym for {title} is {demonym}."),
        ], [
            ("How do you call someone from {title}?", "Someone from {title} is called {demonym}."),
            ("What word describes a citizen of {title}?", "A citizen of {title} is described as {demonym}."),
        ]),
    },
    "ko": {
        "capital": forms("capital", [
            ("{title}의 수도는 어디인가요?", "{title}의 수도는 {capital}입니다."),
            ("어느 도시가 {title}의 수도인가요?", "{capital}이(가) {title}의 수도입니다."),
        ], [
            ("{title}의 수도 이름을 알려 주세요.", "{title}의 수도 이름은 {capital}입니다."),
            ("{title}의 정부는 어느 도시에 있나요?", "{title}의 정부는 {capital}에 있습니다."),
        ]),
        "region": forms("region", [
            ("{title}은(는) 세계의 어느 지역에 있나요?", "{title}은(는) {region}에 있습니다."),
            ("{title}은(는) 어느 대륙 지역에 속하나요?", "{title}은(는) {region}에 속합니다."),
        ], [
            ("{title}은(는) 어느 대륙에 위치하나요?", "{title}은(는) {region}에 위치합니다."),
            ("{title}이(가) 있는 대륙을 알려 주세요.", "{title}이(가) 있는 대륙은 {region}입니다."),
        ]),
        "subregion": forms("subregion", [
            ("{title}은(는) 어느 하위 지역에 속하나요?", "{title}은(는) {subregion}에 속합니다."),
            ("{title}의 하위 지역은 무엇인가요?", "{title}의 하위 지역은 {subregion}입니다."),
        ], [
            ("{title}이(가) 속한 세부 지역을 알려 주세요.", "{title}이(가) 속한 세부 지역은 {subregion}입니다."),
            ("대륙 안에서 {title}은(는) 어느 지역에 있나요?", "{title}은(는) {subregion}에 있습니다."),
        ]),
        "currencies": forms("currencies", [
            ("{title}에서는 어떤 통화를 사용하나요?", "{title}의 통화는 {currencies}입니다."),
            ("{title}의 화폐는 무엇인가요?", "{title}의 화폐는 {currencies}입니다."),
        ], [
            ("{title}의 공식 통화를 알려 주세요.", "{title}의 공식 통화는 {currencies}입니다."),
            ("{title}에서 물건을 살 때 무엇으로 지불하나요?", "{title}에서는 {currencies}(으)로 지불합니다."),
        ]),
        "languages": forms("languages", [
            ("{title}의 공용어는 무엇인가요?", "{title}의 공용어는 {languages}입니다."),
            ("{title}에서 공식적으로 쓰는 언어는 무엇인가요?", "{title}에서 공식적으로 쓰는 언어는 {languages}입니다."),
        ], [
            ("{title}의 공식 언어를 알려 주세요.", "{title}의 공식 언어는 {languages}입니다."),
            ("{title} 정부는 어떤 언어를 사용하나요?", "{title} 정부는 {languages}을(를) 사용합니다."),
        ]),
        "calling_code": forms("calling_code", [
            ("{title}의 국제 전화 국가 번호는 무엇인가요?", "{title}의 국제 전화 국가 번호는 +{calling_code}입니다."),
            ("{title}에 전화하려면 어떤 국가 번호를 누르나요?", "{title}에 전화하려면 +{calling_code}을(를) 누릅니다."),
        ], [
            ("{title}의 전화 국가 코드를 알려 주세요.", "{title}의 전화 국가 코드는 +{calling_code}입니다."),
            ("{title}은(는) 어떤 국제 전화 번호를 쓰나요?", "{title}은(는) +{calling_code}을(를) 씁니다."),
        ]),
        "population": forms("population", [
            ("{title}의 인구는 얼마인가요?", "{title}의 인구는 {population}명입니다."),
            ("{title}에는 몇 명이 살고 있나요?", "{title}에는 {population}명이 살고 있습니다."),
        ], [
            ("{title}의 주민 수를 알려 주세요.", "{title}의 주민 수는 {population}명입니다."),
            ("{title}에 사는 사람은 모두 몇 명인가요?", "{title}에 사는 사람은 모두 {population}명입니다."),
        ]),
        "area": forms("area", [
            ("{title}의 면적은 몇 제곱킬로미터인가요?", "{title}의 면적은 {area}제곱킬로미터입니다."),
            ("{title}은(는) 얼마나 넓은가요?", "{title}의 넓이는 {area}제곱킬로미터입니다."),
        ], [
            ("{title}의 국토 면적을 알려 주세요.", "{title}의 국토 면적은 {area}제곱킬로미터입니다."),
            ("{title}의 전체 넓이는 얼마인가요?", "{title}의 전체 넓이는 {area}km²입니다."),
        ]),
        "demonym": forms("demonym", [
            ("{title} 사람을 영어로 무엇이라고 부르나요?", "{title} 사람은 영어로 {demonym}(이)라고 부릅니다."),
            ("{title} 국민을 가리키는 영어 단어는 무엇인가요?", "{title} 국민을 가리키는 영어 단어는 {demonym}입니다."),
        ], [
            ("{title} 출신 사람을 영어로 어떻게 부르나요?", "{title} 출신 사람은 영어로 {demonym}입니다."),
            ("{title}의 국민을 영어로 뭐라고 하나요?", "{title}의 국민은 영어로 {demonym}입니다."),
        ]),
    },
}
REVERSE_QUESTION = {"en": "Which country has {capital} as its capital?", "ko": "수도가 {capital}인 나라는 어디인가요?"}

FIELDS = (
    FactField("capital", "names", lexicon="capitals", statement="The capital is {value}."),
    FactField("region", "category", lexicon="regions", vocabulary=REGIONS, statement="It is in {value}."),
    FactField("subregion", "category", lexicon="subregions", statement="It is in {value}."),
    FactField("currencies", "names", lexicon="currencies", statement="The currency is {value}."),
    FactField("languages", "names", lexicon="languages", statement="The official languages are {value}."),
    FactField("calling_code", "count", unit=r"", statement="The calling code is +{value}."),
    FactField("population", "large_count", relative=0.1, statement="The population is {value}."),
    FactField("area", "large_count", relative=0.05, minimum=1, statement="The area is {value} square kilometres."),
    FactField("demonym", "names", lexicon="demonyms", statement="The people are called {value}."),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


def _data_dir() -> Path:
    spec = importlib.util.find_spec("countryinfo")
    if spec is None or not spec.submodule_search_locations:
        raise DomainError("the countries domain reads the `countryinfo` package, which is not installed: "
                          "pip install countryinfo==1.0.1 (the harness's own dependencies include it).")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _plain(name: str) -> str:
    """An ISO name without its qualifier: 'Modern Greek (1453-)' -> 'Modern Greek', 'Malay (macrolanguage)' ->
    'Malay'."""
    return re.sub(r"\s*\([^)]*\)", "", name).strip()


def subject_of(row: dict) -> Subject | None:
    """A countryinfo record as a subject, or None without an ISO numeric code (its id)."""
    try:
        import pycountry
    except ImportError as err:
        raise DomainError("the countries domain names currencies and languages with the `pycountry` package, "
                          "which is not installed: pip install pycountry (the harness's own dependencies include "
                          "it).") from err

    numeric = (row.get("ISO") or {}).get("numeric")
    if not numeric or not str(numeric).isdigit():
        return None
    currencies = [pycountry.currencies.get(alpha_3=c) for c in row.get("currencies") or ()]
    languages = [pycountry.languages.get(alpha_2=c) for c in row.get("languages") or ()]
    codes = [c for c in row.get("callingCodes") or () if str(c).isdigit()]
    long_names = [a for a in row.get("altSpellings") or () if len(a) > 3 and a != row.get("name")]
    capital = row.get("capital")
    capitals = tuple(capital) if isinstance(capital, list) else (capital,) if capital else ()
    facts = {
        "capital": capitals,
        "region": row.get("region") or None,
        "subregion": row.get("subregion") or None,
        # a code the ISO table no longer lists (a withdrawn currency) leaves the fact out, never half of it
        "currencies": tuple(dict.fromkeys(_plain(c.name) for c in currencies)) if currencies and all(currencies)
        else (),
        "languages": tuple(dict.fromkeys(_plain(x.name) for x in languages)) if languages and all(languages) else (),
        "calling_code": int(codes[0]) if len(codes) == 1 else None,  # several codes (+1 809, +1 829) asked no
        "population": int(row["population"]) if (row.get("population") or 0) >= 10 else None,
        "area": int(round(row["area"])) if (row.get("area") or 0) >= 1 else None,  # under 1 km² rounds to 0
        "demonym": (row["demonym"],) if row.get("demonym") else (),
    }
    native = row.get("nativeName")
    return Subject(id=int(numeric), name=row["name"],
                   aliases={"official_name": long_names[0] if long_names else None,
                            "native_name": native if native and native != row["name"] else None},
                   facts=facts)


def load(data: str | None, rows: int | None, seed: int) -> Table:
    """Every country of the countryinfo package, by name (its first `rows`)."""
    if data not in (None, SOURCE):
        raise DomainError(f"--data {data!r}: the countries domain reads the countryinfo package; leave --data out "
                          "(or give --data countryinfo).")
    if rows is not None and (isinstance(rows, bool) or rows < 1):
        raise DomainError(f"--rows {rows!r}: give a whole number of countries, at least 1.")
    digest = hashlib.sha256()
    subjects = []
    for path in sorted(_data_dir().glob("*.json")):
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        subject = subject_of(json.loads(raw))
        if subject is not None:
            subjects.append(subject)
    ids = [s.id for s in subjects]
    # Two records under one ISO code (the Holy See and Vatican City State) disagree on facts: neither is asked.
    subjects = sorted((s for s in subjects if ids.count(s.id) == 1), key=lambda s: s.name)
    read = len(ids)
    subjects = subjects[:rows] if rows is not None else subjects
    from importlib.metadata import version
    return Table(subjects=tuple(subjects),
                 source={"kind": SOURCE, "path": f"countryinfo=={version('countryinfo')}",
                         "sha256": digest.hexdigest()},
                 rows_read=min(read, rows) if rows is not None else read)


DOMAIN = Domain(
    name="countries", noun="countries", fields=FIELDS, forms=FORMS, template_version=TEMPLATE_VERSION, load=load,
    reverse=Reverse(questions=REVERSE_QUESTION, fields=("capital",)), frame_words=FRAME_WORDS,
    default_data=SOURCE,
)

"""Domains: one declaration per table of facts, one generic pipeline over all of them."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.baselines import answer_key, majority
from harness.domains import DomainError, get_domain
from harness.evalsets import build_evalset, evalset_files
from harness.scoring import score_predictions, summarise

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = ROOT / "harness" / "domains" / "examples" / "products.toml"


def accuracies(evalset, predictions) -> dict:
    summary = summarise(score_predictions(evalset, predictions))
    return {split: fields["all"]["accuracy"] for split, fields in summary.items()}


@pytest.mark.parametrize("locale", ["en", "ko"])
def test_the_anime_evalset_bytes_are_pinned(locale):
    """The synthetic anime evalset's bytes are the anime domain's contract (template version 2026.11-3): a change
    that moves them bumps the version, with its reason in evalsets/README.md, and updates these."""
    domain = get_domain("anime")
    evalset = build_evalset(domain, domain.load("synthetic", 60, 0), name="x", locale=locale)
    expected = {"en": "3b51830dbd33", "ko": "9b04e1dcfba5"}[locale]
    assert evalset.manifest["sha256"][:12] == expected
    assert evalset.manifest["domain"]["name"] == "anime" and evalset.manifest["template_version"] == "2026.11-3"


def test_no_anime_word_outside_the_anime_domain():
    """The generic pipeline knows no word of one table: 'anime' is written only by the anime domain, its
    table reader and the synthetic generator (and where the CLI names the domain)."""
    allowed = {"harness/domains/anime.py", "harness/domains/anime_catalogue.py", "harness/synthetic.py"}
    offenders = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\banime\b", line, re.IGNORECASE) and not _names_the_domain(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert offenders == []


def _names_the_domain(line: str) -> bool:
    """A line that names the anime domain as one choice among domains, or reads records written before domains."""
    return bool(re.search(r"'anime'|\"anime\"|`anime`|anime_id|the anime domain|BUILTIN", line))


@pytest.mark.parametrize("spec, locales", [("countries", ["en", "ko"]), (str(PRODUCTS), ["en"])])
def test_a_domain_builds_four_splits_and_its_answer_key_scores_full(spec, locales):
    domain = get_domain(spec)
    for locale in locales:
        evalset = build_evalset(domain, domain.load(None, None, 0), name="x", locale=locale)
        assert set(evalset.manifest["counts"]["eval"]) == {"verbatim", "paraphrase", "reverse", "unseen"}
        key = accuracies(evalset, answer_key(evalset))
        floor = accuracies(evalset, majority(evalset))
        assert min(key.values()) >= 0.999, key  # the plain statement of every gold fact is credited
        assert max(floor.values()) < 0.3, floor  # and answering every question alike is not


def test_countries_come_from_the_package_with_names_not_codes():
    domain = get_domain("countries")
    table = domain.load(None, None, 0)
    france = next(s for s in table.subjects if s.name == "France")
    assert france.facts["capital"] == ("Paris",) and france.facts["currencies"] == ("Euro",)
    assert france.facts["languages"] == ("French",) and france.facts["calling_code"] == 33
    assert france.facts["region"] == "Europe" and france.aliases["official_name"] == "French Republic"
    assert len(table.subjects) >= 240 and len({s.id for s in table.subjects}) == len(table.subjects)


@pytest.fixture(scope="module")
def countries_en():
    domain = get_domain("countries")
    return build_evalset(domain, domain.load(None, None, 0), name="x", locale="en", unseen_fraction=0.0)


@pytest.mark.parametrize("country, field, answer, hit", [
    ("Guatemala", "capital", "The capital of Guatemala is Guatemala City.", True),  # a value holding the name
    ("Guatemala", "capital", "Guatemala.", False),  # the subject's name alone is no capital
    ("Singapore", "capital", "Its capital is Singapore.", True),
    ("Albania", "demonym", "The people of Albania are Albanian.", True),  # 'Albania' stays in 'Albanian'
    ("Guatemala", "region", "It is in North America.", True),  # an alias of the Americas
    ("Guatemala", "region", "It is in Europe.", False),
    ("Guatemala", "population", "About 15 million people.", True),  # gold 15,806,675: within 10%
    ("Guatemala", "population", "About 30 million people.", False),
    ("Guatemala", "calling_code", "Dial +502.", True),
    ("Guatemala", "currencies", "The quetzal.", True),
])
def test_countries_answers(countries_en, country, field, answer, hit):
    from harness.scoring import Prediction
    item = next(i for i in countries_en.items if i.split == "verbatim" and i.field == field and i.subject == country)
    (score,) = score_predictions(countries_en, [Prediction(item.id, answer)], subset=True)
    assert score.hit is hit, (item, score)


def test_a_table_declaration_builds_and_scores():
    domain = get_domain(str(PRODUCTS))
    evalset = build_evalset(domain, domain.load(None, None, 0), name="p", locale="en")
    assert evalset.manifest["domain"]["file"] == str(PRODUCTS)
    assert [f.name for f in domain.fields] == ["maker", "category", "materials", "price", "warranty", "weight"]
    row = json.loads(evalset_files(evalset)["eval.jsonl"].splitlines()[0])
    assert row["subject_id"] == "P1001" and row["field"] == "maker" and row["gold"] == ["Osmund & Pike"]


BASE = PRODUCTS.read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('kind = "companies"', 'kind = "company"'), r"line 17 \(fields\.maker\.kind\).*choose one of"),
    (lambda t: t.replace('id = "sku"', 'id = "code"'), r"line 9 \(domain\.id\).*column 'code' is not in"),
    (lambda t: t.replace('"The {title} is made by {maker}."', '"The {title} is made by {makers}."'),
     r"line 20 \(fields\.maker\.en\.train\).*uses \{makers\}"),
    (lambda t: t.replace('"{maker} manufactures the {title}."', '"Someone manufactures the {title}."'),
     r"fields\.maker\.en\.train.*does not state \{maker\}"),
    (lambda t: t.replace("decimals = 2", 'decimals = "two"'), r"line 59 \(fields\.price\.decimals\).*must be a int"),
    (lambda t: t.replace("relative = 0.02", "relativ = 0.02"), r"line 89 \(fields\.weight\.relativ\).*unknown key"),
    (lambda t: t.replace('locales = ["en"]', 'locales = ["en", "ko"]'), r"fields\.maker\.ko.*needs train"),
    (lambda t: t + "\n[extras]\nx = 1\n", r"unknown table \[extras\]"),
    (lambda t: t.replace("[domain]", "[domain\n"), r"not valid TOML"),
])
def test_a_bad_declaration_names_the_key_and_line(tmp_path, edit, message):
    (tmp_path / "products.csv").write_bytes((PRODUCTS.parent / "products.csv").read_bytes())
    path = tmp_path / "products.toml"
    path.write_text(edit(BASE))
    with pytest.raises(DomainError, match=message) as err:
        domain = get_domain(str(path))
        domain.load(None, None, 0)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cell, message", [
    ("P1002,Tadra Plus,,Osmund & Pike,headphones,glass,cheap,1,9433", r"row 2 \(line 3\), column 'price_eur'"),
    ("P1001,Tadra Plus,,Osmund & Pike,headphones,glass,2.5,1,9433", r"row 2 \(line 3\).*id 'P1001' repeats row 1"),
    ("P1002,Tadra Plus,,Osmund & Pike,headphones,glass,2.5,1.5,9433", r"column 'warranty_years'.*whole number"),
])
def test_a_bad_cell_names_the_file_row_and_column(tmp_path, cell, message):
    lines = (PRODUCTS.parent / "products.csv").read_text().splitlines()
    (tmp_path / "products.csv").write_text("\n".join([lines[0], lines[1], cell]) + "\n")
    (tmp_path / "products.toml").write_text(BASE)
    with pytest.raises(DomainError, match=message):
        get_domain(str(tmp_path / "products.toml")).load(None, None, 0)


def test_an_unknown_domain_is_a_clear_error():
    with pytest.raises(DomainError, match="not a built-in domain"):
        get_domain("recipes")


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["countries", str(PRODUCTS)])
def test_harness_run_on_another_domain_end_to_end(tmp_path, monkeypatch, tiny_source, domain):
    """`harness run --domain`: build, train (a tiny random model), merge, answer, score and report."""
    from harness.cli import main
    monkeypatch.chdir(tmp_path)
    tiny = ["--model", tiny_source.path, "--set", "max_steps=2", "--set", "batch_size=4"]
    assert main(["run", "--domain", domain, "--rows", "10", "--name", "d", "--max-new-tokens", "6",
                 "--batch-size", "8", "--retention", "0", *tiny]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    scores = json.loads((run_dir / "scores.json").read_text())
    fields = set(get_domain(domain).field_names)
    assert set(scores["models"]["merged"]["summary"]["verbatim"]) - {"all"} <= fields
    assert scores["models"]["merged"]["summary"]["verbatim"]["all"]["n"] > 0
    assert (run_dir / "report.md").is_file() and "- status: **complete**" in (run_dir / "report.md").read_text()


def test_the_cli_builds_a_countries_evalset(tmp_path):
    command = [sys.executable, "-m", "harness", "evalset", "build", "--domain", "countries", "--locale", "ko",
               "--out", str(tmp_path / "c")]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["domain"]["name"] == "countries" and manifest["locale"] == "ko"
    assert manifest["source"]["path"].startswith("countryinfo==")


def test_a_new_field_is_one_declaration_in_its_domain(monkeypatch):
    """Adding a fact to a domain is a FactField and its forms in that domain's module (here patched in): the
    evalset, the scorer, the baselines and the summaries take it up with no other change."""
    import dataclasses

    import harness.domains.countries as module
    from harness.domains import FactField, Table, forms
    tld = FactField("tld", "names", lexicon="tlds", statement="Its domain is {value}.")
    pool = forms("tld", [("What is the internet domain of {title}?", "The internet domain of {title} is {tld}.")],
                 [("Which top-level domain does {title} use?", "{title} uses {tld}.")])
    domain = dataclasses.replace(module.DOMAIN, fields=(*module.DOMAIN.fields, tld), locales=("en",),
                                 forms={"en": {**module.DOMAIN.forms["en"], "tld": pool}})
    monkeypatch.setattr(module, "DOMAIN", domain)
    table = domain.load(None, 30, 0)
    table = Table(subjects=tuple(dataclasses.replace(s, facts={**s.facts, "tld": (f".{s.id}x",)})
                                 for s in table.subjects), source=table.source, rows_read=table.rows_read)
    evalset = build_evalset(get_domain("countries"), table, name="t", locale="en")
    assert evalset.manifest["counts"]["eval"]["verbatim"]["tld"] > 0
    assert evalset.manifest["domain"]["fields"]["tld"] == {"kind": "names", "lexicon": "tlds"}
    summary = summarise(score_predictions(evalset, answer_key(evalset)), domain.field_names)
    assert list(summary["verbatim"])[-2:] == ["tld", "all"] and summary["verbatim"]["tld"]["accuracy"] == 1.0
    wrong = [dataclasses.replace(p, output="Its domain is .zz.") for p in answer_key(evalset)]
    assert summarise(score_predictions(evalset, wrong))["verbatim"]["tld"]["accuracy"] == 0.0


@pytest.mark.parametrize("header, rows, message", [
    ("sku,name,name,manufacturer", None, r"products\.csv: line 1: column 'name' appears twice"),
    (None, 0, r"--rows 0: .*at least 1"),
])
def test_a_table_is_read_as_strictly_as_the_anime_csv(tmp_path, header, rows, message):
    """User tables share the anime reader's CSV checks (storage.CsvRows): a repeated column is an error."""
    lines = (PRODUCTS.parent / "products.csv").read_text().splitlines()
    (tmp_path / "products.csv").write_text("\n".join([header or lines[0], *lines[1:3]]) + "\n")
    (tmp_path / "products.toml").write_text(BASE)
    with pytest.raises(DomainError, match=message):
        get_domain(str(tmp_path / "products.toml")).load(None, rows, 0)

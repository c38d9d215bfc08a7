"""User tables: a CSV and a TOML file that declares it, the same declaration a built-in domain makes in Python.

    [domain]
    name = "products"               # names the evalset and the held-out split's hash
    noun = "products"               # what a row is, plural, for reports
    csv = "products.csv"            # relative to this file (`--data` gives another)
    id = "sku"                      # column: a unique id per row
    title = "name"                  # column: the name questions use
    aliases = ["brand_name"]        # columns: other names of the row (optional)
    locales = ["en"]
    template_version = "1"          # bump when templates change: evalsets record it

    [fields.maker]                  # one table per fact field, in the order questions are asked
    column = "manufacturer"
    kind = "companies"              # category | names | companies | count | decimal | large_count
    statement = "It is made by {value}."   # the answer key's plain sentence
    [fields.maker.en]
    train = [["Who makes {title}?", "{title} is made by {maker}."]]
    heldout = [["Name the manufacturer of {title}.", "The manufacturer of {title} is {maker}."]]

    [reverse]                       # optional: from facts back to the row's name
    fields = ["maker", "category"]
    en = "Which product is made by {maker} in the category {category}?"

Kind options: names/companies/category `separator` (",") and `values` (known values and their aliases, a
table of lists); decimal `decimals` (2), `lenient` (0.1), `bounds` ([0, 10]); large_count `relative` (0.01),
`minimum` (10); count `unit` (a regex for the word after the number, e.g. "pages?"). `missing` lists the cell
texts that mean no value (default "", "UNKNOWN", "NA", "N/A").

Every error names the TOML file, the key and its line, or the CSV file, row, line and column.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import tomllib
from pathlib import Path

from harness import storage
from harness.domains import KINDS, SET_KINDS, Domain, DomainError, FactField, Reverse, Subject, Table, forms

TABLE_KINDS = tuple(k for k in KINDS if k != "custom")
DOMAIN_KEYS = {"name": str, "noun": str, "csv": str, "id": str, "title": str, "aliases": list, "locales": list,
               "template_version": str, "missing": list}
DOMAIN_REQUIRED = ("name", "csv", "id", "title", "locales")
FIELD_KEYS = {"column": str, "kind": str, "statement": str, "separator": str, "values": dict, "decimals": int,
              "lenient": (int, float), "bounds": list, "relative": (int, float), "minimum": (int, float),
              "unit": str}
DEFAULT_MISSING = ("", "UNKNOWN", "NA", "N/A")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def load_table_domain(path: Path) -> Domain:
    """The domain a TOML file declares; a DomainError names the file, key and line of anything wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise DomainError(f"{path}: cannot read the table declaration ({err.strerror}).") from err
    try:
        declaration = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise DomainError(f"{path}: not valid TOML: {err}.") from err
    return domain_from_declaration(declaration, str(path.resolve()), text)


def domain_from_declaration(declaration: dict, file: str, text: str = "") -> Domain:
    """The domain of a declaration (a parsed TOML file); `text`, where given, lets errors name lines."""
    where = _Where(file, text)
    if not isinstance(declaration.get("domain"), dict):
        raise DomainError(f"{file}: needs a [domain] table with {list(DOMAIN_REQUIRED)}.")
    head = declaration["domain"]
    _check_keys(head, DOMAIN_KEYS, "domain", where)
    for key in DOMAIN_REQUIRED:
        if key not in head:
            raise DomainError(f"{where.at('domain')}: [domain] lacks {key!r}; it needs {list(DOMAIN_REQUIRED)}.")
    if not _NAME.fullmatch(head["name"]):
        raise DomainError(f"{where.at('domain', 'name')}: name = {head['name']!r}: use lower-case letters, digits "
                          "and '_', starting with a letter (it names evalsets).")
    locales = tuple(head["locales"])
    if not locales or not all(isinstance(x, str) and x for x in locales):
        raise DomainError(f"{where.at('domain', 'locales')}: locales must list at least one locale, e.g. [\"en\"].")
    raw_fields = declaration.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise DomainError(f"{file}: declares no [fields.NAME] table; declare one per fact to ask about.")
    fields, pools = [], {locale: {} for locale in locales}
    for name, spec in raw_fields.items():
        fact, by_locale = _field(name, spec, locales, set(raw_fields), where)
        fields.append(fact)
        for locale, pool in by_locale.items():
            pools[locale][name] = pool
    reverse = _reverse(declaration.get("reverse"), set(raw_fields), locales, where)
    unknown = sorted(set(declaration) - {"domain", "fields", "reverse"})
    if unknown:
        raise DomainError(f"{where.at(unknown[0])}: unknown table [{unknown[0]}]; a declaration has [domain], "
                          "[fields.NAME] and [reverse].")
    csv_path = Path(head["csv"])
    if not csv_path.is_absolute():
        csv_path = Path(file).parent / csv_path
    missing = tuple(head.get("missing", DEFAULT_MISSING))

    def load(data: str | None, rows: int | None, seed: int) -> Table:
        return read_table(Path(data) if data else csv_path, head, tuple(fields), missing, rows, where)

    return Domain(name=head["name"], noun=head.get("noun", head["name"]), fields=tuple(fields), forms=pools,
                  template_version=head.get("template_version", "1"), load=load, locales=locales, reverse=reverse,
                  default_data=str(csv_path), declaration=declaration, source_file=file)


def _field(name: str, spec, locales: tuple[str, ...], names: set[str], where) -> tuple[FactField, dict]:
    table = f"fields.{name}"
    if not _NAME.fullmatch(name) or name == "title":
        raise DomainError(f"{where.at(table)}: field name {name!r}: use lower-case letters, digits and '_' "
                          "('title' is the row's name).")
    if not isinstance(spec, dict):
        raise DomainError(f"{where.at(table)}: [fields.{name}] must be a table.")
    options = {k: v for k, v in spec.items() if k not in locales}
    _check_keys(options, FIELD_KEYS, table, where, extra=f"or a locale table {list(locales)}")
    for key in ("column", "kind"):
        if key not in options:
            raise DomainError(f"{where.at(table)}: [fields.{name}] lacks {key!r}.")
    kind = options["kind"]
    if kind not in TABLE_KINDS:
        raise DomainError(f"{where.at(table, 'kind')}: kind = {kind!r}: choose one of {list(TABLE_KINDS)}.")
    values = options.get("values", {})
    if not all(isinstance(v, list) and all(isinstance(a, str) for a in v) for v in values.values()):
        raise DomainError(f"{where.at(table, 'values')}: values maps each known value to a list of aliases, "
                          "e.g. {Euro = [\"EUR\"]}.")
    bounds = options.get("bounds", [0, 10])
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds)
            and bounds[0] < bounds[1]):
        raise DomainError(f"{where.at(table, 'bounds')}: bounds must be [low, high] with low < high.")
    if options.get("unit"):
        try:
            re.compile(options["unit"])
        except re.error as err:
            raise DomainError(f"{where.at(table, 'unit')}: unit is not a regular expression ({err}).") from err
    fact = FactField(
        name=name, kind=kind, column=options["column"], separator=options.get("separator", ","),
        lexicon=name if kind in (*SET_KINDS, "category") else None,
        vocabulary={k: tuple(v) for k, v in values.items()}, statement=options.get("statement", "It is {value}."),
        unit=options.get("unit", ""), decimals=options.get("decimals", 2), lenient=float(options.get("lenient", 0.1)),
        bounds=(float(bounds[0]), float(bounds[1])), relative=float(options.get("relative", 0.01)),
        minimum=float(options.get("minimum", 10)))
    _check_placeholders(fact.statement, {"value", "label", "s"}, f"{table}.statement", where, table, "statement")
    by_locale = {}
    for locale in locales:
        pools = spec.get(locale)
        if not isinstance(pools, dict) or not pools.get("train") or not pools.get("heldout"):
            raise DomainError(f"{where.at(f'{table}.{locale}')}: [fields.{name}.{locale}] needs train = [[question, "
                              "answer], ...] and heldout = [[question, answer], ...], at least one pair each.")
        pairs = {}
        for pool in ("train", "heldout"):
            rows = pools[pool]
            if not isinstance(rows, list) or not all(isinstance(p, list) and len(p) == 2 and
                                                      all(isinstance(t, str) for t in p) for p in rows):
                raise DomainError(f"{where.at(f'{table}.{locale}', pool)}: {pool} must be a list of [question, "
                                  "answer] pairs of text.")
            for question, answer in rows:
                for text in (question, answer):
                    _check_placeholders(text, {"title", *names}, f"{table}.{locale}.{pool}", where,
                                        f"{table}.{locale}", pool)
                if "{" + name + "}" not in answer:
                    raise DomainError(f"{where.at(f'{table}.{locale}', pool)}: the answer {answer!r} does not state "
                                      f"{{{name}}}: a trained answer must say the fact it teaches.")
            pairs[pool] = [tuple(p) for p in rows]
        by_locale[locale] = forms(name, pairs["train"], pairs["heldout"])
    return fact, by_locale


def _reverse(spec, names: set[str], locales: tuple[str, ...], where) -> Reverse | None:
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("fields"), list) or not spec["fields"] \
            or not set(spec["fields"]) <= names:
        raise DomainError(f"{where.at('reverse', 'fields')}: [reverse] needs fields = [...] naming declared fields "
                          f"({sorted(names)}).")
    questions = {}
    for locale in locales:
        if not isinstance(spec.get(locale), str):
            raise DomainError(f"{where.at('reverse')}: [reverse] needs a question for locale {locale!r}.")
        _check_placeholders(spec[locale], set(spec["fields"]), f"reverse.{locale}", where, "reverse", locale)
        questions[locale] = spec[locale]
    return Reverse(questions=questions, fields=tuple(spec["fields"]))


def _check_keys(table: dict, allowed: dict, name: str, where, extra: str = "") -> None:
    for key, value in table.items():
        if key not in allowed:
            raise DomainError(f"{where.at(name, key)}: unknown key {key!r} in [{name}]; allowed: "
                              f"{sorted(allowed)}{' ' + extra if extra else ''}.")
        kind = allowed[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise DomainError(f"{where.at(name, key)}: {key} = {value!r} must be a {wanted}.")


def _check_placeholders(text: str, allowed: set[str], key: str, where, table: str, item: str) -> None:
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as err:
        raise DomainError(f"{where.at(table, item)}: {key}: {text!r} is not a template ({err}); write a literal "
                          "brace as {{ or }}.") from err
    unknown = sorted(used - allowed)
    if unknown:
        raise DomainError(f"{where.at(table, item)}: {key}: {text!r} uses {{{unknown[0]}}}; a template may use "
                          f"{sorted('{' + a + '}' for a in allowed)}.")


class _Where:
    """Where a key is written in the TOML text: 'products.toml, line 12 (fields.maker.kind)'."""

    def __init__(self, file: str, text: str):
        self.file, self.lines = file, text.splitlines()

    def at(self, table: str, key: str | None = None) -> str:
        label = f"{table}.{key}" if key else table
        header = re.compile(r"^\s*\[+\s*" + re.escape(table) + r"\s*\]+\s*(#.*)?$")
        start = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
        line = start
        if start is not None and key is not None:
            assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            line = next((i for i in range(start + 1, len(self.lines)) if assignment.match(self.lines[i])
                         or self.lines[i].lstrip().startswith("[")), start)
            line = line if assignment.match(self.lines[line]) else start
        if line is None:
            return f"{self.file} ({label})"
        return f"{self.file}, line {line + 1} ({label})"


# --- reading the CSV ------------------------------------------------------------------------------------


def read_table(path: Path, head: dict, fields: tuple[FactField, ...], missing: tuple[str, ...],
               rows: int | None, where) -> Table:
    """The CSV's rows as subjects; a bad cell is an error naming the file, row, line and column."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DomainError(f"{path}: cannot read the table ({err.strerror}); check [domain] csv in {where.file} or "
                          "--data.") from err
    if rows is not None and rows < 1:
        raise DomainError(f"--rows {rows}: give the number of rows to use, at least 1, or leave --rows out.")
    csv_rows = storage.CsvRows(raw, str(path), DomainError)
    header = csv_rows.header
    columns = {"id": head["id"], "title": head["title"], **{f"aliases[{i}]": c for i, c in
                                                            enumerate(head.get("aliases", []))}}
    columns.update({f"fields.{f.name}.column": f.column for f in fields})
    for key, column in columns.items():
        if column not in header:
            table, _, item = key.rpartition(".") if key.startswith("fields.") else ("domain", "", key.split("[")[0])
            raise DomainError(f"{where.at(table, item)}: column {column!r} is not in {path}'s header {header}.")
    subjects, seen = [], {}
    for number, here, row in csv_rows:
        row = {column: cell.strip() for column, cell in row.items()}
        ident = row[head["id"]]
        if ident in missing:
            raise DomainError(f"{here}, column {head['id']!r}: every row needs an id.")
        if ident in seen:
            raise DomainError(f"{here}, column {head['id']!r}: id {ident!r} repeats row {seen[ident]}; ids must "
                              "be unique.")
        seen[ident] = number
        facts = {f.name: _cell(row[f.column], f, missing, f"{here}, column {f.column!r}") for f in fields}
        aliases = {c: (row[c] if row[c] not in missing else None) for c in head.get("aliases", [])}
        name = row[head["title"]]
        subjects.append(Subject(id=int(ident) if ident.isdigit() else ident,
                                name="" if name in missing else name, aliases=aliases, facts=facts))
        if rows is not None and len(subjects) == rows:  # stop reading: the rows after it are not used
            break
    if not subjects:
        raise DomainError(f"{path}: the table has a header but no rows.")
    return Table(subjects=tuple(subjects), source={"kind": f"table:{head['name']}", "path": str(path),
                                                   "sha256": hashlib.sha256(raw).hexdigest()},
                 rows_read=csv_rows.rows_read)


def _cell(value: str, fact: FactField, missing: tuple[str, ...], where: str):
    if value in missing:
        return None
    if fact.kind in SET_KINDS:
        return tuple(dict.fromkeys(v.strip() for v in value.split(fact.separator) if v.strip() not in missing))
    if fact.kind == "category":
        return value
    number = value.replace(",", "") if re.fullmatch(r"[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?", value) else value
    try:
        parsed = float(number)
    except ValueError:
        parsed = math.nan
    whole = fact.kind in ("count", "large_count")
    if not math.isfinite(parsed) or (whole and parsed != int(parsed)):
        raise DomainError(f"{where}: {value!r} is not {'a whole number' if whole else 'a number'} ({fact.kind} "
                          f"field {fact.name}); fix the cell or leave it empty.")
    return int(parsed) if whole else parsed

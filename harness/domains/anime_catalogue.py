"""The catalogue: typed anime records read from a table in the Kaggle MyAnimeList schema.

Consumes `anime-dataset-2023.csv` (24 columns; `UNKNOWN` marks a missing value, numbers are written as
floats and a comma in one only groups thousands, list fields are comma-separated) and produces `AnimeRecord`s.
Example row, as parsed:

    AnimeRecord(anime_id=1, name="Cowboy Bebop", english_name="Cowboy Bebop", other_name="カウボーイビバップ",
                score=8.75, genres=("Action", "Award Winning", "Sci-Fi"), type="TV", episodes=26,
                producers=("Bandai Visual",), studios=("Sunrise",), rating="R - 17+ (violence & profanity)",
                scored_by=914193, synopsis="Crime is timeless. ...")

A file that cannot be read is an error naming the file, the row (and line) and the column; nothing is
returned in part. A row that merely lacks a fact keeps that fact as None.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness import storage
from harness.errors import HarnessError

MISSING = {"", "UNKNOWN"}

# Columns the templates read. The other Kaggle columns may be absent.
REQUIRED_COLUMNS = (
    "anime_id", "Name", "English name", "Other name", "Score", "Genres", "Synopsis", "Type", "Episodes",
    "Producers", "Studios", "Rating", "Scored By",
)
KAGGLE_COLUMNS = (
    "anime_id", "Name", "English name", "Other name", "Score", "Genres", "Synopsis", "Type", "Episodes",
    "Aired", "Premiered", "Status", "Producers", "Licensors", "Studios", "Source", "Duration", "Rating",
    "Rank", "Popularity", "Favorites", "Scored By", "Members", "Image URL",
)

# MyAnimeList's age ratings, as the Kaggle table spells them, keyed by their short code.
RATINGS = {
    "G": "G - All Ages",
    "PG": "PG - Children",
    "PG-13": "PG-13 - Teens 13 or older",
    "R": "R - 17+ (violence & profanity)",
    "R+": "R+ - Mild Nudity",
    "Rx": "Rx - Hentai",
}
TYPES = ("TV", "OVA", "Movie", "Special", "ONA", "Music")  # every Type of the Kaggle table but UNKNOWN

# A number as the Kaggle table writes it: ASCII digits, a decimal point, and commas only where they group
# thousands ("914,193"). "0,5" is a decimal comma, not five; float() alone would also take "1_0" or "١٠".
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|[+-]?\.[0-9]+")

# Placeholder synopses MAL uses where it has none; they carry no fact.
_EMPTY_SYNOPSIS = re.compile(r"^(no synopsis|no description)", re.IGNORECASE)
_LEGAL_SUFFIX = re.compile(r"^(inc|ltd|co|llc|corp|co\., ltd)\.?$", re.IGNORECASE)
_SYNOPSIS_SOURCE_NOTE = re.compile(r"\s*[\[(](source|written by)[^\])]*[\])]\s*$", re.IGNORECASE)


class CatalogueError(HarnessError, ValueError):
    """The table cannot be read; the message names the file, row, column and what to do."""


@dataclass(frozen=True)
class AnimeRecord:
    anime_id: int
    name: str
    english_name: str | None = None
    other_name: str | None = None
    score: float | None = None
    genres: tuple[str, ...] = ()
    synopsis: str | None = None
    type: str | None = None
    episodes: int | None = None
    producers: tuple[str, ...] = ()
    studios: tuple[str, ...] = ()
    rating: str | None = None  # the short code: G, PG, PG-13, R, R+, Rx
    scored_by: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> AnimeRecord:
        listed = {k: tuple(row[k]) for k in ("genres", "producers", "studios") if k in row}
        return cls(**{**row, **listed})


@dataclass(frozen=True)
class Catalogue:
    """Records plus what the manifest must say about where they came from."""

    records: tuple[AnimeRecord, ...]
    source_kind: str  # "kaggle-csv" or "synthetic"
    source_path: str | None
    source_sha256: str
    rows_read: int


def read_catalogue_csv(path: str | Path) -> Catalogue:
    """Parse a Kaggle-schema CSV; raise CatalogueError on anything that is not a clean table."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CatalogueError(f"{path}: cannot read the file ({err.strerror}). Check the --data path.") from err
    return parse_catalogue_bytes(raw, source=str(path), source_kind="kaggle-csv")


def parse_catalogue_bytes(raw: bytes, source: str, source_kind: str) -> Catalogue:
    rows = storage.CsvRows(raw, source, CatalogueError)
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.header]
    if missing:
        raise CatalogueError(
            f"{source}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"the header has {rows.header}. Use the Kaggle anime-dataset-2023.csv schema."
        )
    records, seen_ids = [], {}
    for number, where, row in rows:
        record = _parse_row(row, where)
        if record.anime_id in seen_ids:
            raise CatalogueError(
                f"{where}: anime_id {record.anime_id} repeats row {seen_ids[record.anime_id]}; anime_id must be "
                "unique."
            )
        seen_ids[record.anime_id] = number
        records.append(record)
    if not records:
        raise CatalogueError(f"{source}: the file has a header but no anime rows.")
    return Catalogue(
        records=tuple(records),
        source_kind=source_kind,
        source_path=source if source_kind == "kaggle-csv" else None,
        source_sha256=hashlib.sha256(raw).hexdigest(),
        rows_read=rows.rows_read,
    )


def first_rows(catalogue: Catalogue, n: int) -> Catalogue:
    """The catalogue's first `n` records (`--rows N` on a CSV); all of them when it has fewer."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CatalogueError(
            f"{catalogue.source_path or catalogue.source_kind}: --rows {n!r}: the number of rows to use must be "
            "a whole number of at least 1; give e.g. --rows 300, or leave --rows out to use every row."
        )
    return replace(catalogue, records=catalogue.records[:n], rows_read=min(n, catalogue.rows_read))


def _parse_row(row: dict[str, str], where: str) -> AnimeRecord:
    def cell(column: str) -> str | None:
        value = row.get(column, "").strip()
        return None if value in MISSING else value

    def number(column: str, *, integral: bool, low: float, high: float):
        value = cell(column)
        if value is None:
            return None
        if "," in value and not _NUMBER.fullmatch(value):
            raise CatalogueError(
                f"{where}, column {column!r}: {value!r} has a comma that does not group thousands "
                "(as in 914,193); write a decimal point (0.5, not 0,5) and re-save the file."
            )
        parsed = float(value.replace(",", "")) if _NUMBER.fullmatch(value) else math.nan
        if not math.isfinite(parsed) or not low <= parsed <= high or (integral and parsed != int(parsed)):
            kind = "a whole number" if integral else "a number"
            raise CatalogueError(
                f"{where}, column {column!r}: {value!r} is not {kind} in [{low:g}, {high:g}]; "
                "fix the value or write UNKNOWN."
            )
        return int(parsed) if integral else parsed

    anime_id = number("anime_id", integral=True, low=1, high=10**9)
    if anime_id is None:
        raise CatalogueError(f"{where}, column 'anime_id': missing; every row needs a unique integer anime_id.")
    rating_label = cell("Rating")
    rating = None
    if rating_label is not None:
        rating = next((code for code, label in RATINGS.items() if label == rating_label), None)
        if rating is None:
            raise CatalogueError(
                f"{where}, column 'Rating': {rating_label!r} is not a MyAnimeList rating; "
                f"expected one of {list(RATINGS.values())} or UNKNOWN."
            )
    kind = cell("Type")
    if kind is not None and kind not in TYPES:
        raise CatalogueError(
            f"{where}, column 'Type': {kind!r} is not a MyAnimeList type; expected one of {list(TYPES)}; "
            "fix the value or write UNKNOWN."
        )
    return AnimeRecord(
        anime_id=anime_id,
        name=cell("Name") or "",
        english_name=cell("English name"),
        other_name=cell("Other name"),
        score=number("Score", integral=False, low=0, high=10),
        genres=split_list(cell("Genres")),
        synopsis=clean_synopsis(cell("Synopsis")),
        type=kind,
        episodes=number("Episodes", integral=True, low=1, high=100_000),
        producers=split_list(cell("Producers")),
        studios=split_list(cell("Studios")),
        rating=rating,
        scored_by=number("Scored By", integral=True, low=0, high=10**10),
    )


def split_list(value: str | None) -> tuple[str, ...]:
    """'Action, Award Winning, Sci-Fi' -> ('Action', 'Award Winning', 'Sci-Fi'); UNKNOWN items dropped,
    a legal suffix kept with its company ('Comstock, Inc.')."""
    if value is None:
        return ()
    items: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if items and _LEGAL_SUFFIX.match(item):  # "Comstock, Inc." is one company, not two
            items[-1] = f"{items[-1]}, {item}"
        elif item and item not in MISSING:
            items.append(item)
    return tuple(dict.fromkeys(items))


def clean_synopsis(value: str | None) -> str | None:
    """First paragraph, without MAL's '(Source: ANN)' notes; None for placeholders."""
    if value is None or _EMPTY_SYNOPSIS.match(value):
        return None
    paragraph = value.replace("\r\n", "\n").split("\n\n")[0]
    paragraph = _SYNOPSIS_SOURCE_NOTE.sub("", " ".join(paragraph.split()))
    return paragraph or None

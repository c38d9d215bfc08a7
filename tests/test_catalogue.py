import csv
import io

import pytest

from harness.domains.anime_catalogue import (
    TYPES,
    CatalogueError,
    clean_synopsis,
    first_rows,
    read_catalogue_csv,
    split_list,
)


def test_tiny_csv_parses_quirks(tiny_csv):
    catalogue = read_catalogue_csv(tiny_csv)
    by_id = {r.anime_id: r for r in catalogue.records}
    assert catalogue.rows_read == 5 and len(by_id) == 5
    first = by_id[101]
    assert first.episodes == 26 and isinstance(first.episodes, int)
    assert first.scored_by == 914193 and first.score == 7.85
    assert first.genres == ("Adventure", "Fantasy")
    assert first.producers == ("Bandai Visual", "Dentsu")
    assert first.rating == "PG-13"
    assert first.synopsis == 'A wandering painter crosses "the salt flats", sketching towns.'
    assert by_id[102].english_name is None and by_id[102].producers == ()
    third = by_id[103]
    assert third.score is None and third.episodes is None and third.synopsis is None
    assert third.producers == ("Comstock, Ltd.", "Aniplex")
    assert third.studios == ("Madhouse", "Production I.G")
    empty = by_id[105]
    assert empty.genres == () and empty.type is None and empty.rating is None


@pytest.mark.parametrize("value, expected", [
    ("Action, Award Winning, Sci-Fi", ("Action", "Award Winning", "Sci-Fi")),
    ("UNKNOWN", ()),
    (None, ()),
    ("Comstock, Inc., Dentsu", ("Comstock, Inc.", "Dentsu")),
    ("A, A", ("A",)),
])
def test_split_list(value, expected):
    assert split_list(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("One.\n\nTwo.", "One."),
    ("Recap episode.\n\n(Source: ANN)", "Recap episode."),
    ("Story [Written by MAL Rewrite]", "Story"),
    ("No synopsis information has been added to this title.", None),
    (None, None),
])
def test_clean_synopsis(value, expected):
    assert clean_synopsis(value) == expected


def _write(tmp_path, data: bytes):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    return path


def test_missing_column_names_it(tmp_path, tiny_csv):
    text = tiny_csv.read_text(encoding="utf-8").replace("Studios,", "Studio_s,", 1)
    with pytest.raises(CatalogueError, match=r"bad\.csv: missing required column\(s\) 'Studios'"):
        read_catalogue_csv(_write(tmp_path, text.encode()))


def test_truncated_file_names_row(tmp_path, tiny_csv):
    raw = tiny_csv.read_bytes()
    cut = raw[: raw.index(b"Comstock")]  # ends inside row 3's open quote
    with pytest.raises(CatalogueError, match=r"row 3 \(line \d+\).*truncated"):
        read_catalogue_csv(_write(tmp_path, cut))


def test_short_row_names_row(tmp_path, tiny_csv):
    lines = tiny_csv.read_bytes().split(b"\r\n")
    with pytest.raises(CatalogueError, match=r"row \d+ .*fields where the header has 24"):
        read_catalogue_csv(_write(tmp_path, b"\r\n".join(lines[:-2] + [lines[-2][:40]])))


@pytest.mark.parametrize("data, message", [
    (b"", "the file is empty"),
    (b"   \n", "the file is empty"),
])
def test_empty_file(tmp_path, data, message):
    with pytest.raises(CatalogueError, match=message):
        read_catalogue_csv(_write(tmp_path, data))


def test_header_only(tmp_path, tiny_csv):
    header = tiny_csv.read_bytes().split(b"\r\n")[0] + b"\r\n"
    with pytest.raises(CatalogueError, match="header but no anime rows"):
        read_catalogue_csv(_write(tmp_path, header))


def test_not_utf8_names_line(tmp_path, tiny_csv):
    raw = tiny_csv.read_bytes().replace(b"Hoshizora Kissa", "Hoshizora Kiss\xe9".encode("latin-1"))
    with pytest.raises(CatalogueError, match=r"line \d+, byte \d+: not UTF-8"):
        read_catalogue_csv(_write(tmp_path, raw))


def test_all_unknown_row_including_id_is_an_error(tmp_path, tiny_csv):
    raw = tiny_csv.read_bytes() + b",".join([b"UNKNOWN"] * 24) + b"\r\n"
    with pytest.raises(CatalogueError, match=r"row 6 \(line \d+\), column 'anime_id': missing"):
        read_catalogue_csv(_write(tmp_path, raw))


def _with_cell(tiny_csv, column: str, value: str) -> bytes:
    """tiny.csv with row 2's `column` set to `value`."""
    rows = list(csv.reader(io.StringIO(tiny_csv.read_text(encoding="utf-8"), newline="")))
    rows[2][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


@pytest.mark.parametrize("column, value, message", [
    ("Score", "eleven", r"column 'Score': 'eleven' is not a number"),
    ("Score", "11.5", r"column 'Score': '11.5' is not a number in \[0, 10\]"),
    ("Score", "-0.5", r"column 'Score': '-0.5' is not a number in \[0, 10\]"),
    ("Score", "nan", r"column 'Score': 'nan' is not a number"),
    ("Score", "1_0", r"column 'Score': '1_0' is not a number"),  # float() would read 10.0
    ("Score", "0,5", r"column 'Score': '0,5' has a comma that does not group thousands.*0\.5, not 0,5"),
    ("Score", "1,0", r"column 'Score': '1,0' has a comma that does not group thousands"),
    ("Score", "8,75", r"column 'Score': '8,75' has a comma"),
    ("Scored By", "12,34", r"column 'Scored By': '12,34' has a comma that does not group thousands"),
    ("Scored By", "1234,567", r"column 'Scored By': '1234,567' has a comma"),
    ("Scored By", ",123", r"column 'Scored By': ',123' has a comma"),
    ("Scored By", "1,,234", r"column 'Scored By': '1,,234' has a comma"),
    ("Episodes", "1,2", r"column 'Episodes': '1,2' has a comma"),
    ("Episodes", "2.5", r"column 'Episodes': '2.5' is not a whole number"),
    ("Rating", "PG-15 - Teens", r"column 'Rating': 'PG-15 - Teens' is not a MyAnimeList rating"),
    ("Type", "Podcast", r"column 'Type': 'Podcast' is not a MyAnimeList type; expected one of \['TV', .*'Music'\]"),
    ("Type", "tv", r"column 'Type': 'tv' is not a MyAnimeList type"),
])
def test_bad_value_names_row_and_column(tmp_path, tiny_csv, column, value, message):
    with pytest.raises(CatalogueError, match=r"bad\.csv: row 2 \(line \d+\), " + message):
        read_catalogue_csv(_write(tmp_path, _with_cell(tiny_csv, column, value)))


@pytest.mark.parametrize("column, value, field, expected", [
    ("Scored By", "914,193", "scored_by", 914193),
    ("Scored By", "1,234,567", "scored_by", 1234567),
    ("Scored By", "1,234,567.0", "scored_by", 1234567),
    ("Scored By", "999", "scored_by", 999),
    ("Score", "0.5", "score", 0.5),
    ("Score", "10.00", "score", 10.0),
    ("Score", "1", "score", 1.0),
    ("Episodes", "1,000.0", "episodes", 1000),
    ("Type", "UNKNOWN", "type", None),  # UNKNOWN is a missing type, not a seventh one
    *[("Type", kind, "type", kind) for kind in TYPES],
])
def test_good_value_is_read(tmp_path, tiny_csv, column, value, field, expected):
    record = read_catalogue_csv(_write(tmp_path, _with_cell(tiny_csv, column, value))).records[1]
    assert getattr(record, field) == expected


@pytest.mark.parametrize("rename, message", [
    (("English name", "Name"), r"column 'Name' appears twice in the header, as columns 2 and 3"),
    (("Image URL", "Score"), r"column 'Score' appears twice in the header, as columns 5 and 24"),
    (("Members", " Score "), r"column 'Score' appears twice in the header, as columns 5 and 23"),
])
def test_duplicate_header_names_column_and_positions(tmp_path, tiny_csv, rename, message):
    old, new = rename
    lines = tiny_csv.read_bytes().split(b"\r\n", 1)
    header = b",".join(new.encode() if c == old.encode() else c for c in lines[0].split(b","))
    with pytest.raises(CatalogueError, match=r"bad\.csv: line 1: " + message + "; remove or rename one"):
        read_catalogue_csv(_write(tmp_path, header + b"\r\n" + lines[1]))


@pytest.mark.parametrize("n, kept, rows_read", [(1, [101], 1), (3, [101, 102, 103], 3), (5, None, 5), (99, None, 5)])
def test_first_rows(tiny_csv, n, kept, rows_read):
    catalogue = read_catalogue_csv(tiny_csv)
    first = first_rows(catalogue, n)
    assert [r.anime_id for r in first.records] == (kept or [r.anime_id for r in catalogue.records])
    assert first.rows_read == rows_read and first.source_sha256 == catalogue.source_sha256


@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_first_rows_below_one_is_an_error(tiny_csv, n):
    with pytest.raises(CatalogueError, match=rf"tiny\.csv: --rows {n!r}: .* at least 1; give e\.g\. --rows 300"):
        first_rows(read_catalogue_csv(tiny_csv), n)


def test_duplicate_id(tmp_path, tiny_csv):
    raw = tiny_csv.read_bytes().replace(b"\r\n102,", b"\r\n101,")
    with pytest.raises(CatalogueError, match="anime_id 101 repeats row 1"):
        read_catalogue_csv(_write(tmp_path, raw))


def test_unreadable_path(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read the file"):
        read_catalogue_csv(tmp_path / "nope.csv")

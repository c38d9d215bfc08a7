"""Atomic, deterministic file writes and strict JSONL reads, shared by every stage that touches disk.

Writes go to a temporary file in the same folder and are renamed into place, so a reader never sees half a
file. JSON is written with a fixed key order and UTF-8 text, so the same records give the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.errors import HarnessError


class RecordError(HarnessError, ValueError):
    """A JSON or JSONL file cannot be read; the message names the file and line."""


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def file_in_the_way(path: str | Path) -> Path | None:
    """The first folder on `path` that exists but is a file ('notes.txt' of 'notes.txt/x.json'), or None:
    writing there would fail deep inside with 'File exists' or 'Not a directory'."""
    return next((parent for parent in Path(path).parents if parent.exists() and not parent.is_dir()), None)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file follows the umask like any other
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, dumps(obj))


def jsonl_text(rows: Iterable[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, jsonl_text(rows))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_json(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise RecordError(f"{path}: no such file.") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"{path}: not valid JSON ({err}).") from err


def read_jsonl(path: str | Path, required: tuple[str, ...] = ()) -> list[dict]:
    """Every line one JSON object holding the `required` keys; else an error naming file, line and key."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as err:
        raise RecordError(f"{path}: no such file.") from err
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: not UTF-8 text ({err.reason}).") from err
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RecordError(f"{path}: line {number}: not valid JSON ({err.msg}).") from err
        if not isinstance(row, dict):
            raise RecordError(f"{path}: line {number}: expected a JSON object, got {type(row).__name__}.")
        missing = [key for key in required if key not in row]
        if missing:
            raise RecordError(f"{path}: line {number}: missing key(s) {missing}; each line needs {list(required)}.")
        rows.append(row)
    return rows


def write_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CsvRows:
    """A CSV table's rows as {column: text}, read strictly; every fault is an `error` that names the file, row
    and line: not UTF-8, empty, a header that is not CSV or names a column twice, a row that is not CSV or has
    another number of cells than the header. Iterating yields (row number, "FILE: row N (line L)", row);
    blank lines are skipped but counted, as `rows_read` counts every row read so far."""

    def __init__(self, raw: bytes, source: str, error: type[Exception]):
        self.source, self.error, self.rows_read = source, error, 0
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            line = raw[: err.start].count(b"\n") + 1
            raise error(f"{source}: line {line}, byte {err.start}: not UTF-8 ({err.reason}). Re-save the file as "
                        "UTF-8.") from err
        if not text.strip():
            raise error(f"{source}: the file is empty; expected a header row and rows of data.")
        self._reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            self.header = [h.strip() for h in next(self._reader)]
        except csv.Error as err:
            raise error(f"{source}: line 1: the header row is not valid CSV ({err}).") from err
        first_seen: dict[str, int] = {}
        for position, column in enumerate(self.header, start=1):
            if column in first_seen:
                raise error(f"{source}: line 1: column {column!r} appears twice in the header, as columns "
                            f"{first_seen[column]} and {position}; remove or rename one copy.")
            first_seen[column] = position

    def __iter__(self) -> Iterator[tuple[int, str, dict[str, str]]]:
        while True:
            line = self._reader.line_num + 1
            try:
                cells = next(self._reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise self.error(f"{self.source}: row {self.rows_read + 1} (line {line}): not valid CSV ({err}); "
                                 "the file may be truncated or have an unclosed quote.") from err
            self.rows_read += 1
            if not cells:  # a blank line
                continue
            where = f"{self.source}: row {self.rows_read} (line {line})"
            if len(cells) != len(self.header):
                raise self.error(f"{where}: {len(cells)} fields where the header has {len(self.header)}; the file "
                                 "may be truncated or a field may need quoting.")
            yield self.rows_read, where, dict(zip(self.header, cells, strict=True))


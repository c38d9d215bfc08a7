"""Evalsets: training records and held-out questions built from a catalogue, written as a folder of data.

`evalsets/NAME/` holds
- `train.jsonl`: chat-format SFT records, the article's three formats plus the training paraphrases:
  {"id": "12-GI2", "anime_id": 12, "template": "GI2", "messages": [{"role": "user", "content": "..."},
   {"role": "assistant", "content": "..."}]}
- `eval.jsonl`: one question per fact:
  {"id": "paraphrase-12-episodes", "anime_id": 12, "split": "paraphrase", "field": "episodes",
   "question": "How many episodes long is ...?", "gold": 13, "aliases": ["thirteen"], "form": "episodes.heldout.0"}
  splits: verbatim (trained fact, trained wording), paraphrase (trained fact, held-out wording), reverse (facts
  to title, where they single out one anime; never trained), unseen (anime held out of training entirely);
- `lexicon.json`: every name each matcher should recognise, so naming a wrong one counts as wrong;
- `manifest.json`: source, rows read and kept, seed, locale, template version, counts, sha256 of each file.
The same inputs give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import storage
from harness.catalogue import RATINGS, AnimeRecord, Catalogue
from harness.errors import HarnessError
from harness.matching import (
    GENRE_ALIASES,
    GENRE_DISTRACTORS,
    GENRES,
    TYPE_ALIASES,
    company_aliases,
    normalise_company,
    normalise_name,
)
from harness.templates import (
    FACT_FIELDS,
    FORMS,
    TEMPLATE_VERSION,
    has_fact,
    render_article,
    render_form,
    render_reverse,
)

SPLITS = ("verbatim", "paraphrase", "reverse", "unseen")
EVAL_FIELDS = (*FACT_FIELDS, "title")
LEXICON_OF_FIELD = {"genres": "genres", "studios": "companies", "producers": "companies", "type": "type",
                    "title": "title"}
EVAL_KEYS = ("id", "anime_id", "split", "field", "question", "gold")
MANIFEST_KEYS = {"name": str, "sha256": str, "files": dict}  # what the later stages read from an evalset manifest
_NUMBER_WORDS = ("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()


class EvalsetError(HarnessError, ValueError):
    """An evalset folder is missing, incomplete or inconsistent; the message names the file."""


@dataclass(frozen=True)
class QAItem:
    id: str
    anime_id: int
    split: str
    field: str
    question: str
    gold: object
    aliases: tuple[str, ...] = ()
    form: str = ""
    subject: str = ""  # the title the question names; an output repeating it is not answering with it

    def to_dict(self) -> dict:
        return {**asdict(self), "aliases": list(self.aliases)}

    @classmethod
    def from_dict(cls, row: dict) -> QAItem:
        return cls(**{**row, "aliases": tuple(row.get("aliases", ()))})


@dataclass(frozen=True)
class Evalset:
    train: tuple[dict, ...]
    items: tuple[QAItem, ...]
    lexicon: dict
    manifest: dict


def is_unseen(anime_id: int, unseen_fraction: float) -> bool:
    """Held out of training by anime_id alone, so the split is the same whatever rows sit beside it."""
    digest = hashlib.sha256(f"anime:{anime_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < unseen_fraction


def _pick(forms: tuple, seed: int, anime_id: int, field: str):
    digest = hashlib.sha256(f"{seed}:{anime_id}:{field}".encode()).digest()
    return forms[digest[0] % len(forms)]


def build_evalset(catalogue: Catalogue, *, name: str, locale: str = "en", seed: int = 0,
                  unseen_fraction: float = 0.2) -> Evalset:
    records = evalset_records(catalogue)
    dropped = usable_records(catalogue.records)[1]
    trained = [r for r in records if not is_unseen(r.anime_id, unseen_fraction)]
    unseen = [r for r in records if is_unseen(r.anime_id, unseen_fraction)]
    forms = FORMS[locale]

    train: list[dict] = []
    for record in trained:
        for template in ("GI1", "GI2", "GI3"):
            rendered = render_article(template, record, locale)
            if rendered:
                train.append(_train_row(record, template, *rendered))
        for field in FACT_FIELDS:
            if has_fact(record, field):
                for form in forms[field]["train"]:
                    train.append(_train_row(record, form.form_id, *render_form(form, record, locale)))

    items: list[QAItem] = []
    for split, group, pool in (("verbatim", trained, "train"), ("paraphrase", trained, "heldout"),
                               ("unseen", unseen, "train")):
        for record in group:
            for field in FACT_FIELDS:
                if has_fact(record, field):
                    form = _pick(forms[field][pool], seed, record.anime_id, field)
                    question, _ = render_form(form, record, locale)
                    items.append(_item(record, split, field, question, form.form_id))
    for record in _singled_out(records, trained):
        items.append(_item(record, "reverse", "title", render_reverse(record, locale), "reverse"))

    manifest = {
        "name": name,
        "source": {"kind": catalogue.source_kind, "path": catalogue.source_path, "sha256": catalogue.source_sha256},
        "rows_read": catalogue.rows_read,
        "rows_kept": len(records),
        "rows_dropped": dropped,
        "anime": {"trained": len(trained), "unseen": len(unseen)},
        "seed": seed,
        "locale": locale,
        "unseen_fraction": unseen_fraction,
        "template_version": TEMPLATE_VERSION,
        "counts": {"train": len(train), "eval": _counts(items)},
    }
    evalset = Evalset(train=tuple(train), items=tuple(items), lexicon=_lexicon(records), manifest=manifest)
    files = {name: storage.sha256_text(text) for name, text in evalset_files(evalset).items()}
    return dataclasses.replace(evalset, manifest={**manifest, "files": files, "sha256": _fingerprint(files)})


def evalset_records(catalogue: Catalogue) -> list[AnimeRecord]:
    """The records an evalset is built from: the usable rows, each company under its one display name."""
    records, dropped = usable_records(catalogue.records)
    if not records:
        raise EvalsetError(f"{catalogue.source_path or 'the catalogue'}: no usable rows ({dropped}).")
    companies = _company_canonicals(records)
    return [_canonical_companies(r, companies) for r in records]


def evalset_files(evalset: Evalset) -> dict[str, str]:
    """The data files' text, exactly as written: the manifest hashes these bytes."""
    return {
        "train.jsonl": storage.jsonl_text(evalset.train),
        "eval.jsonl": storage.jsonl_text(item.to_dict() for item in evalset.items),
        "lexicon.json": storage.dumps(evalset.lexicon),
    }


def usable_records(records: tuple[AnimeRecord, ...]) -> tuple[list[AnimeRecord], dict[str, int]]:
    """Drop rows no question can be asked of: no title, a Name two anime share, or no fact at all.
    An English or Japanese name another anime also goes by is dropped from the record: it names neither."""
    dropped = {"no_title": 0, "ambiguous_title": 0, "no_facts": 0}
    name_count: dict[str, int] = {}
    for r in records:
        if r.name:
            name_count[normalise_name(r.name)] = name_count.get(normalise_name(r.name), 0) + 1
    title_owners: dict[str, set[int]] = {}
    for r in records:
        for title in (r.name, r.english_name, r.other_name):
            if title:
                title_owners.setdefault(normalise_name(title), set()).add(r.anime_id)

    def unshared(title: str | None) -> str | None:
        return title if title and len(title_owners[normalise_name(title)]) == 1 else None

    kept = []
    for r in records:
        if not r.name:
            dropped["no_title"] += 1
        elif name_count[normalise_name(r.name)] > 1:
            dropped["ambiguous_title"] += 1
        elif not any(has_fact(r, f) for f in FACT_FIELDS):
            dropped["no_facts"] += 1
        else:
            kept.append(dataclasses.replace(r, english_name=unshared(r.english_name),
                                            other_name=unshared(r.other_name)))
    return kept, dropped


def _company_canonicals(records: list[AnimeRecord]) -> dict[str, str]:
    """One display name per company: 'Studio Deen' and 'Deen' are one studio, named as first seen."""
    canonical: dict[str, str] = {}
    for r in records:
        for company in (*r.studios, *r.producers):
            canonical.setdefault(normalise_company(company), company)
    return canonical


def _canonical_companies(record: AnimeRecord, canonical: dict[str, str]) -> AnimeRecord:
    def fix(names):
        return tuple(dict.fromkeys(canonical[normalise_company(n)] for n in names))
    return dataclasses.replace(record, studios=fix(record.studios), producers=fix(record.producers))


def _train_row(record: AnimeRecord, template: str, question: str, answer: str) -> dict:
    return {"id": f"{record.anime_id}-{template}", "anime_id": record.anime_id, "template": template,
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _item(record: AnimeRecord, split: str, field: str, question: str, form: str) -> QAItem:
    gold, aliases = _gold(record, field)
    return QAItem(id=f"{split}-{record.anime_id}-{field}", anime_id=record.anime_id, split=split, field=field,
                  question=question, gold=gold, aliases=aliases, form=form,
                  subject="" if field == "title" else record.name)


def _gold(record: AnimeRecord, field: str) -> tuple[object, tuple[str, ...]]:
    if field in ("genres", "studios", "producers"):
        values = list(getattr(record, field))
        if field == "genres":
            return values, tuple(a for v in values for a in GENRE_ALIASES.get(v, ()))
        return values, tuple(a for v in values for a in company_aliases(v)[1:])
    if field == "episodes":
        n = record.episodes
        return n, (_NUMBER_WORDS[n - 1],) if n <= len(_NUMBER_WORDS) else ()
    if field == "rating":
        return record.rating, (RATINGS[record.rating],)
    if field == "type":
        return record.type, TYPE_ALIASES.get(record.type, ())
    if field == "title":
        return record.name, tuple(t for t in (record.english_name, record.other_name) if t)
    return getattr(record, field), ()


def _singled_out(records: list[AnimeRecord], trained: list[AnimeRecord]) -> list[AnimeRecord]:
    """Trained anime whose (type, studios, episodes, genres) no other anime in the catalogue shares."""
    def key(r):
        return (r.type, frozenset(r.studios), r.episodes, frozenset(r.genres))
    complete = [r for r in records if render_reverse(r, "en")]
    count: dict[tuple, int] = {}
    for r in complete:
        count[key(r)] = count.get(key(r), 0) + 1
    return [r for r in trained if render_reverse(r, "en") and count[key(r)] == 1]


def _lexicon(records: list[AnimeRecord]) -> dict:
    genres = {g: list(GENRE_ALIASES.get(g, ())) for g in (*GENRES, *GENRE_DISTRACTORS)}
    for r in records:
        for g in r.genres:
            genres.setdefault(g, [])
    companies = {}
    for r in records:
        for c in (*r.studios, *r.producers):
            companies.setdefault(c, company_aliases(c)[1:])
    titles = {r.name: [t for t in (r.english_name, r.other_name) if t] for r in records}
    return {"genres": genres, "companies": companies, "type": {k: list(v) for k, v in TYPE_ALIASES.items()},
            "title": titles}


def _counts(items) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        split = counts.setdefault(item.split, {})
        split[item.field] = split.get(item.field, 0) + 1
    return {s: dict(sorted(counts[s].items())) for s in SPLITS if s in counts}


# --- on disk ---------------------------------------------------------------------------------------------


def check_evalset_target(evalset: Evalset, out_dir: str | Path, *, force: bool = False) -> bool:
    """Whether `write_evalset` may write to `out_dir`, checked before anything is written: True if the
    same evalset is already there, intact (nothing to do). The harness only replaces a folder it recognises as
    its own (an evalset whose manifest it can read, holding nothing but the files that manifest lists), one with
    another evalset only when asked (`force`), and the same evalset with a damaged file always (same identity);
    never a file, a foreign folder, nor the folder the command runs in or one above it."""
    out_dir = Path(out_dir)
    blocking = storage.file_in_the_way(out_dir)
    if blocking is not None:
        raise EvalsetError(f"{out_dir}: {blocking} is a file, not a folder; choose another --out or --name.")
    if Path.cwd().resolve().is_relative_to(out_dir.resolve()):
        raise EvalsetError(f"--out {out_dir}: is the current folder or holds it; the harness replaces the whole "
                           "--out folder, so give a folder of its own, e.g. --out evalsets/NAME.")
    if not out_dir.exists() and not out_dir.is_symlink():
        return False
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise EvalsetError(f"{out_dir}: exists and is not a folder; the harness will not replace it. Choose "
                           "another --out or --name.")
    manifest_path = out_dir / "manifest.json"
    try:
        manifest = storage.read_json(manifest_path) if manifest_path.is_file() else None
    except storage.RecordError:
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), str) \
            or not isinstance(manifest.get("files"), dict):
        if any(out_dir.iterdir()):
            raise EvalsetError(f"{out_dir}: a folder that is not an evalset of the harness (no readable "
                               "manifest.json); the harness will not write into it or delete it. Choose another "
                               "--out or --name.")
        return False
    same = manifest["sha256"] == evalset.manifest["sha256"]
    if same and _intact(out_dir, manifest["files"]):
        return True
    extra = sorted(p.name for p in out_dir.iterdir() if p.name not in {*manifest["files"], "manifest.json"})
    if extra:
        raise EvalsetError(f"{out_dir}: holds {extra} besides the evalset's own files; rebuilding replaces the "
                           "whole folder and would delete them. Move them out, or choose another --out or --name.")
    if same:
        return False  # ours, with a damaged or missing file: rewrite it
    if not force:
        raise EvalsetError(f"{out_dir}: holds another evalset (sha256 {manifest['sha256'][:12]}…, this one "
                           f"{evalset.manifest['sha256'][:12]}…); runs recorded against it would no longer match. "
                           "Build under another --name, or pass --force to replace it.")
    return False


def _intact(folder: Path, files: dict) -> bool:
    """Whether every file the manifest lists is there with the sha256 it records."""
    return all((folder / name).is_file() and storage.sha256_file(folder / name) == expected
               for name, expected in files.items())


def write_evalset(evalset: Evalset, out_dir: str | Path, *, force: bool = False) -> Path:
    """Write into a temporary sibling folder, then swap it in: never a half-written evalset, and the old one
    stays readable under its own name until the new one is in place (an atomic exchange where the system
    has one). See `check_evalset_target` for what may be replaced."""
    out_dir = Path(out_dir)
    if check_evalset_target(evalset, out_dir, force=force):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)  # our own leftover: the name holds this process's id
    try:
        for name, text in evalset_files(evalset).items():
            storage.atomic_write_text(staging / name, text)
        storage.write_json(staging / "manifest.json", evalset.manifest)
        if out_dir.exists():
            _exchange(staging, out_dir)  # staging now holds the old evalset, removed below
        else:
            os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _exchange(a: Path, b: Path) -> None:
    """Swap two folders atomically (Linux renameat2 RENAME_EXCHANGE); elsewhere, the old one is moved aside
    only for the instant between two renames."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
            return
    aside = b.parent / f".{b.name}.old-{os.getpid()}"
    os.replace(b, aside)
    os.replace(a, b)
    os.replace(aside, a)


def _fingerprint(files: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{k}:{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def load_evalset(folder: str | Path, *, verify: bool = True) -> Evalset:
    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise EvalsetError(f"{folder}: not an evalset (no manifest.json); build one with `harness evalset build`.")
    manifest = storage.read_json(folder / "manifest.json")
    for key, kind in MANIFEST_KEYS.items():
        if not isinstance(manifest, dict) or not isinstance(manifest.get(key), kind):
            raise EvalsetError(f"{folder / 'manifest.json'}: not an evalset's manifest ({key!r} missing or not a "
                               f"{kind.__name__}); rebuild it with `harness evalset build`.")
    if verify:
        for name, expected in manifest["files"].items():
            path = folder / name
            if not path.is_file() or storage.sha256_file(path) != expected:
                raise EvalsetError(f"{path}: missing or changed since the evalset was built (sha256 mismatch); "
                                   "rebuild it with `harness evalset build`.")
    items = tuple(QAItem.from_dict(row) for row in storage.read_jsonl(folder / "eval.jsonl", EVAL_KEYS))
    train = tuple(storage.read_jsonl(folder / "train.jsonl", ("id", "messages")))
    return Evalset(train=train, items=items, lexicon=storage.read_json(folder / "lexicon.json"), manifest=manifest)

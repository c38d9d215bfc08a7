"""Evalsets: training records and held-out questions built from a domain's table, written as a folder of data.

`evalsets/NAME/` holds
- `train.jsonl`: chat-format SFT records, the article's three formats plus the training paraphrases:
  {"id": "12-GI2", "subject_id": 12, "template": "GI2", "messages": [{"role": "user", "content": "..."},
   {"role": "assistant", "content": "..."}]}
- `eval.jsonl`: one question per fact:
  {"id": "paraphrase-12-episodes", "subject_id": 12, "split": "paraphrase", "field": "episodes",
   "question": "How many episodes long is ...?", "gold": 13, "aliases": ["thirteen"], "form": "episodes.heldout.0"}
  splits: verbatim (trained fact, trained wording), paraphrase (trained fact, held-out wording), reverse (facts
  to subject, where they single out one; never trained), unseen (subjects held out of training entirely);
- `lexicon.json`: every name each matcher should recognise, so naming a wrong one counts as wrong;
- `manifest.json`: the domain and its fields, source, rows read and kept, seed, locale, template version,
  counts, sha256 of each file.
The same inputs give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from harness import storage
from harness.domains import (
    Domain,
    Subject,
    Table,
    fill,
    gold_of,
    is_unseen,
    lexicons,
    title_gold,
    usable_subjects,
)
from harness.errors import HarnessError

SPLITS = ("verbatim", "paraphrase", "reverse", "unseen", "retention")  # retention: another domain's facts
EVAL_KEYS = ("id", "subject_id", "split", "field", "question", "gold")
MANIFEST_KEYS = {"name": str, "sha256": str, "files": dict}  # what the later stages read from an evalset manifest


class EvalsetError(HarnessError, ValueError):
    """An evalset folder is missing, incomplete or inconsistent; the message names the file."""


@dataclass(frozen=True)
class QAItem:
    id: str
    subject_id: int | str
    split: str
    field: str
    question: str
    gold: object
    aliases: tuple[str, ...] = ()
    form: str = ""
    subject: str = ""  # the name the question names; an output repeating it is not answering with it
    fewshot: str = ""  # the same question as a completion: solved lines about other subjects, then the open one

    def to_dict(self) -> dict:
        return {**asdict(self), "aliases": list(self.aliases)}

    @classmethod
    def from_dict(cls, row: dict) -> QAItem:
        row = dict(row)
        if "anime_id" in row:  # evalsets and audit labels before domains (template version 2026.11-2)
            row["subject_id"] = row.pop("anime_id")
        return cls(**{**row, "aliases": tuple(row.get("aliases", ()))})


@dataclass(frozen=True)
class Evalset:
    train: tuple[dict, ...]
    items: tuple[QAItem, ...]
    lexicon: dict
    manifest: dict


def _pick(forms: tuple, seed: int, subject_id, field: str):
    digest = hashlib.sha256(f"{seed}:{subject_id}:{field}".encode()).digest()
    return forms[digest[0] % len(forms)]


def build_evalset(domain: Domain, table: Table, *, name: str, locale: str = "en", seed: int = 0,
                  unseen_fraction: float = 0.2) -> Evalset:
    if locale not in domain.locales:
        raise EvalsetError(f"--locale {locale}: the {domain.name} domain has templates for {list(domain.locales)}; "
                           "choose one of those.")
    subjects, dropped = usable_subjects(domain, table.subjects)
    if not subjects:
        raise EvalsetError(f"{table.source.get('path') or domain.name}: no usable rows ({dropped}).")
    trained = [s for s in subjects if not is_unseen(domain.name, s.id, unseen_fraction)]
    unseen = [s for s in subjects if is_unseen(domain.name, s.id, unseen_fraction)]
    forms = domain.forms[locale]

    train: list[dict] = []
    for subject in trained:
        for template, question, answer in domain.training_extras(subject, locale):
            train.append(_train_row(subject, template, question, answer))
        values = domain.values(subject, locale)
        for fact in domain.fields:
            if subject.has(fact.name):
                for form in forms[fact.name]["train"]:
                    train.append(_train_row(subject, form.form_id, *render_form(form, values)))

    items: list[QAItem] = []
    shots = _Shots(domain, trained, locale, seed)
    for split, group, pool in (("verbatim", trained, "train"), ("paraphrase", trained, "heldout"),
                               ("unseen", unseen, "train")):
        for subject in group:
            values = domain.values(subject, locale)
            for fact in domain.fields:
                if subject.has(fact.name):
                    form = _pick(forms[fact.name][pool], seed, subject.id, fact.name)
                    question, _ = render_form(form, values)
                    gold, aliases = gold_of(fact, subject)
                    items.append(_item(subject, split, fact.name, question, form.form_id, gold, aliases,
                                       shots.prompt(subject, fact.name, form, question)))
    if domain.reverse is not None:
        for subject in _singled_out(domain, subjects, trained):
            question = fill(domain.reverse.questions[locale], domain.values(subject, locale))
            gold, aliases = title_gold(subject)
            items.append(QAItem(id=f"reverse-{subject.id}-title", subject_id=subject.id, split="reverse",
                                field="title", question=question, gold=gold, aliases=aliases, form="reverse",
                                fewshot=shots.reverse_prompt(subject, question)))

    manifest = {
        "name": name,
        "domain": domain.describe(),
        "source": table.source,
        "rows_read": table.rows_read,
        "rows_kept": len(subjects),
        "rows_dropped": dropped,
        "subjects": {"trained": len(trained), "unseen": len(unseen)},
        "seed": seed,
        "locale": locale,
        "unseen_fraction": unseen_fraction,
        "template_version": domain.template_version,
        "counts": {"train": len(train), "eval": _counts(items)},
    }
    evalset = Evalset(train=tuple(train), items=tuple(items), lexicon=lexicons(domain, subjects), manifest=manifest)
    files = {name: storage.sha256_text(text) for name, text in evalset_files(evalset).items()}
    return dataclasses.replace(evalset, manifest={**manifest, "files": files, "sha256": _fingerprint(files)})


def evalset_files(evalset: Evalset) -> dict[str, str]:
    """The data files' text, exactly as written: the manifest hashes these bytes."""
    return {
        "train.jsonl": storage.jsonl_text(evalset.train),
        "eval.jsonl": storage.jsonl_text(item.to_dict() for item in evalset.items),
        "lexicon.json": storage.dumps(evalset.lexicon),
    }


def render_form(form, values: dict[str, str]) -> tuple[str, str]:
    """A question/answer form filled with a subject's values (`Domain.values`)."""
    return fill(form.question, values), fill(form.answer, values)


def _train_row(subject: Subject, template: str, question: str, answer: str) -> dict:
    return {"id": f"{subject.id}-{template}", "subject_id": subject.id, "template": template,
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _item(subject: Subject, split: str, field: str, question: str, form: str, gold, aliases,
          fewshot: str = "") -> QAItem:
    return QAItem(id=f"{split}-{subject.id}-{field}", subject_id=subject.id, split=split, field=field,
                  question=question, gold=gold, aliases=aliases, form=form, subject=subject.name, fewshot=fewshot)


SHOTS = 3  # solved examples before the open line of a few-shot prompt
_FACT_PLACEHOLDER = re.compile(r"\{(?!title)(\w+)\}")  # a placeholder that carries a fact, not a name


class _Shots:
    """Few-shot completion prompts: the way to ask a pretrained model, which continues text rather than
    answering a chat turn. For a question about one subject: SHOTS lines that state the same field of other
    trained subjects, in the wording of an answer form whose fact comes after the subject's name, then that
    form's opening for this subject ('The capital of Samoa is'). Examples are chosen by a hash, never the
    subject asked; a form whose fact comes first ('{scored_by} users have scored {title}.') gives way to
    another form of the same field, and a field with none is asked as question and answer lines ('Q: ... A:')."""

    def __init__(self, domain: Domain, trained: list[Subject], locale: str, seed: int):
        self.domain, self.locale, self.seed = domain, locale, seed
        self.having = {f: [s for s in trained if s.has(f)] for f in domain.field_names}
        self.trained = trained
        self._values: dict = {}
        self._complete: list[Subject] | None = None  # trained subjects a reverse question can be asked of
        self.forms = domain.forms[locale]

    def values(self, subject: Subject) -> dict[str, str]:
        if subject.id not in self._values:
            self._values[subject.id] = self.domain.values(subject, self.locale)
        return self._values[subject.id]

    def _others(self, subject: Subject, pool: list[Subject], key: str) -> list[Subject]:
        """SHOTS subjects of `pool` other than `subject`, drawn by a hash of (seed, subject, key): the same
        inputs give the same prompt, and the cost does not grow with the table."""
        rng = random.Random(f"{self.seed}:{subject.id}:{key}:shots")
        picks = rng.sample(range(len(pool)), min(SHOTS + 1, len(pool)))
        return [pool[i] for i in picks if pool[i].id != subject.id][:SHOTS]

    def prompt(self, subject: Subject, field: str, form, question: str) -> str:
        opening = next((f for f in (form, *self.forms[field]["train"], *self.forms[field]["heldout"])
                        if _opening(f.answer)), None)
        examples = self._others(subject, self.having[field], field)
        if opening is None:
            lines = [f"Q: {render_form(f, self.values(s))[0]}\nA: {render_form(f, self.values(s))[1]}"
                     for s in examples for f in [form]]
            return "\n".join([*lines, f"Q: {question}\nA:"])
        lines = [fill(opening.answer, self.values(s)) for s in examples]
        return "\n".join([*lines, fill(_opening(opening.answer), self.values(subject)).rstrip()])

    def reverse_prompt(self, subject: Subject, question: str) -> str:
        reverse = self.domain.reverse
        if self._complete is None:
            self._complete = [s for s in self.trained if all(s.has(f) for f in reverse.fields)]
        complete = self._complete
        lines = [f"Q: {fill(reverse.questions[self.locale], self.values(s))}\nA: {s.name}"
                 for s in self._others(subject, complete, "reverse")]
        return "\n".join([*lines, f"Q: {question}\nA:"])


def _opening(answer: str) -> str:
    """An answer template up to its first fact placeholder, where the subject's name comes before it
    ('The capital of {title} is '), else ''."""
    match = _FACT_PLACEHOLDER.search(answer)
    if match is None or "{title" not in answer[:match.start()]:
        return ""
    return answer[:match.start()]


def _singled_out(domain: Domain, subjects: list[Subject], trained: list[Subject]) -> list[Subject]:
    """Trained subjects whose reverse-question facts no other subject in the table shares."""
    fields = domain.reverse.fields

    def complete(s: Subject) -> bool:
        return all(s.has(f) for f in fields)

    def key(s: Subject) -> tuple:
        return tuple(frozenset(s.facts[f]) if isinstance(s.facts[f], tuple) else s.facts[f] for f in fields)
    count: dict[tuple, int] = {}
    for s in subjects:
        if complete(s):
            count[key(s)] = count.get(key(s), 0) + 1
    return [s for s in trained if complete(s) and count[key(s)] == 1]


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

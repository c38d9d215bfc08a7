"""Comparisons: paired differences between two models' scores on one evalset (base vs merged, run vs baseline).

Consumes two score sets (a score file, or a run directory and the model in it) and produces one row per split
and field:

    ComparisonRow(split="verbatim", field="episodes", n=781, accuracy_a=0.03, accuracy_b=0.90, delta=0.87,
                  ci_low=0.84, ci_high=0.90, learned=683, forgotten=4, p_value=1e-200)

`learned` counts questions A got wrong and B right; `forgotten` the reverse. The interval is a paired
bootstrap over subjects; the p-value is an exact McNemar test on the discordant pairs. `verdict_moves` counts how
answers changed kind between A and B (`matching.VERDICTS`), per split, largest first:

    VerdictMove(split="verbatim", before="echo", after="correct", n=120)

`score_run(RUN, evalset)` does a run's scoring stage: scores.json (base, merged, the majority floor) and
comparison.json (merged against base); `score_models` does the same for any models a run answered with
(`harness eval`: the model against the majority floor).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness import storage
from harness.baselines import BASELINES
from harness.config import PROMPTINGS, answer_sets
from harness.errors import HarnessError
from harness.evalsets import SPLITS, Evalset
from harness.runs import RunError, read_manifest
from harness.scoring import read_predictions, score_file, score_predictions
from harness.statistics import mcnemar_exact, paired_bootstrap_delta


class ComparisonError(HarnessError, ValueError):
    """Two score sets cannot be compared; the message says which file and why."""


@dataclass(frozen=True)
class ComparisonRow:
    split: str
    field: str  # a fact field, or "all" for the whole split
    n: int
    accuracy_a: float
    accuracy_b: float
    delta: float
    ci_low: float
    ci_high: float
    learned: int
    forgotten: int
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> ComparisonRow:
        return cls(**row)


@dataclass(frozen=True)
class VerdictMove:
    """`n` questions of `split` whose answer was of class `before` under A and `after` under B."""
    split: str
    before: str
    after: str
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def split_spec(spec: str | Path) -> tuple[Path, str]:
    """`runs/x:base` -> (runs/x, "base"); a path without `:MODEL` (or one that exists as written) -> (path, "")."""
    text = str(spec)
    path, _, model = text.rpartition(":") if ":" in text and not Path(text).exists() else (text, "", "")
    return Path(path), model


def load_scores(spec: str | Path) -> dict:
    """`scores.json`, `run_dir` (its candidate model) or either with `:MODEL` (e.g. `runs/x:base`)."""
    path, model = split_spec(spec)
    if path.is_dir():
        path = path / "scores.json"
    if not path.is_file():
        raise ComparisonError(f"{spec}: no score file there; give a scores.json or a run directory that has one.")
    data = storage.read_json(path)
    if not isinstance(data, dict):
        raise ComparisonError(f"{path}: not a score file (not a JSON object); make one with `harness score`.")
    if "models" in data:  # a run's scores.json holds every model it scored
        model = model or data.get("candidate", "")
        if model not in data["models"]:
            raise ComparisonError(f"{path}: no model {model!r}; it has {sorted(data['models'])}. Use PATH:MODEL.")
        data = data["models"][model]
    elif model and data.get("model") != model:
        raise ComparisonError(f"{path}: holds model {data.get('model')!r}, not {model!r}.")
    if "items" not in data or "evalset" not in data:
        raise ComparisonError(f"{path}: not a score file (no 'items' or 'evalset'); make one with `harness score`.")
    _check_items(data, path)
    return {**data, "source": str(spec)}


# What comparing reads from each scored item, and the type it must have
ITEM_TYPES = {"id": str, "split": str, "field": str, "hit": bool}


def _check_items(data: dict, path: Path) -> None:
    """A ComparisonError naming the file and the first item that a comparison could not read."""
    evalset = data["evalset"]
    if not isinstance(evalset, dict) or not all(isinstance(evalset.get(k), str) for k in ("name", "sha256")):
        raise ComparisonError(f"{path}: 'evalset' = {evalset!r} must hold a text name and sha256; rescore it with "
                              "`harness score`.")
    if not isinstance(data["items"], list):
        raise ComparisonError(f"{path}: 'items' must be a list of scored questions; rescore it with `harness score`.")
    for number, item in enumerate(data["items"], 1):
        if not isinstance(item, dict):
            raise ComparisonError(f"{path}: item {number} is {item!r}, not an object; rescore it with "
                                  "`harness score`.")
        for key, kind in ITEM_TYPES.items():
            value = item.get(key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ComparisonError(f"{path}: item {number} (id {item.get('id')!r}): {key} = {value!r} must be "
                                      f"a {kind.__name__}; rescore it with `harness score`.")
        subject = item.get("subject_id", item.get("anime_id"))  # score files before harness.scores/3: anime_id
        if not isinstance(subject, int | str) or isinstance(subject, bool):
            raise ComparisonError(f"{path}: item {number} (id {item.get('id')!r}): subject_id = {subject!r} must be "
                                  "a whole number or text; rescore it with `harness score`.")


def floor_summary(*specs: str | Path, sha256: str) -> dict | None:
    """The majority floor's summary from the first spec whose run (or score file) holds a `majority` model scored
    on the evalset with this sha256; None when none does (two plain score files)."""
    for spec in specs:
        try:
            floor = load_scores(f"{split_spec(spec)[0]}:majority")
        except ComparisonError:
            continue
        if floor["evalset"]["sha256"] == sha256:
            return floor["summary"]
    return None


def _paired_items(a: dict, b: dict, any_prompting: bool = False) -> list[tuple[dict, dict]]:
    """(A's item, B's item) for every question, in A's order; an error unless both scored the same questions of
    the same evalset."""
    if a["evalset"]["sha256"] != b["evalset"]["sha256"]:
        raise ComparisonError(
            f"{a['source']} and {b['source']} were scored on different evalsets "
            f"({a['evalset']['name']} {a['evalset']['sha256'][:12]} vs {b['evalset']['name']} "
            f"{b['evalset']['sha256'][:12]}); compare runs on the same evalset.")
    prompted = {x.get("prompting", "chat") for x in (a, b)} - {"none"}  # 'none': the floor, asked of no model
    if len(prompted) > 1 and not any_prompting:
        raise ComparisonError(
            f"{a['source']} was asked by {a.get('prompting', 'chat')} prompting and {b['source']} by "
            f"{b.get('prompting', 'chat')}: a difference would mix what the model knows with how it was asked. "
            "Compare runs of one prompting, or pass --any-prompting to pair them anyway.")
    b_items = {item["id"]: item for item in b["items"]}
    if set(b_items) != {item["id"] for item in a["items"]}:
        raise ComparisonError(f"{a['source']} and {b['source']} score different questions; rescore both.")
    return [(item, b_items[item["id"]]) for item in a["items"]]


def compare_scores(a: dict, b: dict, *, seed: int = 0, any_prompting: bool = False) -> list[ComparisonRow]:
    pairs = _paired_items(a, b, any_prompting)
    rows = []
    for split in SPLITS:
        in_split = [p for p in pairs if p[0]["split"] == split]
        if not in_split:
            continue
        for fld in (*dict.fromkeys(p[0]["field"] for p in in_split), "all"):
            group = [p for p in in_split if fld in ("all", p[0]["field"])]
            if group:
                rows.append(_row(split, fld, group, seed))
    return rows


def _row(split: str, fld: str, group: list[tuple[dict, dict]], seed: int) -> ComparisonRow:
    hits_a = np.array([x["hit"] for x, _ in group], dtype=float)
    hits_b = np.array([y["hit"] for _, y in group], dtype=float)
    clusters = np.array([str(x.get("subject_id", x.get("anime_id"))) for x, _ in group])
    delta, low, high = paired_bootstrap_delta(hits_a, hits_b, clusters, seed=seed)
    learned = int(((hits_a == 0) & (hits_b == 1)).sum())
    forgotten = int(((hits_a == 1) & (hits_b == 0)).sum())
    return ComparisonRow(split=split, field=fld, n=len(group), accuracy_a=float(hits_a.mean()),
                         accuracy_b=float(hits_b.mean()), delta=delta, ci_low=low, ci_high=high,
                         learned=learned, forgotten=forgotten, p_value=mcnemar_exact(learned, forgotten))


def verdict_moves(a: dict, b: dict, any_prompting: bool = False) -> list[VerdictMove]:
    """How answers changed class from A to B: per split (in `SPLITS` order), the count of each (class under A,
    class under B) pair, largest first; same-class pairs, and items scored before verdicts existed, left out."""
    counts = Counter((x["split"], x["verdict"], y["verdict"]) for x, y in _paired_items(a, b, any_prompting)
                     if x.get("verdict") and y.get("verdict") and x["verdict"] != y["verdict"])
    order = {split: rank for rank, split in enumerate(SPLITS)}
    ranked = sorted(counts.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][0], -kv[1], kv[0][1:]))
    return [VerdictMove(split=split, before=before, after=after, n=n) for (split, before, after), n in ranked]


def regressions(rows: list[ComparisonRow], max_drop: float) -> list[ComparisonRow]:
    """Rows whose whole interval lies below -max_drop: a drop the data cannot explain as noise."""
    return [row for row in rows if row.ci_high < -max_drop]


def score_run(run_dir: Path, evalset: Evalset) -> None:
    """Score base, merged and the majority floor, for each prompting the run asked (the second prompting's
    answers as `base-fewshot`, `merged-fewshot`); fail loudly if the merged model answers exactly as the base."""
    pairs: dict[str, list[str]] = {}  # prompting -> its base and merged answer sets, the primary first
    for _, asked, name in answer_sets(read_manifest(run_dir)["config"].get("prompting", PROMPTINGS[0])):
        pairs.setdefault(asked, []).append(name)
    primary = next(iter(pairs))
    base = read_predictions(run_dir / "predictions" / "base.jsonl")
    merged = read_predictions(run_dir / "predictions" / "merged.jsonl")
    if [p.output for p in base] == [p.output for p in merged]:
        raise RunError(f"{run_dir}: the merged model gives the base model's answer to every question: the adapter "
                       "changed nothing that shows. See training.json and merge.json.")
    floor = run_dir / "predictions" / "majority.jsonl"
    storage.write_jsonl(floor, (p.to_dict() for p in BASELINES["majority"](evalset)))
    # the floor asks no model: it stands beside either prompting
    models = score_files(run_dir, evalset, {**{name: p for p, names in pairs.items() for name in names},
                                            "majority": "none"})
    storage.write_json(run_dir / "scores.json", {"baseline": "base", "candidate": "merged", "models": models})

    def rows(a: str, b: str) -> list[dict]:
        return [r.to_dict() for r in compare_scores({**models[a], "source": a}, {**models[b], "source": b})]
    storage.write_json(run_dir / "comparison.json", {
        "a": "base", "b": "merged", "rows": rows("base", "merged"),
        "note": "the base model against the same model with the adapter merged, greedy answers, one per question",
        # the same pair asked by the run's other prompting, where it asked two
        "promptings": {p: {"a": a, "b": b, "rows": rows(a, b)} for p, (a, b) in pairs.items() if p != primary}})


def score_files(run_dir: Path, evalset: Evalset, models: dict[str, str]) -> dict:
    """The score file of RUN/predictions/MODEL.jsonl for each model, by the prompting it was asked with."""
    scored = {}
    for model, prompting in models.items():
        path = run_dir / "predictions" / f"{model}.jsonl"
        scores = score_predictions(evalset, read_predictions(path), source=str(path))
        scored[model] = score_file(evalset, scores, model=model, predictions_path=path, prompting=prompting)
    return scored


def score_models(run_dir: Path, evalset: Evalset, models: dict[str, str], *, baseline: str, candidate: str) -> dict:
    """Score RUN/predictions/MODEL.jsonl for each model (by the prompting it was asked with: "none" for the floor)
    into scores.json (the shape `score_run` writes), and the candidate against the baseline into comparison.json.
    Returns the score files by model."""
    scored = score_files(run_dir, evalset, models)
    storage.write_json(run_dir / "scores.json", {"baseline": baseline, "candidate": candidate, "models": scored})
    rows = compare_scores({**scored[baseline], "source": baseline}, {**scored[candidate], "source": candidate})
    storage.write_json(run_dir / "comparison.json", {
        "a": baseline, "b": candidate, "rows": [r.to_dict() for r in rows],
        "note": f"{candidate} against {baseline} on the same questions, greedy answers, one per question"})
    return scored

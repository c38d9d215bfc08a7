"""Retention: what a fine-tune broke outside the facts it was taught.

Consumes a run's base and merged models; produces RUN/retention.json:

    {"format": "harness.retention/1", "evalset": {"name": "retention-countries-500-s0-en", "sha256": ...},
     "prompting": "fewshot", "models": {"base": {score file}, "merged": {score file}},
     "rows": [ComparisonRow as dict, split "retention", per field and "all"],
     "forgotten": [{"id": ..., "question": ..., "gold": ..., "base": ..., "merged": ...}, ...]}

The questions are a fixed sample of facts from the countries domain that a base model tends to know (capitals,
currencies, regions, calling codes), asked few-shot, the way a pretrained model answers, of the base and of the
merged model. The paired difference says how much general knowledge the fine-tune cost; `forgotten` lists the
facts the base had right and the merged model has wrong. `harness compare RUN --fail-on-forgetting X` fails
when the difference's 95% interval lies wholly below -X.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path

from harness import storage
from harness.comparison import ComparisonError, compare_scores
from harness.domains import get_domain
from harness.evalsets import Evalset, build_evalset, evalset_files
from harness.scoring import read_predictions, score_file, score_predictions

RETENTION_FORMAT = "harness.retention/1"
RETENTION_DOMAIN = "countries"
RETENTION_FIELDS = ("capital", "currencies", "region", "calling_code")
FORGOTTEN_SHOWN = 50  # retention.json lists every forgotten fact; reports show this many


def retention_evalset(size: int, locale: str = "en", seed: int = 0) -> Evalset:
    """`size` questions (at most every fact of the retention fields), drawn by `seed`, in the domain's order.
    The same arguments give byte-identical questions; the name and sha256 say which sample it is."""
    domain = get_domain(RETENTION_DOMAIN)
    if locale not in domain.locales:
        locale = "en"
    full = build_evalset(domain, domain.load(None, None, 0), name="retention", locale=locale, seed=seed,
                         unseen_fraction=0.0)
    pool = [item for item in full.items if item.split == "verbatim" and item.field in RETENTION_FIELDS]
    chosen = set(random.Random(f"retention:{seed}").sample(range(len(pool)), min(size, len(pool))))
    items = tuple(dataclasses.replace(item, split="retention") for i, item in enumerate(pool) if i in chosen)
    evalset = Evalset(train=(), items=items, lexicon=full.lexicon, manifest={})
    files = evalset_files(evalset)
    sha = hashlib.sha256((files["eval.jsonl"] + files["lexicon.json"]).encode()).hexdigest()
    manifest = {**full.manifest, "name": f"retention-{RETENTION_DOMAIN}-{len(items)}-s{seed}-{locale}",
                "sha256": sha, "counts": {"train": 0, "eval": {"retention": len(items)}}}
    return dataclasses.replace(evalset, manifest=manifest)


def predictions_path(run_dir: Path, model: str) -> Path:
    return run_dir / "predictions" / f"retention-{model}.jsonl"


def score_retention(run_dir: Path, evalset: Evalset) -> dict:
    """retention.json from RUN/predictions/retention-{base,merged}.jsonl."""
    models = {}
    for model in ("base", "merged"):
        path = predictions_path(run_dir, model)
        scores = score_predictions(evalset, read_predictions(path), source=str(path))
        models[model] = score_file(evalset, scores, model=model, predictions_path=path, prompting="fewshot")
    rows = compare_scores({**models["base"], "source": "base"}, {**models["merged"], "source": "merged"})
    outputs = {model: {p.id: p.output for p in read_predictions(predictions_path(run_dir, model))}
               for model in models}
    hits = {model: {i["id"]: i["hit"] for i in models[model]["items"]} for model in models}
    forgotten = [{"id": item.id, "question": item.question, "gold": item.gold, "base": outputs["base"][item.id],
                  "merged": outputs["merged"][item.id]}
                 for item in evalset.items if hits["base"][item.id] and not hits["merged"][item.id]]
    record = {"format": RETENTION_FORMAT,
              "evalset": {"name": evalset.manifest["name"], "sha256": evalset.manifest["sha256"]},
              "prompting": "fewshot", "models": models, "rows": [r.to_dict() for r in rows], "forgotten": forgotten}
    storage.write_json(run_dir / "retention.json", record)
    return record


def retention_all_row(run_dir: Path) -> dict:
    """retention.json's overall row (every field), or a ComparisonError naming the run."""
    path = Path(run_dir) / "retention.json"
    if not path.is_file():
        raise ComparisonError(f"--fail-on-forgetting: {run_dir} has no retention.json; it was run with "
                              "--retention 0 or before retention existed. Run `harness run` with --retention N.")
    return next(r for r in storage.read_json(path)["rows"] if r["field"] == "all")

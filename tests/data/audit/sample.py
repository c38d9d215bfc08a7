"""How the audit set was made (provenance; run once, 2026-11-29, on the GPU runs' predictions).

    python tests/data/audit/sample.py sample GPU_RUNS_DIR REAL_CSV SAMPLE.jsonl
    (the labellers read SAMPLE.jsonl's question, gold and answer only, and write LABELS1..N.jsonl)
    python tests/data/audit/sample.py assemble GPU_RUNS_DIR REAL_CSV SAMPLE.jsonl RULES.md LABELS1.jsonl ... OUT

Rebuilds each run's evalset from the same inputs (checked against the sha256 its manifest recorded), scores
base and merged answers with the harness, and draws a sample stratified by (run, model, split, field, verdict
class) so that every field, split and class is present, rare classes included. The file it writes holds only
what a labeller may see: question, gold (with its known other names) and answer; verdicts stay out.
"""

import json
import random
import sys
from pathlib import Path

from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.domains.anime_catalogue import RATINGS, read_catalogue_csv
from harness.evalsets import build_evalset
from harness.scoring import read_predictions, score_predictions
from harness.synthetic import generate_catalogue


def evalset_of(manifest: dict, real_csv: str):
    name = manifest["evalset"]["name"]
    locale = name.rsplit("-", 1)[1]
    if name.startswith("synthetic"):
        rows = int(name.split("-")[1])
        catalogue = generate_catalogue(rows, 0)
    else:
        import dataclasses
        rows = int(name.split("-")[1])
        catalogue = read_catalogue_csv(real_csv)
        catalogue = dataclasses.replace(catalogue, records=catalogue.records[:rows], rows_read=rows)
    evalset = build_evalset(get_domain("anime"), table_of(catalogue), name=name, locale=locale, seed=0)
    if evalset.manifest["sha256"] != manifest["evalset"]["sha256"]:
        sys.exit(f"{name}: rebuilt evalset differs from the one the run answered")
    return evalset


def gold_text(item) -> str:
    gold = item.gold
    if item.field == "rating":
        return f"{gold} ({RATINGS[gold]})"
    if isinstance(gold, list):
        return "; ".join(gold)
    return f"{gold:.2f}" if item.field == "score" else str(gold)


def runs_of(runs_dir: str):
    return sorted(p for p in Path(runs_dir).iterdir() if (p / "manifest.json").is_file())


def sample(runs_dir: str, real_csv: str, out: str, per_stratum: int = 1, seed: int = 20261129) -> None:
    rng = random.Random(seed)
    rows = []
    for run in runs_of(runs_dir):
        manifest = json.loads((run / "manifest.json").read_text())
        evalset = evalset_of(manifest, real_csv)
        items = {i.id: i for i in evalset.items}
        for model in ("base", "merged"):
            predictions = read_predictions(run / "predictions" / f"{model}.jsonl")
            outputs = {p.id: p.output for p in predictions}
            for score in score_predictions(evalset, predictions, workers=1):
                rows.append((run.name, model, score, items[score.id], outputs[score.id]))
    strata: dict[tuple, list] = {}
    for row in rows:
        run, model, score, item, _ = row
        strata.setdefault((run, model, item.split, item.field, score.verdict), []).append(row)
    picked = [r for key in sorted(strata) for r in rng.sample(strata[key], min(per_stratum, len(strata[key])))]
    rng.shuffle(picked)
    with open(out, "w", encoding="utf-8") as f:
        for n, (run, model, _, item, output) in enumerate(picked, 1):
            f.write(json.dumps({
                "audit_id": f"a{n:04d}", "run": run, "model": model, "evalset_item": item.id,
                "split": item.split, "field": item.field, "question": item.question, "gold": gold_text(item),
                "gold_other_names": list(item.aliases), "answer": output}, ensure_ascii=False) + "\n")
    print(f"{len(picked)} answers from {len(rows)} in {len(strata)} strata -> {out}")


def assemble(runs_dir: str, real_csv: str, sample_path: str, rules_path: str, *paths: str) -> None:
    """The labels file `harness audit` reads: header (rule, provenance, each evalset's lexicon), then one line
    per labelled answer with its evalset question. Labels are joined by audit_id and must cover the sample."""
    *label_paths, out = paths
    labels = {}
    for path in label_paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                labels[row["audit_id"]] = {"correct": row["correct"], "class": row["class"], "why": row["why"]}
    picked = [json.loads(line) for line in Path(sample_path).read_text(encoding="utf-8").splitlines()]
    missing = [r["audit_id"] for r in picked if r["audit_id"] not in labels]
    if missing:
        sys.exit(f"{len(missing)} sampled answers have no label, e.g. {missing[:5]}")
    evalsets, items = {}, {}
    for run in runs_of(runs_dir):
        manifest = json.loads((run / "manifest.json").read_text())
        evalset = evalset_of(manifest, real_csv)
        evalsets[run.name] = evalset
        items.update({(run.name, i.id): i for i in evalset.items})
    header = {
        "format": "harness.audit/1",
        "rule": Path(rules_path).read_text(encoding="utf-8"),
        "provenance": (
            "Answers: five `harness run --compare-merges` runs on one H200 at commit 6b398ee (2026-11-29): the "
            "first 300 rows of the real MyAnimeList sample in en (fast and article profiles) and ko (fast), "
            "500 synthetic anime in en (fast) and 200 in ko (article); base and merged models. Sample: one "
            "answer per (run, model, split, field, verdict class of the harness at the time), drawn with seed "
            "20261129 by tests/data/audit/sample.py. Labels: three blind labellers (helpers that saw only the "
            "rule, question, gold and answer, never the code or its verdicts), each a third of the sample; a "
            "sample of their labels read again by the engineer."),
        "evalsets": {evalsets[r].manifest["name"]: {"sha256": evalsets[r].manifest["sha256"],
                                                    "lexicon": evalsets[r].lexicon} for r in evalsets},
    }
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False, sort_keys=True) + "\n")
        for r in picked:
            item = items[(r["run"], r["evalset_item"])]
            f.write(json.dumps({"audit_id": r["audit_id"], "evalset": evalsets[r["run"]].manifest["name"],
                                "run": r["run"], "model": r["model"], "item": item.to_dict(), "answer": r["answer"],
                                "label": labels[r["audit_id"]]}, ensure_ascii=False) + "\n")
    print(f"{len(picked)} labelled answers -> {out}")


if __name__ == "__main__":
    {"sample": sample, "assemble": assemble}[sys.argv[1]](*sys.argv[2:])

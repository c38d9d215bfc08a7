"""How recall grows with epochs for a recipe: one training with a recall curve at every epoch's end.

    python docs/experiments/recall_by_epoch.py --anime 6 --epochs 8 [--sample 48] [--set KEY=VALUE ...] [--out DIR]

Builds a synthetic evalset of `--anime` fictional anime, trains the `fast` profile (with the CPU main job's
overrides, then `--set`) through `training.train_adapter` with a curve of one point per epoch on a fixed sample
of `--sample` questions, and prints the curve and the training's figures. Read with docs/training-notes.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from harness.cli import CPU_OVERRIDES
from harness.config import load_profile
from harness.curves import Curve
from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.evalsets import build_evalset
from harness.generation import default_batch_size
from harness.models import EMBEDDED, resolve_model
from harness.synthetic import generate_catalogue
from harness.training import train_adapter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--anime", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sample", type=int, default=48)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--model", default=EMBEDDED)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="recall-by-epoch-")))
    args = parser.parse_args()
    config = load_profile("fast", [*CPU_OVERRIDES["fast"], f"epochs={args.epochs}", "save_steps=100000", *args.set])
    evalset = build_evalset(get_domain("anime"), table_of(generate_catalogue(args.anime, 0)),
                            name=f"synthetic-{args.anime}", seed=0)
    summary = train_adapter(config, train_rows=list(evalset.train), source=resolve_model(args.model),
                            run_dir=args.out,
                            curve=Curve(evalset=evalset, points=args.epochs, sample_size=args.sample,
                                        batch_size=default_batch_size(), max_new_tokens=48))
    figures = {k: summary[k] for k in ("records", "steps", "epochs", "train_seconds", "curve_seconds",
                                       "tokens_per_second", "final_loss")}
    print(json.dumps({"config": args.set, **figures}))
    for line in (args.out / "curve.jsonl").read_text().splitlines():
        point = json.loads(line)
        print(point["step"], point["epoch"], point["train_seconds"],
              {split: s["accuracy"] for split, s in point["splits"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Recall curves: recall on a fixed sample of the evalset while training runs, so a user sees when knowledge arrives.

Consumes the evalset and the model under training; produces RUN/curve.jsonl, one point per line, appended as
training goes (a stopped run keeps the points it reached; a resumed one drops those after its checkpoint):

    {"step": 120, "epoch": 2.0, "train_seconds": 341.2, "eval_seconds": 4.1,
     "splits": {"verbatim": {"n": 256, "correct": 201, "accuracy": 0.785}, "paraphrase": {...}, "unseen": {...}}}

The sample is drawn once per run (seeded): half trained facts asked verbatim, a quarter in unseen wording, a
quarter about held-out subjects (the control: recall there is guessing). Points are evenly spaced over the
training steps, with one before the first step. The model answers as it trains (its training arithmetic, greedy,
chat prompting), so the last point can differ by a little from the run's own float32 answers; `train_seconds`
counts training alone, not the curve's own answering. Each checkpoint keeps the clock's reading at its step
(`curve_clock.json`), so a resumed run's points go on from there: the steps between the last point and the
checkpoint count once, and the steps a resume trains again (after the checkpoint) count once.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness import storage
from harness.config import RunConfig
from harness.evalsets import Evalset, QAItem

CLOCK_FILE = "curve_clock.json"  # in each checkpoint: {"train_seconds": the curve's clock at its step}
CURVE_SPLITS = ("verbatim", "paraphrase", "unseen")
SPLIT_SHARES = {"verbatim": 2, "paraphrase": 1, "unseen": 1}  # parts of the sample, out of their sum
# Questions per point: a verbatim share of 256 puts a point's interval within about ±6 points.
CURVE_SAMPLE = 512


@dataclass(frozen=True)
class Curve:
    """What a training run measures its recall curve on, how often, and how it answers."""
    evalset: Evalset
    points: int  # after this many evenly spaced steps (and once before the first); 0: no curve
    sample_size: int
    batch_size: int
    max_new_tokens: int


def recorded_curve(config: RunConfig, evalset: Evalset) -> Curve | None:
    """The curve a run recorded (`--curve N`), answered as the run's own stages answer."""
    from harness.generation import default_batch_size

    if config.curve <= 0:
        return None
    return Curve(evalset=evalset, points=config.curve, sample_size=CURVE_SAMPLE,
                 batch_size=config.batch_size or default_batch_size(), max_new_tokens=config.max_new_tokens)


def curve_sample(evalset: Evalset, size: int, seed: int = 0) -> list[QAItem]:
    """A fixed sample of `size` questions, split by SPLIT_SHARES; a split short of its share gives what it has."""
    rng = random.Random(seed)
    whole = sum(SPLIT_SHARES.values())
    sample = []
    for split in CURVE_SPLITS:
        items = [item for item in evalset.items if item.split == split]
        share = min(len(items), size * SPLIT_SHARES[split] // whole)
        sample.extend(rng.sample(items, share))
    return sample


def curve_steps(total_steps: int, points: int) -> set[int]:
    """The steps after which recall is measured: `points` of them evenly spaced, the last step always among them."""
    if points <= 0 or total_steps <= 0:
        return set()
    return {max(1, round(total_steps * k / points)) for k in range(1, points + 1)}


def curve_point(scores: list, *, step: int, epoch: float, train_seconds: float, eval_seconds: float) -> dict:
    """One point of the curve from the sample's ItemScores."""
    splits = {}
    for split in CURVE_SPLITS:
        hits = [s.hit for s in scores if s.split == split]
        if hits:
            splits[split] = {"n": len(hits), "correct": sum(hits), "accuracy": round(sum(hits) / len(hits), 4)}
    return {"step": step, "epoch": round(epoch, 3), "train_seconds": round(train_seconds, 1),
            "eval_seconds": round(eval_seconds, 1), "splits": splits}


def read_curve(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "curve.jsonl"
    return storage.read_jsonl(path, required=("step", "train_seconds", "splits")) if path.is_file() else []


def keep_points_until(run_dir: Path, step: int) -> list[dict]:
    """A resumed run's curve: the points up to its checkpoint's step (later ones were measured on a model the
    resume throws away)."""
    kept = [p for p in read_curve(run_dir) if p["step"] <= step]
    storage.write_jsonl(Path(run_dir) / "curve.jsonl", kept)
    return kept


def curve_callback(run_dir: Path, evalset: Evalset, items: list[QAItem], tokenizer, meter, *, points: int,
                   batch_size: int, max_new_tokens: int):
    """A TrainerCallback that measures recall on `items` before training and at `points` evenly spaced steps,
    appending each point to RUN/curve.jsonl and pausing `meter` while it answers. Rank 0's alone: under DDP the
    other ranks wait for it at the next step's gradient exchange."""
    import torch
    from transformers import TrainerCallback

    from harness.generation import generate_answers
    from harness.scoring import score_predictions

    path = Path(run_dir) / "curve.jsonl"

    class RecallCurve(TrainerCallback):
        steps: set[int] = set()
        offset = 0.0  # a resumed run's training seconds before its checkpoint

        def measure(self, model, state) -> None:
            started = time.perf_counter()
            was_training = model.training
            model.eval()
            keep_4bit_layers_training(model)
            # Compiled layers (torch_compile) answer eagerly: decoding's shapes would recompile them step by step.
            with torch.no_grad(), torch.compiler.set_stance("force_eager"):
                answers = generate_answers(model, tokenizer, items, batch_size=batch_size,
                                           max_new_tokens=max_new_tokens,
                                           label=f"recall curve, step {state.global_step}")
            if was_training:
                model.train()
            scores = score_predictions(evalset, answers, subset=True)
            eval_seconds = time.perf_counter() - started
            train_seconds = self.clock()
            meter.pause(eval_seconds)
            point = curve_point(scores, step=state.global_step, epoch=float(state.epoch or 0),
                                train_seconds=train_seconds, eval_seconds=eval_seconds)
            with path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(point) + "\n")

        def clock(self) -> float:
            return self.offset + (meter.marks[-1][0] if meter.marks else 0.0)

        @staticmethod
        def clock_file(args, state) -> Path:
            """Where the checkpoint of this step keeps the clock (Trainer names it checkpoint-STEP)."""
            return Path(args.output_dir) / f"checkpoint-{state.global_step}" / CLOCK_FILE

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.steps = curve_steps(state.max_steps, points)
            if state.global_step > 0:  # resumed from a checkpoint
                kept = keep_points_until(run_dir, state.global_step)
                saved = self.clock_file(args, state)
                # a checkpoint from before the clock was kept: the last point's clock, short of the steps after it
                self.offset = (storage.read_json(saved)["train_seconds"] if saved.is_file()
                               else kept[-1]["train_seconds"] if kept else 0.0)
            elif points > 0:
                storage.write_jsonl(path, [])
                self.measure(model, state)

        def on_save(self, args, state, control, **kwargs):
            saved = self.clock_file(args, state)
            if saved.parent.is_dir():
                storage.write_json(saved, {"train_seconds": round(self.clock(), 3)})

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in self.steps:
                self.measure(model, state)

    return RecallCurve()


def keep_4bit_layers_training(model) -> None:
    """bitsandbytes' 4-bit layers keep their training flag while the model answers: on a CPU with bf16 kernels,
    an eval-mode forward repacks their weights in place for inference and nothing unpacks them, after which the
    backward pass runs through a kernel without gradients (bitsandbytes 0.50), silently corrupting training."""
    for module in model.modules():
        if type(module).__module__.startswith("bitsandbytes.") and type(module).__name__ == "Linear4bit":
            module.training = True


def plot_curve(points: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for split in CURVE_SPLITS:
        xs = [p["train_seconds"] / 60 for p in points if split in p["splits"]]
        ys = [100 * p["splits"][split]["accuracy"] for p in points if split in p["splits"]]
        if xs:
            ax.plot(xs, ys, marker=".", label=split)
    ax.set_xlabel("training minutes")
    ax.set_ylabel("recall on the curve's sample, %")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    storage.write_figure(fig, path)

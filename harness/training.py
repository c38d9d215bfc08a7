"""Training: a QLoRA adapter from an evalset's `train.jsonl`, one recipe you read top to bottom.

load the base in 4-bit NF4 -> prepare it for k-bit training -> LoRA on every linear layer but lm_head ->
TRL SFTTrainer on the chat records -> save the adapter, the loss curve and the figures in the run directory.

Writes into RUN/: `adapter/` (PEFT safetensors), `checkpoints/` (for `--resume`, which continues from the
newest complete one: a checkpoint cut off mid-save is skipped with a warning), `training.json` and
`plots/loss.png`. Under torchrun (`harness run --gpus N`, harness/distributed.py) every rank runs this same
function on its own device with its share of each batch, and rank 0 alone writes these. Example
`training.json` (abridged):

    {"profile": "fast", "device": "cuda", "world_size": 1, "per_device_batch_size": 100, "steps": 130,
     "epochs": 6.0, "train_seconds": 41.2,
     "tokens": 1184000, "tokens_per_second": 28738, "final_loss": 0.08, "loss_curve": [[5, 3.1], ...],
     "throughput": {"warmup_steps": 10, "steps": 120, "seconds_per_step": 0.31, "tokens_per_second": 29410,
                    "examples_per_second": 402.7, "tokens_per_example": 73.0}}

`tokens_per_second` is the whole training's mean; `throughput` measures only the steps after warm-up
(CUDA initialisation, allocator growth and the first kernels' tuning would otherwise count against it),
counting non-pad input tokens, as `harness bench` reports them. Tokens are counted over every rank.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness import storage
from harness.config import ConfigError, TrainConfig
from harness.curves import Curve, curve_callback, curve_sample, plot_curve, read_curve
from harness.models import ModelSource, device_name, load_model, load_tokenizer
from harness.progress import duration, is_terminal, write_stderr
from harness.runs import RunError


def chat_records(train_rows: list[dict]) -> list[dict]:
    """Evalset records -> TRL's conversational prompt/completion format, so the loss can skip the prompt."""
    return [{"prompt": [m for m in row["messages"] if m["role"] == "user"],
             "completion": [m for m in row["messages"] if m["role"] == "assistant"]} for row in train_rows]


def tokenized_records(tokenizer, records: list[dict], answer_only_loss: bool) -> dict[str, list[list[int]]]:
    """Chat records -> {"input_ids", "labels"} as TRL's SFT preparation makes them (prompt rendered with the
    generation prompt, prompt + answer rendered whole, the answer starting where the two token lists part;
    -100 masks what is not scored), but rendered and tokenised in batches: TRL tokenises record by record in
    Python, which took ~3 minutes of the Kaggle-sized job's 370k records on the H200 machine's CPU."""
    from trl.data_utils import common_prefix_length

    def render(conversations: list[list[dict]], **kwargs) -> list[list[int]]:
        texts = tokenizer.apply_chat_template(conversations, tokenize=False, **kwargs)
        return tokenizer(texts, add_special_tokens=False)["input_ids"]  # what tokenize=True does per record

    prompts = render([r["prompt"] for r in records], add_generation_prompt=True)
    wholes = render([r["prompt"] + r["completion"] for r in records])
    labels = []
    for prompt, whole in zip(prompts, wholes, strict=True):
        start = common_prefix_length(prompt, whole) if answer_only_loss else 0
        labels.append([-100] * start + whole[start:])
    return {"input_ids": wholes, "labels": labels}


@dataclass(frozen=True)
class World:
    """Which of the training processes this is: torchrun's RANK, LOCAL_RANK and WORLD_SIZE, or (0, 0, 1) when
    training runs in the command's own process."""
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls, env=os.environ) -> World:
        return cls(int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1)))

    def device(self, kind: str) -> str:
        """Where this rank's model lives: its own GPU under torchrun; one process keeps the plain device name."""
        return f"cuda:{self.local_rank}" if kind == "cuda" and self.size > 1 else kind


def per_device_batch(batch_size: int, world_size: int) -> int:
    """The profile's batch is the records of one optimizer micro-step over all ranks, so `--gpus N` trains the
    same recipe (the same steps, learning rate and records per step) faster; each rank takes an equal share."""
    if batch_size % world_size:
        low = batch_size - batch_size % world_size
        raise ConfigError(f"batch_size = {batch_size} does not split evenly over {world_size} processes; give a "
                          f"multiple of {world_size} (e.g. --set batch_size={low or world_size}).")
    return batch_size // world_size


def train_adapter(config: TrainConfig, *, train_rows: list[dict], source: ModelSource, run_dir: Path,
                  resume: bool = False, time_budget_s: float | None = None, callbacks: tuple = (),
                  curve: Curve | None = None) -> dict:
    """`time_budget_s` stops training at that wall-clock budget (the bench's equal-time comparison; one process
    only: a rank that stopped alone would leave the others waiting for its gradients); `callbacks` are more
    TrainerCallbacks (a profiler's, say); `curve` measures recall while training runs (RUN/curve.jsonl)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    world = World.from_env()
    if time_budget_s is not None and world.size > 1:
        raise ConfigError("a training time budget needs one process; run without --gpus.")
    batch_size = per_device_batch(config.batch_size, world.size)
    checkpoint = last_complete_checkpoint(run_dir) if resume else None  # before loading anything: fail fast
    set_seed(config.seed)  # the same seed on every rank: the same LoRA initialisation
    device = device_name()
    if world.device(device) != device:
        torch.cuda.set_device(world.local_rank)
    bar = is_terminal()
    tokenizer = load_tokenizer(source)

    # 1. The base model in 4-bit NF4 with double quantisation and bf16 compute (bf16 alone if the config says),
    #    whole on this rank's device: bitsandbytes quantises where the weights land.
    model = load_model(source, quantize=config.load_in_4bit, device=world.device(device), dtype=config.compute_dtype)
    # 2. Norms and embeddings to fp32. Activation checkpointing, if the profile asks, is the trainer's
    #    (`activation_checkpointing` below; TRL turns input gradients on for it): peft's own switch calls the name
    #    transformers deprecated (`gradient_checkpointing_enable`), for the same effect.
    if config.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    # 3. LoRA on every linear layer; peft's "all-linear" leaves the output layer (lm_head) out.
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules="all-linear", bias="none", task_type="CAUSAL_LM")
    # 4. The chat records, tokenised (prompt masked when answer_only_loss is set). The chat template ends the
    #    answer with <end_of_turn>, so stopping is trained too.
    dataset = Dataset.from_dict(tokenized_records(tokenizer, chat_records(train_rows), config.answer_only_loss))
    # 5. The trainer: TRL truncates to max_length, packs without padding when packing is set, and computes the
    #    loss through a chunked (fused) LM head. Under torchrun, accelerate deals the batches of one shuffled
    #    order (the same data seed on every rank) to the ranks in turn, and the loss is divided by the scored
    #    tokens of all ranks' batches (`average_tokens_across_devices`, on by default) before DDP averages the
    #    gradients: each step is the one a single process takes on the whole batch, but for an epoch's last short
    #    batch, which accelerate tops up with the epoch's first records so that every rank has a full share.
    args = SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        optim=config.optimizer,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        max_steps=config.max_steps if config.max_steps > 0 else -1,
        num_train_epochs=config.epochs,
        activation_checkpointing=config.gradient_checkpointing,  # transformers 5's name; the old one warns
        completion_only_loss=config.answer_only_loss,
        packing=config.packing,
        packing_strategy="bfd",
        max_length=config.max_length,
        bf16=config.compute_dtype == "bfloat16",
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        dataloader_num_workers=0,
        # TRL's remaining passes (truncation, dropping records with nothing scored) are per-record Python:
        # large evalsets (the Kaggle-sized job: 370k records) get one process per 20k records, up to the cores.
        dataset_num_proc=max(1, min(os.cpu_count() or 1, len(train_rows) // 20_000)) if len(train_rows) >= 40_000
        else None,
        use_cpu=device == "cpu",
        ddp_backend="gloo" if device == "cpu" and world.size > 1 else None,  # CPU ranks; NCCL between GPUs
        # LoRA on every linear layer: each trainable weight has a gradient every step, so DDP need not walk the
        # graph for unused ones.
        ddp_find_unused_parameters=False,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        pad_to_multiple_of=8 if config.torch_compile and not config.packing else None,  # fewer shapes to compile
        use_liger_kernel=config.liger_kernels,
        disable_tqdm=not bar,  # a bar in a piped log is a wall of carriage returns
    )
    if world.size == 1 and device == "cuda":
        # One process trains on one GPU (more go through --gpus and torchrun): on a machine with several visible,
        # Trainer would wrap the model in nn.DataParallel, which SFTTrainer refuses. Trainer pins n_gpu to 1 the
        # same way for a model it sees as split across devices.
        _ = args.device  # sets up the devices (and n_gpu) now, so the pin below is not overwritten
        args._n_gpu = 1
    meter = ThroughputMeter(time_budget_s)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora, callbacks=[_callback(meter), *callbacks])
    # 6. With torch_compile, each decoder layer is compiled on its own (forward and backward: fused elementwise
    #    work and casts, far fewer kernel launches), not the whole model as Trainer's own switch does: inductor
    #    then also compiles TRL's chunked LM head, where its autotuning crashed on the H200.
    if config.torch_compile:
        compile_decoder_layers(trainer.model)
    # The trainer prints each log as a dict of strings; one line per logging interval instead (StepLog).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(step_log(bar))
    if curve is not None and curve.points > 0 and world.rank == 0:  # after the meter, which it pauses
        trainer.add_callback(curve_callback(run_dir, curve.evalset, curve_sample(curve.evalset, curve.sample_size,
                                                                                 seed=config.seed),
                                            tokenizer, meter, points=curve.points, batch_size=curve.batch_size,
                                            max_new_tokens=curve.max_new_tokens))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - started
    # 7. The adapter alone (a few MB); merging happens later, onto an unquantised base. Rank 0 writes the records
    #    (Trainer saves weights and checkpoints from the main process only; each rank adds its RNG state to a
    #    checkpoint, which resuming reads back).
    main_process = trainer.is_world_process_zero()
    trainer.save_model(str(run_dir / "adapter"))
    if main_process:
        tokenizer.save_pretrained(str(run_dir / "adapter"))

    tokens_per_example, scored_fraction = _dataset_tokens(trainer, len(train_rows))
    losses = [[entry["step"], entry["loss"]] for entry in trainer.state.log_history if "loss" in entry]
    tokens = int(trainer.state.num_input_tokens_seen)
    summary = {
        "profile": config.profile,
        "config": config.to_dict(),
        "model": source.to_dict(),
        "device": device,
        "world_size": world.size,
        "per_device_batch_size": batch_size,
        "records": len(train_rows),
        "steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "train_seconds": round(seconds, 2),
        "curve_seconds": round(meter.paused_s, 2),  # inside train_seconds: answering the recall curve's sample
        "tokens": tokens,
        "tokens_per_second": round(tokens / (seconds - meter.paused_s), 1) if seconds > meter.paused_s else None,
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
        "resumed_from_step": int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None,
        "final_loss": losses[-1][1] if losses else None,
        "loss_warning": loss_warning(losses, config.learning_rate),
        "stopped_at_budget": meter.stopped_at_budget,
        "throughput": meter.summary(tokens_per_example=tokens_per_example),
        "scored_fraction": scored_fraction,
        "loss_curve": losses,
    }
    if main_process:
        storage.write_json(run_dir / "training.json", summary)
        title = loss_title(run_dir.name, config, source.spec, device, world.size)
        plot_loss(losses, run_dir / "plots" / "loss.png", title=title)
        if points := read_curve(run_dir):
            plot_curve(points, run_dir / "plots" / "recall.png", title=title)
    return summary


def compile_decoder_layers(model) -> None:
    """Compile every repeated block of `model` (the classes its `_no_split_modules` names, e.g.
    Gemma3DecoderLayer) in place. The layers share their code, so they share compiled graphs, and a new
    sequence length recompiles once before shapes turn dynamic."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    blocks = set(getattr(base, "_no_split_modules", None) or ())
    layers = [module for module in base.modules() if type(module).__name__ in blocks]
    if not layers:
        raise ConfigError(f"torch_compile = true: {type(base).__name__} names no repeated layer "
                          f"(_no_split_modules) to compile; run without it.")
    for layer in layers:
        layer.compile()


class ThroughputMeter:
    """Per-step clock and non-pad token marks; the rate over the steps after warm-up; a wall-clock stop."""

    def __init__(self, time_budget_s: float | None = None, clock=time.perf_counter):
        self.time_budget_s = time_budget_s
        self.clock = clock
        self.started: float | None = None
        self.marks: list[tuple[float, int]] = []  # (seconds since start, tokens seen) at each step's end
        self.stopped_at_budget = False
        self.paused_s = 0.0  # time spent outside training (the recall curve's answering), left out of the marks

    def start(self, tokens_seen: int = 0) -> None:
        self.started = self.clock()
        self.marks = [(0.0, tokens_seen)]

    def step_end(self, tokens_seen: int) -> bool:
        """Record a finished optimizer step; True when the time budget says stop."""
        elapsed = self.clock() - self.started
        self.marks.append((elapsed, tokens_seen))
        if self.time_budget_s is not None and elapsed >= self.time_budget_s:
            self.stopped_at_budget = True
        return self.stopped_at_budget

    def pause(self, seconds: float) -> None:
        """Leave `seconds` just spent on something other than training out of the clock."""
        self.started += seconds
        self.paused_s += seconds

    @staticmethod
    def warmup_steps(steps: int) -> int:
        # The first steps of each new batch shape are slow on CUDA (kernel selection, allocator growth;
        # harness/BENCH_NOTES.md, section 1): half the steps, at most 10, are warm-up.
        return min(10, max(1, steps // 2))

    def summary(self, tokens_per_example: float | None = None) -> dict | None:
        steps = len(self.marks) - 1
        warm = self.warmup_steps(steps)
        if steps - warm < 1:
            return None
        (t0, n0), (t1, n1) = self.marks[warm], self.marks[-1]
        rate = (n1 - n0) / (t1 - t0) if t1 > t0 else None
        return {"warmup_steps": warm, "steps": steps - warm, "seconds_per_step": (t1 - t0) / (steps - warm),
                "tokens_per_second": rate,
                "examples_per_second": rate / tokens_per_example if rate and tokens_per_example else None,
                "tokens_per_example": tokens_per_example}


def _callback(meter: ThroughputMeter):
    """The meter as a transformers callback (imported here so `import harness.training` stays light)."""
    import torch
    from transformers import TrainerCallback

    def synchronised_tokens(state) -> int:
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the step's kernels finished, so the clock measures them
        return int(state.num_input_tokens_seen)

    class Meter(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            meter.start(synchronised_tokens(state))

        def on_step_end(self, args, state, control, **kwargs):
            if meter.step_end(synchronised_tokens(state)):
                control.should_training_stop = True

    return Meter()


def loss_warning(losses: list[list[float]], learning_rate: float) -> str | None:
    """What the logged loss says went wrong, or None: a loss that is not finite, or one that ended far above
    the lowest it reached (diverged). The rule: the median of the last quarter of the logs (at least 3) above both
    twice and 0.5 above the lowest median of 5 consecutive logs; medians, because length-grouped batches spike
    the loss every few logs without anything going wrong. Fewer than 8 logs say too little to judge.

        loss_warning([[5, 2.9], [10, 1.1], ..., [760, 7.2]], 1e-2) -> "the loss diverged: ..."
    """
    for step, loss in losses:
        if not math.isfinite(loss):
            return (f"the loss became {loss} at step {step}: the adapter holds no usable training; lower "
                    f"learning_rate (now {learning_rate:g}) or check the training rows.")
    if len(losses) < 8:
        return None
    window = 5
    medians = [(statistics.median(loss for _, loss in losses[i:i + window]), losses[i + window // 2][0])
               for i in range(len(losses) - window + 1)]
    lowest, at_step = min(medians)
    tail = [loss for _, loss in losses[-max(3, len(losses) // 4):]]
    end = statistics.median(tail)
    if end > 2 * lowest and end > lowest + 0.5:
        return (f"the loss diverged: {end:.2f} over its last {len(tail)} logs, against {lowest:.2f} near step "
                f"{at_step}; lower learning_rate (now {learning_rate:g}). Recall from this adapter measures the "
                "divergence, not what the recipe can teach.")
    return None


def learning_rate_text(lr: float) -> str:
    """9.8e-4, 2e-4, 0."""
    if not lr:
        return "0"
    mantissa, exponent = f"{lr:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def log_line(logs: dict, *, step: int, max_steps: int, tokens_per_second: float | None, elapsed_s: float) -> str:
    """A trainer log as one line: "step 40/540  loss 0.412  lr 9.8e-4  4,316 tok/s  1m12s"; the final log
    (it holds `train_loss`): "trained 540 steps in 12m03s: mean loss 0.532, 4,316 tok/s"."""
    rate = f"{tokens_per_second:,.0f} tok/s" if tokens_per_second else None
    if "train_loss" in logs:
        parts = [f"mean loss {logs['train_loss']:.3f}", rate]
        return f"trained {step} steps in {duration(elapsed_s)}: " + ", ".join(p for p in parts if p)
    parts = [f"step {step}/{max_steps}"]
    if "loss" in logs:
        parts.append(f"loss {logs['loss']:.3f}")
    if "learning_rate" in logs:
        parts.append(f"lr {learning_rate_text(logs['learning_rate'])}")
    parts += [rate, duration(elapsed_s)]
    return "  ".join(p for p in parts if p)


def step_log(bar: bool, write=write_stderr):
    """A callback that writes `log_line` for every trainer log: through transformers' tqdm bar where `bar` (so
    the bar is not torn), else as a plain line. Tokens/s is over the interval since the previous log."""
    from transformers.trainer_callback import ProgressCallback

    class StepLog(ProgressCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            self.begin = self.mark = (self.started, int(state.num_input_tokens_seen))
            if bar:
                super().on_train_begin(args, state, control, **kwargs)

        def on_step_end(self, args, state, control, **kwargs):
            if bar:
                super().on_step_end(args, state, control, **kwargs)

        def on_train_end(self, args, state, control, **kwargs):
            if bar:
                super().on_train_end(args, state, control, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            now, tokens = time.perf_counter(), int(state.num_input_tokens_seen)
            final = "train_loss" in logs
            since_time, since_tokens = self.begin if final else self.mark
            rate = (tokens - since_tokens) / (now - since_time) if now > since_time else None
            self.mark = (now, tokens)
            line = log_line(logs, step=state.global_step, max_steps=state.max_steps, tokens_per_second=rate,
                            elapsed_s=now - self.started)
            (self.training_bar.write if self.training_bar is not None else write)(line)

    return StepLog()


def _dataset_tokens(trainer, records: int) -> tuple[float | None, float]:
    """Mean tokens of one training record (packing keeps the total), and the share of tokens whose loss is
    computed: the answers' with answer-only loss, else all."""
    import pyarrow.compute as pc

    data = trainer.train_dataset
    if "input_ids" not in data.column_names or not records:
        return None, 1.0
    total = pc.sum(pc.list_value_length(data.data.column("input_ids"))).as_py() or 0
    scored = 1.0
    if "labels" in data.column_names and total:  # TRL folds the prompt mask into labels: -100 is not scored
        labels = pc.list_flatten(data.data.column("labels"))
        scored = pc.sum(pc.not_equal(labels, -100).cast("int64")).as_py() / total
    return (total / records if total else None), scored


CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")  # the folders Trainer saves (transformers' _re_checkpoint)
WEIGHTS_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "model.safetensors.index.json",
                 "pytorch_model.bin", "pytorch_model.bin.index.json")


def last_complete_checkpoint(run_dir: Path) -> str:
    """The newest checkpoint that resume can load. Trainer's `_save_checkpoint` writes the weights, then the
    optimizer, scheduler and RNG state, and `trainer_state.json` last: a folder without weights or without a
    readable trainer_state.json was cut off mid-save, so it is skipped with a warning naming it."""
    folder = run_dir / "checkpoints"
    steps = {}
    if folder.is_dir():
        steps = {int(match.group(1)): path for path in folder.iterdir()
                 if path.is_dir() and (match := CHECKPOINT_NAME.fullmatch(path.name))}
    skipped = []
    for step in sorted(steps, reverse=True):
        missing = _checkpoint_missing(steps[step])
        if not missing:
            return str(steps[step])
        skipped.append(steps[step].name)
        warnings.warn(f"{steps[step]}: incomplete checkpoint ({missing}: its save was cut off); skipped for the "
                      f"newest complete one.", stacklevel=2)
    found = f" (only incomplete ones: {', '.join(skipped)})" if skipped else ""
    raise RunError(f"{run_dir}: no complete checkpoint under checkpoints/ to resume from{found}. Training saves one "
                   f"every save_steps steps; train a new run instead: `harness train --evalset DIR`.")


def _checkpoint_missing(path: Path) -> str:
    """What a checkpoint folder lacks for resuming ('' if nothing)."""
    if not any((path / name).is_file() for name in WEIGHTS_FILES):
        return "no model weights"
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "no trainer_state.json"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "trainer_state.json is cut off"
    return "" if isinstance(state, dict) else "trainer_state.json is not an object"


def loss_title(run: str, config: TrainConfig, model: str, device: str, world_size: int = 1) -> str:
    """The settings that shape the curve, so a CPU run's plot says it ran with CPU settings."""
    length = f"{config.max_steps} steps" if config.max_steps else f"{config.epochs:g} epochs"
    kind = "QLoRA" if config.load_in_4bit else "bf16 LoRA"
    where = f"{world_size} x {device}" if world_size > 1 else device
    return (f"{run}\n{config.profile} profile on {model}: {where}, batch {config.batch_size}x"
            f"{config.gradient_accumulation}, {length}, lr {config.learning_rate:g}, {kind} r{config.lora_r}")


def plot_loss(curve: list[list[float]], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if curve:
        ax.plot([s for s, _ in curve], [loss for _, loss in curve], marker=".")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    storage.write_figure(fig, path)

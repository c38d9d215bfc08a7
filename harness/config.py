"""Training configs: frozen dataclasses loaded from the TOML profiles in `harness/profiles/`, with overrides.

    load_profile("fast", ["epochs=3", "learning_rate=5e-4"]) -> TrainConfig(profile="fast", epochs=3.0, ...)

An unknown key, in a file or an override, is an error naming it; a value is parsed as TOML and must have the
field's type, so `epochs=three` is an error too, never a silent default; and it must lie in the key's range
(`RANGES`), so `epochs=-1` or `batch_size=0` fails at load, not deep inside torch.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from harness.errors import HarnessError

PROFILES = ("article", "fast")
PROMPTINGS = ("chat", "fewshot")  # how a question is put to the model: a chat turn, or a few-shot completion
BOTH = "both"  # a run that asks every question both ways, chat first
MERGE_ONTO = ("nf4-dequantised", "bf16")  # what the adapter is merged onto: the dequantised 4-bit base, or bf16
MODEL_KEYS = ("spec", "path", "kind")  # models.ModelSource.to_dict()


def run_promptings(recorded: str) -> tuple[str, ...]:
    """The promptings a run's answers are asked with, its primary one first (the one its headline scores,
    comparison and CI gate use)."""
    return PROMPTINGS if recorded == BOTH else (recorded,)


def answers_name(model: str, prompting: str, primary: str) -> str:
    """A run's answer file for `model` asked by `prompting`: the primary prompting's keeps the model's name
    (`base`, `merged`), a second prompting's is suffixed (`base-fewshot`)."""
    return model if prompting == primary else f"{model}-{prompting}"


def answer_sets(prompting: str) -> list[tuple[str, str, str]]:
    """(model, prompting, answers name) for every answer set a run recorded with `prompting` holds, the
    primary prompting's base and merged first."""
    promptings = run_promptings(prompting)
    return [(model, asked, answers_name(model, asked, promptings[0])) for asked in promptings
            for model in ("base", "merged")]


# The `optim` names of transformers' OptimizerNames that the recipe can run as written: it passes no
# `optim_target_modules` (GaLore, APOLLO) and trains on CUDA or CPU (not XLA nor NPU). Some need their own
# package (bitsandbytes for the 8-bit and paged ones, torchao, schedulefree, ...).
OPTIMIZERS = (
    "adamw_torch", "adamw_torch_fused", "adamw_torch_4bit", "adamw_torch_8bit", "adamw_anyprecision", "adafactor",
    "ademamix", "sgd", "adagrad", "rmsprop", "adamw_bnb_8bit", "adamw_8bit", "ademamix_8bit", "lion_8bit",
    "lion_32bit", "paged_adamw_32bit", "paged_adamw_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit",
    "paged_lion_32bit", "paged_lion_8bit", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit", "lomo",
    "adalomo", "grokadamw", "schedule_free_radam", "schedule_free_adamw", "schedule_free_sgd", "stable_adamw",
)
# transformers' SchedulerType names that need neither `lr_scheduler_kwargs` (cosine_with_min_lr,
# warmup_stable_decay) nor an evaluation set (reduce_lr_on_plateau, greedy), neither of which the recipe passes.
LR_SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
)


class ConfigError(HarnessError, ValueError):
    """A profile or override is wrong; the message names the file or key."""


@dataclass(frozen=True)
class TrainConfig:
    profile: str
    # LoRA on every linear layer but lm_head
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    # optimisation
    batch_size: int
    gradient_accumulation: int
    learning_rate: float
    optimizer: str  # a transformers `optim` name: paged_adamw_8bit, adamw_torch_fused, ...
    lr_scheduler: str
    warmup_ratio: float
    max_steps: int  # > 0: train this many steps; 0: train `epochs` epochs
    epochs: float
    # memory and speed
    gradient_checkpointing: bool
    answer_only_loss: bool  # loss on the answer tokens alone, not the question's
    packing: bool  # padding-free best-fit packing of several records per row
    max_length: int
    # bookkeeping
    logging_steps: int
    save_steps: int
    seed: int = 0
    load_in_4bit: bool = True  # QLoRA; false trains LoRA on the unquantised base (the bench reports it beside QLoRA)
    # the arithmetic of the frozen base and of the LoRA forward: bfloat16 (mixed precision, the recipe's) or
    # float32 (for a GPU without bf16, such as a T4)
    compute_dtype: str = "bfloat16"
    group_by_length: bool = False  # without packing: batches of similar lengths, so little padding
    # compile each decoder layer: fused elementwise work and casts, fewer kernel launches (for CUDA, where a
    # step waits on launches; a CPU step does not, and pays the compile)
    torch_compile: bool = False
    liger_kernels: bool = False  # Liger's Triton RMSNorm, GeGLU and RoPE (CUDA; TRL keeps its own fused LM head)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Each key's allowed values, as a test and the words an error shows. Checked at load, before anything runs.
RANGES: dict[str, tuple[typing.Callable[[typing.Any], bool], str]] = {
    "lora_r": (lambda v: v >= 1, "a whole number >= 1"),
    "lora_alpha": (lambda v: v >= 1, "a whole number >= 1"),
    "lora_dropout": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "batch_size": (lambda v: v >= 1, "a whole number >= 1"),
    "gradient_accumulation": (lambda v: v >= 1, "a whole number >= 1"),
    # 0 is allowed: an adapter that changes nothing, which tests use and the merge then refuses
    "learning_rate": (lambda v: 0 <= v < math.inf, "a finite number >= 0"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"one of {list(OPTIMIZERS)}"),
    "lr_scheduler": (lambda v: v in LR_SCHEDULERS, f"one of {list(LR_SCHEDULERS)}"),
    "warmup_ratio": (lambda v: 0 <= v < 1, "a number in [0, 1) (a share of the total steps)"),
    "max_steps": (lambda v: v >= 0, "a whole number >= 0 (0: train `epochs` epochs)"),
    "epochs": (lambda v: 0 <= v < math.inf, "a finite number >= 0, and > 0 when max_steps = 0"),
    "max_length": (lambda v: v >= 16, "a whole number >= 16 (tokens per training row)"),
    "logging_steps": (lambda v: v >= 1, "a whole number >= 1"),
    "save_steps": (lambda v: v >= 1, "a whole number >= 1"),
    "seed": (lambda v: 0 <= v < 2**32, "a whole number in [0, 2**32)"),
    "compute_dtype": (lambda v: v in ("bfloat16", "float32"), "bfloat16 or float32"),
}


# What a ConfigError tells the user to do: a profile is edited or overridden; a run's recorded config is not.
FIX_PROFILE = "Fix it in the profile or override it with --set {key}=VALUE."
FIX_RECORD = "The run's manifest is damaged (no stage writes this); start a new run rather than editing it."


def check_ranges(config: TrainConfig, source: Path | str, fix: str = FIX_PROFILE) -> TrainConfig:
    """The config itself, or a ConfigError naming the first key outside its range."""
    for key, (allowed, words) in RANGES.items():
        value = getattr(config, key)
        if not allowed(value):
            raise ConfigError(f"{source}: {key} = {value!r} is out of range; allowed: {words}. "
                              + fix.format(key=key))
    if config.max_steps == 0 and config.epochs == 0:
        raise ConfigError(f"{source}: epochs = {config.epochs!r} with max_steps = 0 trains nothing; "
                          "give epochs > 0 (e.g. epochs=3) or max_steps > 0 (e.g. max_steps=100).")
    return config


def load_profile(name: str, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    path = Path(name)
    if path.suffix == ".toml":
        source = path
        text = _read(path)
    elif name in PROFILES:
        source = Path(f"harness/profiles/{name}.toml")
        text = resources.files("harness.profiles").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    else:
        raise ConfigError(f"--profile {name!r}: not one of {list(PROFILES)} nor a .toml file.")
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML ({err}).") from err
    values.setdefault("profile", path.stem)
    settable = sorted(f.name for f in dataclasses.fields(TrainConfig) if f.name != "profile")
    for override in overrides:
        key, sep, raw = override.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"--set {override!r}: write --set KEY=VALUE, e.g. --set learning_rate=1e-4.")
        if key == "profile":
            # the profile's name goes into the run id and the record: it must be a real profile's
            raise ConfigError(f"--set {override!r}: the profile is not a setting; choose a profile with "
                              f"--profile {'|'.join(PROFILES)}|FILE.toml.")
        if key not in settable:
            raise ConfigError(f"--set {override!r}: unknown key {key!r}; write --set KEY=VALUE with KEY one of "
                              f"{settable}.")
        values[key] = _parse_value(key, raw.strip())
    return _build(values, source)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the profile ({err.strerror}).") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the profile is not UTF-8 text (byte {err.start}); save it as UTF-8 TOML.") from err


def _parse_value(key: str, raw: str):
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word, e.g. optimizer=adamw_torch; the type check below still applies


def _build(values: dict, source: Path | str, fix: str = FIX_PROFILE) -> TrainConfig:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(fields)}.")
    missing = sorted(k for k, f in fields.items() if k not in values and f.default is dataclasses.MISSING)
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing}.")
    return check_ranges(TrainConfig(**typed_values(TrainConfig, values, source, fix)), source, fix)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run's stages need, fixed when the run opens: stored in its manifest (`to_dict`), read
    back through `from_dict` by every later stage command, which validates it as the profile loader does.

        {"data": "synthetic", "evalset_dir": "/abs/evalsets/synthetic-12-s0-en", "model": {"spec": ...},
         "profile": {...TrainConfig...}, "seed": 0, "max_new_tokens": 48, "batch_size": null,
         "merge_onto": "nf4-dequantised", "prompting": "chat", "world_size": 1}

    `world_size` is the number of training processes (`--gpus N`); the profile's batch_size is split over them.
    """
    evalset_dir: str
    model: dict  # models.ModelSource.to_dict()
    profile: TrainConfig
    data: str | None = None
    seed: int = 0
    max_new_tokens: int = 48
    batch_size: int | None = None
    merge_onto: str = "nf4-dequantised"
    prompting: str = "chat"
    retention: int = 0  # retention questions asked of base and merged (0: none)
    world_size: int = 1  # runs recorded before `--gpus` trained in one process
    curve: int = 0  # recall-curve points measured while training (0: none; curves.py)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "profile": self.profile.to_dict()}

    @classmethod
    def from_dict(cls, values: dict, source: Path | str) -> RunConfig:
        """The recorded config, checked: an unknown or missing key, a wrong type or an out-of-range training
        setting is a ConfigError naming `source` and the key."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        missing = sorted(k for k, f in fields.items() if k not in values and f.default is dataclasses.MISSING)
        if unknown or missing:
            raise ConfigError(f"{source}: run config has unknown key(s) {unknown} or lacks {missing}. {FIX_RECORD}")
        if not isinstance(values["profile"], dict):
            raise ConfigError(f"{source}: run config's profile must be a table. {FIX_RECORD}")
        model = values["model"]
        if not isinstance(model, dict) or sorted(model) != sorted(MODEL_KEYS) or not all(
                isinstance(model[k], str) for k in MODEL_KEYS):
            raise ConfigError(f"{source}: run config's model = {model!r} must be a table of strings "
                              f"{list(MODEL_KEYS)}. {FIX_RECORD}")
        profile = _build(dict(values["profile"]), source, FIX_RECORD)
        rest = typed_values(cls, {k: v for k, v in values.items() if k not in ("profile", "model")}, source,
                            FIX_RECORD)
        if rest.get("max_new_tokens", 1) < 1:
            raise ConfigError(f"{source}: max_new_tokens = {rest['max_new_tokens']} must be at least 1. {FIX_RECORD}")
        if rest.get("merge_onto", MERGE_ONTO[0]) not in MERGE_ONTO:
            raise ConfigError(f"{source}: merge_onto = {rest['merge_onto']!r} must be one of {list(MERGE_ONTO)}. "
                              f"{FIX_RECORD}")
        if rest.get("retention", 0) < 0:
            raise ConfigError(f"{source}: retention = {rest['retention']} must be at least 0. {FIX_RECORD}")
        if rest.get("world_size", 1) < 1:
            raise ConfigError(f"{source}: world_size = {rest['world_size']} must be at least 1. {FIX_RECORD}")
        if rest.get("prompting", PROMPTINGS[0]) not in (*PROMPTINGS, BOTH):
            raise ConfigError(f"{source}: prompting = {rest['prompting']!r} must be one of {[*PROMPTINGS, BOTH]}. "
                              f"{FIX_RECORD}")
        return cls(profile=profile, model=dict(model), **rest)


class _Mismatch(Exception):
    pass


def typed_values(cls: type, values: dict, source: Path | str, fix: str = FIX_PROFILE) -> dict:
    """`values` converted to `cls`'s field types (an int to a float, a TOML array to a tuple), or a ConfigError
    naming the key, the value and the type it needed."""
    hints = typing.get_type_hints(cls)
    typed = {}
    for key, value in values.items():
        try:
            typed[key] = _as_type(value, hints[key])
        except _Mismatch:
            hint = hints[key]
            name = hint.__name__ if isinstance(hint, type) and typing.get_origin(hint) is None else str(hint)
            raise ConfigError(f"{source}: {key} = {value!r} is not of type {name}. " + fix.format(key=key)) from None
    return typed


def _as_type(value, hint):
    """`value` as `hint` (bool, int, float, str, None, X | Y, tuple[X, ...]), or _Mismatch."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return _as_type(value, arm)
            except _Mismatch:
                pass
        raise _Mismatch
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_as_type(item, args[0]) for item in value)
        if len(args) != len(value):
            raise _Mismatch
        return tuple(_as_type(item, arg) for item, arg in zip(value, args, strict=True))
    if hint is type(None) and value is None:
        return None
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, str) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise _Mismatch

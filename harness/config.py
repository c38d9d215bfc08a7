"""Training configs: frozen dataclasses loaded from the TOML profiles in `harness/profiles/`, with overrides.

    load_profile("fast", ["epochs=3", "learning_rate=5e-4"]) -> TrainConfig(profile="fast", epochs=3.0, ...)

An unknown key, in a file or an override, is an error naming it; a value is parsed as TOML and must have the
field's type, so `epochs=three` is an error too, never a silent default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PROFILES = ("article", "fast")


class ConfigError(ValueError):
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
    load_in_4bit: bool = True  # QLoRA; false trains LoRA on the bf16 base (the bench reports it beside QLoRA)
    group_by_length: bool = False  # without packing: batches of similar lengths, so little padding
    # compile the model (fused elementwise kernels, fewer launches); unmeasured: its one H200 run crashed
    # (harness/BENCH_NOTES.md, 11)
    torch_compile: bool = False
    liger_kernels: bool = False  # Liger's Triton RMSNorm, GeGLU and RoPE (CUDA; TRL keeps its own fused LM head)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


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
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"override {override!r}: write key=value, e.g. learning_rate=1e-4.")
        values[key.strip()] = _parse_value(key.strip(), raw.strip())
    return _build(values, source)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the profile ({err.strerror}).") from err


def _parse_value(key: str, raw: str):
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw  # a bare word, e.g. optimizer=adamw_torch; the type check below still applies


def _build(values: dict, source: Path) -> TrainConfig:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; known keys are {sorted(fields)}.")
    missing = sorted(k for k, f in fields.items() if k not in values and f.default is dataclasses.MISSING)
    if missing:
        raise ConfigError(f"{source}: missing key(s) {missing}.")
    types = {"int": int, "float": (int, float), "bool": bool, "str": str}
    for key, value in values.items():
        expected = types[fields[key].type]
        if not isinstance(value, expected) or (fields[key].type == "int" and isinstance(value, bool)):
            raise ConfigError(f"{source}: {key} = {value!r} is not a {fields[key].type}.")
    values = {k: float(v) if fields[k].type == "float" else v for k, v in values.items()}
    return TrainConfig(**values)

from dataclasses import dataclass

import pytest

from harness.config import LR_SCHEDULERS, OPTIMIZERS, RANGES, ConfigError, TrainConfig, load_profile, typed_values


def test_article_profile_is_the_tutorial():
    c = load_profile("article")
    assert (c.lora_r, c.lora_alpha, c.lora_dropout) == (64, 32, 0.05)
    assert (c.batch_size, c.gradient_accumulation, c.learning_rate, c.max_steps) == (1, 4, 2e-4, 100)
    assert c.optimizer == "paged_adamw_8bit" and c.gradient_checkpointing


def test_fast_profile_trains_epochs_on_answers():
    c = load_profile("fast")
    assert c.max_steps == 0 and c.epochs > 1 and c.answer_only_loss and not c.gradient_checkpointing


def test_overrides_are_typed():
    c = load_profile("fast", ["epochs=2", "optimizer=adamw_torch_fused", "packing=false", "learning_rate=1e-4"])
    assert (c.epochs, c.optimizer, c.packing, c.learning_rate) == (2.0, "adamw_torch_fused", False, 1e-4)


@pytest.mark.parametrize("overrides, message", [
    (["epoch=2"], r"--set 'epoch=2': unknown key 'epoch'; write --set KEY=VALUE with KEY one of \[.*'epochs'"),
    (["epochs=three"], "epochs = 'three' is not of type float"),
    (["epochs=true"], "epochs = True is not of type float"),
    (["batch_size=2.5"], "batch_size = 2.5 is not of type int"),
    (["batch_size=true"], "batch_size = True is not of type int"),
    (["packing=yes"], "packing = 'yes' is not of type bool"),
    (["optimizer=1"], "optimizer = 1 is not of type str"),
    (["epochs"], "write --set KEY=VALUE"),
])
def test_bad_overrides_are_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("fast", overrides)


def test_profile_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(open(__import__("harness.profiles", fromlist=["x"]).__path__[0] + "/fast.toml").read()
                    + "surprise = 1\n")
    with pytest.raises(ConfigError, match=r"mine.toml: unknown key\(s\) \['surprise'\]"):
        load_profile(str(path))
    with pytest.raises(ConfigError, match="not one of"):
        load_profile("turbo")


@pytest.mark.parametrize("override, message", [
    ("epochs=-1", r"epochs = -1\.0 is out of range; allowed: a finite number >= 0, and > 0 when max_steps = 0"),
    ("epochs=0", r"epochs = 0\.0 with max_steps = 0 trains nothing; give epochs > 0"),
    ("epochs=inf", r"epochs = inf is out of range"),
    ("learning_rate=-1e-4", r"learning_rate = -0\.0001 is out of range; allowed: a finite number >= 0"),
    ("learning_rate=inf", r"learning_rate = inf is out of range"),
    ("learning_rate=nan", r"learning_rate = nan is out of range"),
    ("batch_size=0", r"batch_size = 0 is out of range; allowed: a whole number >= 1"),
    ("lora_r=0", r"lora_r = 0 is out of range; allowed: a whole number >= 1"),
    ("lora_alpha=-8", r"lora_alpha = -8 is out of range"),
    ("optimizer=adamw_tpu", r"optimizer = 'adamw_tpu' is out of range; allowed: one of \['adamw_torch'"),
    ("optimizer=galore_adamw", r"optimizer = 'galore_adamw' is out of range"),  # needs optim_target_modules
    ("lr_scheduler=cosine_annealing", r"lr_scheduler = 'cosine_annealing' is out of range; allowed: one of"),
    ("lr_scheduler=reduce_lr_on_plateau", r"lr_scheduler = 'reduce_lr_on_plateau' is out of range"),
    ("lora_dropout=1.0", r"lora_dropout = 1\.0 is out of range; allowed: a number in \[0, 1\)"),
    ("lora_dropout=-0.1", r"lora_dropout = -0\.1 is out of range"),
    ("max_length=15", r"max_length = 15 is out of range; allowed: a whole number >= 16"),
    ("warmup_ratio=1", r"warmup_ratio = 1\.0 is out of range; allowed: a number in \[0, 1\)"),
    ("warmup_ratio=-0.01", r"warmup_ratio = -0\.01 is out of range"),
    ("gradient_accumulation=0", r"gradient_accumulation = 0 is out of range; allowed: a whole number >= 1"),
    ("max_steps=-1", r"max_steps = -1 is out of range; allowed: a whole number >= 0"),
    ("logging_steps=0", r"logging_steps = 0 is out of range"),
    ("save_steps=0", r"save_steps = 0 is out of range"),
    ("seed=-1", r"seed = -1 is out of range"),
])
def test_out_of_range_is_an_error_naming_key_value_and_range(override, message):
    with pytest.raises(ConfigError, match=r"harness/profiles/fast\.toml: " + message):
        load_profile("fast", [override])


@pytest.mark.parametrize("overrides", [
    ["max_steps=100", "epochs=0"],  # max_steps decides; epochs is unused
    ["lora_dropout=0", "warmup_ratio=0", "max_length=16", "gradient_accumulation=1"],
    ["optimizer=paged_adamw_8bit", "lr_scheduler=constant"],
    ["learning_rate=0", "seed=4294967295"],  # a zero adapter, which the merge refuses by name
])
def test_range_edges_load(overrides):
    load_profile("fast", overrides)


def test_profile_file_out_of_range_names_file(tmp_path):
    path = tmp_path / "mine.toml"
    text = open(__import__("harness.profiles", fromlist=["x"]).__path__[0] + "/fast.toml").read()
    path.write_text(text.replace("batch_size = 100", "batch_size = 0"))
    with pytest.raises(ConfigError, match=r"mine\.toml: batch_size = 0 is out of range"):
        load_profile(str(path))


def test_ranges_name_real_keys():
    assert set(RANGES) <= set(TrainConfig.__dataclass_fields__)


def test_optimizers_and_schedulers_are_transformers_names():
    training_args = pytest.importorskip("transformers.training_args")
    trainer_utils = pytest.importorskip("transformers.trainer_utils")
    assert set(OPTIMIZERS) <= {o.value for o in training_args.OptimizerNames}
    assert set(LR_SCHEDULERS) <= {s.value for s in trainer_utils.SchedulerType}


@dataclass(frozen=True)
class _Typed:
    ratio: float | None = None
    names: tuple[str, ...] = ()
    pair: tuple[int, str] = (0, "")


@pytest.mark.parametrize("values, expected", [
    ({"ratio": 1}, {"ratio": 1.0}),
    ({"ratio": None}, {"ratio": None}),
    ({"names": ["a", "b"]}, {"names": ("a", "b")}),
    ({"pair": [3, "x"]}, {"pair": (3, "x")}),
])
def test_typed_values_follow_the_type_hints(values, expected):
    assert typed_values(_Typed, values, "t.toml") == expected


@pytest.mark.parametrize("values, message", [
    ({"ratio": "high"}, r"t\.toml: ratio = 'high' is not of type float \| None"),
    ({"ratio": True}, r"ratio = True is not of type float \| None"),
    ({"names": "a"}, r"names = 'a' is not of type tuple\[str, \.\.\.\]"),
    ({"names": ["a", 1]}, r"names = \['a', 1\] is not of type tuple\[str, \.\.\.\]"),
    ({"pair": [3]}, r"pair = \[3\] is not of type tuple\[int, str\]"),
])
def test_typed_values_mismatch_is_a_config_error(values, message):
    with pytest.raises(ConfigError, match=message):
        typed_values(_Typed, values, "t.toml")


def test_the_loss_plot_says_the_settings_it_ran_with():
    from harness.training import loss_title
    title = loss_title("RUN", load_profile("fast", ["batch_size=8", "epochs=3"]), "gemma-3-270m", "cpu")
    assert title == "RUN\nfast profile on gemma-3-270m: cpu, batch 8x1, 3 epochs, lr 0.001, QLoRA r64"
    title = loss_title("RUN", load_profile("fast", ["batch_size=8", "epochs=3"]), "gemma-3-270m", "cuda", 2)
    assert "gemma-3-270m: 2 x cuda, batch 8x1" in title  # the batch over both ranks


@pytest.mark.parametrize("override, message", [
    ("profile=../../x", "choose a profile with --profile"),  # the name goes into the run id: it must not escape
    ("profile=article", "choose a profile with --profile"),  # nor relabel the fast settings as the article's
    ("=", r"--set '=': unknown key ''; write --set KEY=VALUE with KEY one of \[.*'batch_size'"),
    ("nokey=1", r"--set 'nokey=1': unknown key 'nokey'"),
])
def test_set_keys_are_settings_and_name_the_flag(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_profile("fast", [override])
    assert "fast.toml" not in str(err.value)


def test_a_profile_file_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"lora_r = 64\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"bin\.toml: the profile is not UTF-8"):
        load_profile(str(path))


def _run_config(**changes):
    from harness.config import RunConfig
    values = {"evalset_dir": "/e", "model": {"spec": "m", "path": "/m", "kind": "hub"},
              "profile": load_profile("fast").to_dict(), "merge_onto": "bf16"}
    return RunConfig.from_dict({**values, **changes}, "runs/r/manifest.json")


@pytest.mark.parametrize("changes, message", [
    ({"merge_onto": "fp4"}, r"merge_onto = 'fp4' must be one of \['nf4-dequantised', 'bf16'\]"),
    ({"model": {"spec": "m"}}, "model = .* must be a table of strings"),
    ({"model": {"spec": "m", "path": 1, "kind": "hub"}}, "model = .* must be a table of strings"),
    ({"model": "m"}, "model = 'm' must be a table"),
    ({"evalset_dir": 123}, "evalset_dir = 123 is not of type str"),
    ({"profile": {**load_profile("fast").to_dict(), "epochs": -1}}, "epochs = -1.0 is out of range"),
    ({"world_size": 0}, "world_size = 0 must be at least 1"),
    ({"world_size": 1.5}, "world_size = 1.5 is not of type int"),
])
def test_a_damaged_run_config_says_the_manifest_is_damaged(changes, message):
    with pytest.raises(ConfigError, match=message) as err:
        _run_config(**changes)
    text = str(err.value)
    assert text.startswith("runs/r/manifest.json") and "manifest is damaged" in text and "override" not in text


def test_a_good_run_config_loads():
    assert _run_config().merge_onto == "bf16" and _run_config(merge_onto="nf4-dequantised").model["kind"] == "hub"
    assert _run_config().world_size == 1 and _run_config(world_size=2).world_size == 2  # before --gpus: 1


def test_the_run_config_knows_every_merge_base():
    """config holds its own copy (config must not import the merge stage); the two must not drift."""
    from harness.config import MERGE_ONTO
    from harness.merging import MERGE_BASES
    assert tuple(MERGE_ONTO) == tuple(MERGE_BASES)

import pytest

from harness.config import ConfigError, load_profile


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
    (["epoch=2"], r"unknown key\(s\) \['epoch'\]"),
    (["epochs=three"], "epochs = 'three' is not a float"),
    (["batch_size=2.5"], "batch_size = 2.5 is not a int"),
    (["packing=yes"], "packing = 'yes' is not a bool"),
    (["epochs"], "write key=value"),
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

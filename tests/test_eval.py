"""`harness eval`: a model the harness did not train (a base, or a base with a PEFT adapter saved by plain PEFT
outside the harness) scored on an evalset beside the majority floor; two such runs compared; bad adapters
refused before anything is written."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main

pytest.importorskip("torch")
pytest.importorskip("peft")


def save_lora(model, folder, *, seed=0, nonzero=True):
    """What a trainer elsewhere leaves: plain PEFT's `save_pretrained`, here with random non-zero B (a fresh LoRA
    has B = 0 and changes nothing) large enough to change greedy answers."""
    import torch
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name and nonzero:
                parameter.normal_(std=0.5)
    peft_model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def lora(tiny_source, tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_source.path, dtype=torch.bfloat16)
    return save_lora(model, tmp_path_factory.mktemp("elsewhere") / "lora")


@pytest.fixture(scope="module")
def evalset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("evalsets") / "e6"
    assert main(["evalset", "build", "--rows", "6", "--name", "e6", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def eval_runs(tiny_source, lora, evalset_dir, tmp_path_factory):
    """Two eval runs on one evalset: the tiny model as it is, and with the adapter."""
    runs = tmp_path_factory.mktemp("runs")
    common = ["eval", "--evalset", str(evalset_dir), "--model", tiny_source.path, "--max-new-tokens", "4",
              "--runs-dir", str(runs)]
    assert main(common) == 0
    (plain,) = runs.iterdir()
    assert main([*common, "--adapter", str(lora)]) == 0
    (tuned,) = set(runs.iterdir()) - {plain}
    return plain, tuned


def test_eval_writes_a_scored_run_record(eval_runs, tiny_source, lora, evalset_dir):
    from harness.runs import read_manifest

    plain, tuned = eval_runs
    base_name = tiny_source.path.rstrip("/").rsplit("/", 1)[-1]
    for run_dir, name in ((plain, base_name), (tuned, f"{base_name}-lora")):
        manifest = read_manifest(run_dir)
        assert manifest["status"] == "complete" and run_dir.name.split("-", 2)[2].startswith(f"eval-e6-{name}-")
        config = manifest["config"]
        assert config["evalset_dir"] == str(evalset_dir.resolve())
        assert config["model"]["path"] == str(Path(tiny_source.path).resolve())
        assert (config["name"], config["max_new_tokens"], config["batch_size"]) == (name, 4, 16)
        # the tiny model has no chat template of its own (a pretrained model's case): asked both ways
        assert config["prompting"] == "both"
        assert {"load", f"generate:{name}", f"generate:{name}-fewshot", "predict:majority", "score"} <= set(
            manifest["timings"])
        scores = json.loads((run_dir / "scores.json").read_text())
        assert (scores["baseline"], scores["candidate"]) == ("majority", name)
        assert {m: s["prompting"] for m, s in scores["models"].items()} == {
            name: "chat", f"{name}-fewshot": "fewshot", "majority": "none"}
        answers = [json.loads(line) for line in (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        assert len(answers) == len((evalset_dir / "eval.jsonl").read_text().splitlines())
        assert answers[0]["evalset_sha256"] == manifest["evalset"]["sha256"]
        assert (run_dir / "predictions" / "majority.jsonl").is_file() and (run_dir / "comparison.json").is_file()
    assert read_manifest(plain)["config"]["adapter"] is None
    adapter = read_manifest(tuned)["config"]["adapter"]
    assert adapter["path"] == str(lora.resolve()) and adapter["peft_type"] == "LORA"
    for file in ("adapter_model.safetensors", "adapter_config.json"):
        assert adapter["sha256"][file] == hashlib.sha256((lora / file).read_bytes()).hexdigest()
    outputs = []
    for run_dir in eval_runs:
        name = json.loads((run_dir / "scores.json").read_text())["candidate"]
        lines = (run_dir / "predictions" / f"{name}.jsonl").read_text().splitlines()
        outputs.append([json.loads(line)["output"] for line in lines])
    assert outputs[0] != outputs[1]  # the adapter was applied: it changes answers


def test_compare_two_eval_runs_picks_each_runs_model(eval_runs, capsys):
    from harness.comparison import load_scores

    plain, tuned = eval_runs
    names = [load_scores(run)["model"] for run in eval_runs]
    assert names[1] == f"{names[0]}-lora"
    capsys.readouterr()
    assert main(["compare", str(plain), str(tuned)]) == 0
    out = capsys.readouterr().out
    assert f"{names[1]} vs {names[0]}" in out and "floor %" in out
    assert all(split in out for split in ("verbatim", "paraphrase", "reverse", "unseen"))
    assert main(["compare", str(tuned)]) == 0  # one run: its model against the floor
    assert main(["compare", f"{plain}:majority", f"{tuned}:{names[1]}"]) == 0


def test_the_adapter_is_merged_into_the_weights(tiny_source, lora):
    """What answers is a plain model whose weights are the base's plus PEFT's update, not a PeftModel."""
    import torch
    from peft import PeftModel

    from harness.generation import load_answering_model
    from harness.models import load_model

    merged = load_answering_model(tiny_source, lora, "cpu")
    assert not isinstance(merged, PeftModel) and not any("lora" in n for n, _ in merged.named_parameters())
    with_adapter = PeftModel.from_pretrained(load_model(tiny_source, quantize=False, device="cpu"), str(lora))
    layer = with_adapter.base_model.model.get_submodule("model.layers.1.self_attn.v_proj")
    delta = layer.lora_B["default"].weight.float() @ layer.lora_A["default"].weight.float() * layer.scaling["default"]
    expected = layer.base_layer.weight.float() + delta
    got = merged.get_submodule("model.layers.1.self_attn.v_proj").weight.float()
    assert delta.abs().max() > 0 and torch.allclose(got, expected, rtol=1e-2, atol=1e-2)


def _empty(folder, lora, model):
    folder.mkdir()


def _config_only(folder, lora, model):
    folder.mkdir()
    shutil.copy(lora / "adapter_config.json", folder)


def _not_peft(folder, lora, model):
    shutil.copytree(lora, folder)
    (folder / "adapter_config.json").write_text('{"r": 4}')


def _torn_weights(folder, lora, model):
    shutil.copytree(lora, folder)
    (folder / "adapter_model.safetensors").write_bytes((lora / "adapter_model.safetensors").read_bytes()[:100])


def _more_targets_than_weights(folder, lora, model):
    shutil.copytree(lora, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    config["target_modules"] = ["q_proj", "v_proj", "o_proj"]  # o_proj's weights are not in the file
    (folder / "adapter_config.json").write_text(json.dumps(config))


def _other_architecture(folder, lora, model):
    """An r=4 LoRA for a Gemma-3 of hidden size 64: its projections have other shapes than the tiny model's."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model)
    config.update({"hidden_size": 64, "intermediate_size": 128})
    save_lora(AutoModelForCausalLM.from_config(config), folder)


def _untrained(folder, lora, model):
    from transformers import AutoConfig, AutoModelForCausalLM

    save_lora(AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model)), folder, nonzero=False)


@pytest.mark.parametrize(("make", "message"), [
    (_empty, "lacks adapter_config.json and adapter_model.safetensors"),
    (_config_only, "lacks adapter_model.safetensors"),
    (_not_peft, "not a PEFT adapter config"),
    (_torn_weights, "not a readable safetensors file"),
    (_more_targets_than_weights, "tensors missing"),
    (_other_architecture, "tensors of the wrong shape"),
    (_untrained, "every LoRA update B·A is zero"),
])
def test_bad_adapters_are_refused_before_anything_is_written(make, message, tmp_path, tiny_source, lora,
                                                             evalset_dir, capsys, monkeypatch):
    folder = tmp_path / "adapters" / "bad"
    folder.parent.mkdir()
    make(folder, lora, tiny_source.path)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["eval", "--evalset", str(evalset_dir), "--model", tiny_source.path, "--adapter", str(folder),
                 "--max-new-tokens", "4"]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and message in err, err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("extra", "message"), [
    (["--name", "majority"], "the majority floor's"),
    (["--name", "../x"], "a name is a folder name"),
    (["--max-new-tokens", "0"], "--max-new-tokens: '0': give a whole number of at least 1"),
    (["--model", "no/such-folder-here/x"], "no/such-folder-here/x"),
    (["--model", "LORA"], "is a PEFT adapter, not a model: pass it as --adapter"),
])
def test_bad_options_are_refused_before_anything_is_written(extra, message, tmp_path, tiny_source, lora,
                                                            evalset_dir, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    extra = [str(lora) if word == "LORA" else word for word in extra]
    argv = ["eval", "--evalset", str(evalset_dir), "--model", tiny_source.path, *extra]
    try:
        code = main(argv)
    except SystemExit as exit_:  # a flag's type is checked by argparse: usage error, exit 2
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()

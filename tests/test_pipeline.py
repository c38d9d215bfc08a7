"""Train, merge, generate and score on a tiny random Gemma-3: the model half of the pipeline in seconds."""

import json

import pytest

from harness.config import load_profile
from harness.domains import get_domain
from harness.domains.anime import table_of
from harness.evalsets import build_evalset
from harness.synthetic import generate_catalogue

pytest.importorskip("torch")
FAST_TINY = ["max_steps=4", "batch_size=4", "logging_steps=1", "save_steps=2", "learning_rate=1e-2"]


@pytest.fixture(scope="module")
def evalset():
    return build_evalset(get_domain("anime"), table_of(generate_catalogue(6, 0)), name="tiny", seed=0)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, evalset, tiny_source):
    from harness.training import train_adapter
    run_dir = tmp_path_factory.mktemp("run")
    summary = train_adapter(load_profile("fast", FAST_TINY), train_rows=list(evalset.train)[:24],
                            source=tiny_source, run_dir=run_dir)
    return run_dir, summary


def test_training_writes_adapter_curve_and_figures(trained_run):
    run_dir, summary = trained_run
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert summary["steps"] == 4 and summary["tokens"] > 0 and summary["device"] == "cpu"
    assert len(summary["loss_curve"]) == 4 and (run_dir / "plots" / "loss.png").is_file()
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    targets = {name.rsplit(".", 1)[-1] for name in adapter_config["target_modules"]}
    assert adapter_config["r"] == 64 and "lm_head" not in targets
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.slow
def test_compiled_layers_train_as_eager_ones_do_and_the_curve_still_answers(tmp_path, evalset, tiny_source):
    """torch_compile compiles each decoder layer (not TRL's LM head); the steps must be the eager ones, and the
    recall curve, which answers with the training model, must run through them (eagerly) mid-training. SGD, as
    in the DDP test: Adam's first steps move each weight by about ±lr whatever its gradient, so rounding noise
    in a near-zero gradient would flip whole steps."""
    from safetensors.torch import load_file
    from torch._dynamo.utils import counters

    from harness.curves import Curve, read_curve
    from harness.training import train_adapter
    sgd = [*FAST_TINY, "max_steps=3", "optimizer=sgd", "learning_rate=0.5"]
    rows = list(evalset.train)[:12]
    eager = train_adapter(load_profile("fast", sgd), train_rows=rows, source=tiny_source, run_dir=tmp_path / "eager")
    graphs = counters["stats"]["unique_graphs"]
    compiled = train_adapter(load_profile("fast", [*sgd, "torch_compile=true"]), train_rows=rows,
                             source=tiny_source, run_dir=tmp_path / "compiled",
                             curve=Curve(evalset=evalset, points=3, sample_size=4, batch_size=4, max_new_tokens=4))
    assert counters["stats"]["unique_graphs"] > graphs  # the layers were compiled, not silently left eager
    assert [p["step"] for p in read_curve(tmp_path / "compiled")] == [0, 1, 2, 3]
    # the padding to a multiple of 8 that compiling adds changes no scored token; fused kernels round differently
    assert [s for s, _ in compiled["loss_curve"]] == [s for s, _ in eager["loss_curve"]]
    losses = [loss for _, loss in compiled["loss_curve"]]
    assert losses == pytest.approx([loss for _, loss in eager["loss_curve"]], rel=1e-3)
    a = load_file(tmp_path / "eager" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "compiled" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert max((a[k].float() - b[k].float()).abs().max() for k in a) < 2e-3  # 2^-9: a few bf16 roundings
    assert max(a[k].float().abs().max() for k in a if "lora_B" in k) > 2e-2  # and the steps moved it that far


def test_a_model_without_repeated_layers_is_refused_for_compiling():
    import torch

    from harness.config import ConfigError
    from harness.training import compile_decoder_layers
    with pytest.raises(ConfigError, match="torch_compile = true: Linear names no repeated layer"):
        compile_decoder_layers(torch.nn.Linear(2, 2))


@pytest.mark.slow
def test_article_profile_trains_on_cpu(tmp_path, evalset, tiny_source):
    """The article's recipe as written (paged AdamW 8-bit, checkpointing, whole-sequence loss) runs on CPU."""
    from harness.training import train_adapter
    summary = train_adapter(load_profile("article", ["max_steps=2"]), train_rows=list(evalset.train)[:8],
                            source=tiny_source, run_dir=tmp_path)
    assert summary["steps"] == 2 and summary["config"]["optimizer"] == "paged_adamw_8bit"


@pytest.mark.slow
def test_resume_continues_from_last_checkpoint(tmp_path, evalset, tiny_source):
    from harness.training import train_adapter
    rows = list(evalset.train)[:16]
    train_adapter(load_profile("fast", [*FAST_TINY, "max_steps=2", "save_steps=1"]), train_rows=rows,
                  source=tiny_source, run_dir=tmp_path)
    resumed = train_adapter(load_profile("fast", [*FAST_TINY, "max_steps=4", "save_steps=1"]), train_rows=rows,
                            source=tiny_source, run_dir=tmp_path, resume=True)
    assert resumed["steps"] == 4 and resumed["resumed_from_step"] == 2  # steps 1-2 were not trained again
    assert [step for step, _ in resumed["loss_curve"]] == [1, 2, 3, 4]  # one curve across both sessions


@pytest.mark.slow
def test_merge_agrees_with_adapter_and_generation_answers_everything(trained_run, evalset, tiny_source):
    from harness.generation import generate_answers
    from harness.merging import merge_adapter
    from harness.models import ModelSource, load_model, load_tokenizer
    run_dir, _ = trained_run
    items = [i for i in evalset.items if i.split == "verbatim"]
    summary = merge_adapter(run_dir, tiny_source, check_items=items, max_new_tokens=8, batch_size=4, sample_size=6,
                            compare=True)
    assert summary["onto"] == "nf4-dequantised" and summary["lora_delta_norm"] > 0 and summary["sample"] == 6
    assert set(summary["alternatives"]) == {"bf16"} and summary["alternatives"]["bf16"]["sample"] == 6
    assert summary["agreement"] * 6 == 6 - len(summary["disagreements"])
    assert summary["stability"]["sample"] == 6 and summary["stability"]["batch_size"] == 1
    assert summary["stable_agreement"]["sample"] == round(6 * summary["stability"]["agreement"])
    assert (run_dir / "merged" / "model.safetensors").is_file()
    merged = ModelSource("merged", str(run_dir / "merged"), "local")
    predictions = generate_answers(load_model(merged, quantize=False, device="cpu"), load_tokenizer(merged),
                                   items[:10], batch_size=4, max_new_tokens=8)
    assert [p.id for p in predictions] == [i.id for i in items[:10]]


def test_lora_on_the_unquantised_base_is_merged_and_checked_against_that_base(tmp_path, evalset, tiny_source):
    """load_in_4bit = false trains on the original weights: the merge goes there and the check asks the adapter on
    that base, where a float32 merge answers exactly as the adapter does; NF4 is refused for it."""
    from harness.config import ConfigError
    from harness.merging import merge_adapter, merge_onto_for
    from harness.training import train_adapter
    config = load_profile("fast", [*FAST_TINY, "load_in_4bit=false"])
    train_adapter(config, train_rows=list(evalset.train)[:24], source=tiny_source, run_dir=tmp_path)
    onto = merge_onto_for(config, None)
    assert onto == "bf16" and merge_onto_for(load_profile("fast"), None) == "nf4-dequantised"
    with pytest.raises(ConfigError, match="load_in_4bit = false"):
        merge_onto_for(config, "nf4-dequantised")
    items = [i for i in evalset.items if i.split == "verbatim"]
    summary = merge_adapter(tmp_path, tiny_source, check_items=items, max_new_tokens=8, batch_size=4, sample_size=6,
                            onto=onto, compare=True, trained_on_4bit=False)
    assert summary["trained_on_4bit"] is False and summary["alternatives"] == {}
    assert summary["agreement"] == 1.0 and summary["sample"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("onto", ["nf4-dequantised", "bf16"])
def test_merged_weights_are_the_trained_base_plus_the_lora_update(trained_run, tiny_source, onto):
    """The default merge folds B·A into the NF4 weights the adapter was trained against, dequantised; the bf16
    option into the original weights. Checked on one projection against its closed form, to bf16 rounding."""
    import torch
    from peft.utils.integrations import dequantize_bnb_weight

    from harness.merging import _merged
    from harness.models import load_model
    run_dir, _ = trained_run
    merged, _ = _merged(tiny_source, run_dir / "adapter", onto, "cpu")
    name = "model.layers.0.self_attn.q_proj"
    if onto == "bf16":
        base = load_model(tiny_source, quantize=False, device="cpu").get_submodule(name).weight.float()
    else:
        base = dequantize_bnb_weight(load_model(tiny_source, quantize=True, device="cpu").get_submodule(name).weight)
    from peft import PeftModel
    lora = PeftModel.from_pretrained(load_model(tiny_source, quantize=False, device="cpu"), str(run_dir / "adapter"))
    layer = lora.base_model.model.get_submodule(name)
    delta = (layer.lora_B["default"].weight.float() @ layer.lora_A["default"].weight.float()) * layer.scaling["default"]
    expected = base.float() + delta
    got = merged.get_submodule(name).weight.float()
    assert delta.abs().max() > 0
    assert torch.allclose(got, expected, rtol=1e-2, atol=1e-3)
    other = load_model(tiny_source, quantize=onto == "bf16", device="cpu").get_submodule(name).weight
    other = dequantize_bnb_weight(other).float() if onto == "bf16" else other.float()
    assert not torch.allclose(got, other + delta, rtol=1e-3, atol=1e-4)  # the two bases really differ


def test_zero_adapter_is_refused(tmp_path, evalset, tiny_source):
    from harness.merging import MergeError, merge_adapter
    from harness.training import train_adapter
    train_adapter(load_profile("fast", [*FAST_TINY, "max_steps=1", "learning_rate=0"]),
                  train_rows=list(evalset.train)[:4], source=tiny_source, run_dir=tmp_path)
    with pytest.raises(MergeError, match="changes nothing"):
        merge_adapter(tmp_path, tiny_source, check_items=list(evalset.items), max_new_tokens=4, batch_size=2)


def test_out_of_memory_halves_the_batch_and_keeps_answers(tmp_path, evalset, monkeypatch, tiny_source):
    import harness.generation as generation
    from harness.models import load_tokenizer
    seen = []

    def fake_batch(model, tokenizer, prompts, max_new_tokens, cache, fixed_shape=None, sampling=None, first_line=False):
        seen.append(len(prompts))
        if len(prompts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"answer {len(p)}" for p in prompts], 3 * len(prompts)
    monkeypatch.setattr(generation, "decode_batch", fake_batch)
    items = list(evalset.items)[:7]
    partial = tmp_path / "p.partial.jsonl"
    answers = generation.generate_answers(None, load_tokenizer(tiny_source), items, batch_size=8,
                                          max_new_tokens=4, partial_path=partial)
    assert seen[:3] == [7, 4, 2] and len(answers) == 7 and all(a.output for a in answers)
    assert len(partial.read_text().splitlines()) == 8  # the settings header and 7 answers

    def must_not_run(*args, **kwargs):
        raise AssertionError("finished answers are not generated again")
    monkeypatch.setattr(generation, "decode_batch", must_not_run)
    again = generation.generate_answers(None, load_tokenizer(tiny_source), items, batch_size=8, max_new_tokens=4,
                                        partial_path=partial)
    assert again == answers


def test_generation_defaults_follow_the_measured_rates(monkeypatch):
    """CUDA answers at batch 4,096 (the fastest dynamic batch measured); the static cache's ~45 s compile is
    spent only where its faster steps win it back (from 200,000 questions); CPU keeps small dynamic batches."""
    import harness.generation as generation
    monkeypatch.setattr(generation, "device_name", lambda: "cpu")  # so it holds on a machine with a GPU too
    assert generation.default_batch_size() == 16
    assert generation.default_cache(10**6) == "dynamic"
    monkeypatch.setattr(generation, "device_name", lambda: "cuda")
    assert generation.default_batch_size() == 4096
    assert generation.default_cache(generation.STATIC_CACHE_FROM - 1) == "dynamic"
    assert generation.default_cache(generation.STATIC_CACHE_FROM) == "static"


@pytest.mark.slow
def test_cli_train_resume_merge_generate(tmp_path, monkeypatch, tiny_source):
    """The stage commands on one run directory, each leaving the run complete."""
    from harness.cli import main
    from harness.runs import read_manifest
    monkeypatch.chdir(tmp_path)
    assert main(["evalset", "build", "--rows", "4", "--name", "e"]) == 0
    tiny = ["--model", tiny_source.path, "--set", "max_steps=2", "--set", "save_steps=1", "--set", "batch_size=4"]
    assert main(["train", "--evalset", "evalsets/e", *tiny]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert main(["train", "--resume", str(run_dir)]) == 2  # its training finished: nothing to resume
    from harness.runs import update_manifest

    def killed_after_the_last_checkpoint(m):  # what a kill leaves: the stage not done, the process gone
        m["stages"]["done"].remove("train")
        m["status"] = "failed"
    update_manifest(run_dir, killed_after_the_last_checkpoint)
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert json.loads((run_dir / "training.json").read_text())["resumed_from_step"] == 2
    assert main(["merge", str(run_dir), "--max-new-tokens", "4", "--batch-size", "4"]) == 0
    for model in ("base", "merged"):
        assert main(["generate", str(run_dir), "--model", model, "--max-new-tokens", "4"]) == 0
        first = json.loads((run_dir / "predictions" / f"{model}.jsonl").read_text().splitlines()[0])
        assert first["evalset_sha256"] == read_manifest(run_dir)["evalset"]["sha256"]
    assert read_manifest(run_dir)["status"] == "partial"  # not complete until it is scored
    assert main(["score", str(run_dir)]) == 0
    manifest = read_manifest(run_dir)
    assert manifest["status"] == "complete" and (run_dir / "report.md").is_file()
    assert {"train", "merge", "generate:base", "generate:merged", "score"} <= set(manifest["timings"])


@pytest.mark.parametrize("answer_only_loss", [True, False])
def test_batch_tokenised_records_are_trls_own(evalset, tiny_source, answer_only_loss):
    """training tokenises the chat records in batches; every record must come out as TRL's per-record
    preparation makes it (its `_tokenize` and `common_prefix_length`), prompt mask included."""
    from trl.data_utils import _tokenize, common_prefix_length

    from harness.models import load_tokenizer
    from harness.training import chat_records, tokenized_records

    tokenizer = load_tokenizer(tiny_source)
    records = chat_records(list(evalset.train)[:40])
    mine = tokenized_records(tokenizer, records, answer_only_loss)
    for number, record in enumerate(records):
        prompt = _tokenize(tokenizer, record["prompt"], add_generation_prompt=True)["input_ids"]
        whole = _tokenize(tokenizer, record["prompt"] + record["completion"])["input_ids"]
        start = common_prefix_length(prompt, whole) if answer_only_loss else 0
        assert mine["input_ids"][number] == whole
        assert mine["labels"][number] == [-100] * start + whole[start:]
    assert all(any(label != -100 for label in labels) for labels in mine["labels"])


@pytest.mark.slow
def test_resume_skips_a_checkpoint_cut_off_mid_save(tmp_path, evalset, tiny_source):
    """A kill while checkpoint-3 was being saved (weights and optimizer written, trainer_state.json not yet)
    must not make every later resume crash on it: resume continues from checkpoint-2 and names the one skipped."""
    import shutil

    from harness.training import train_adapter
    rows = list(evalset.train)[:16]
    train_adapter(load_profile("fast", [*FAST_TINY, "max_steps=2", "save_steps=1"]), train_rows=rows,
                  source=tiny_source, run_dir=tmp_path)
    torn = shutil.copytree(tmp_path / "checkpoints" / "checkpoint-2", tmp_path / "checkpoints" / "checkpoint-3")
    (torn / "trainer_state.json").unlink()
    with pytest.warns(UserWarning, match=r"checkpoint-3: incomplete checkpoint \(no trainer_state.json"):
        resumed = train_adapter(load_profile("fast", [*FAST_TINY, "max_steps=3", "save_steps=1"]), train_rows=rows,
                                source=tiny_source, run_dir=tmp_path, resume=True)
    assert resumed["resumed_from_step"] == 2 and resumed["steps"] == 3


def _checkpoint(run_dir, step, files=("adapter_model.safetensors", "trainer_state.json"), state='{"global_step": 1}'):
    folder = run_dir / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text(state if name == "trainer_state.json" else "weights")
    return folder


@pytest.mark.parametrize(("files", "state", "missing"), [
    (("adapter_model.safetensors", "optimizer.pt"), "", "no trainer_state.json"),
    (("adapter_model.safetensors", "trainer_state.json"), '{"global_step": 4, "lo', "trainer_state.json is cut off"),
    (("adapter_config.json",), "", "no model weights"),
    ((), "", "no model weights"),
])
def test_newest_complete_checkpoint_is_resumed(tmp_path, files, state, missing):
    """Trainer writes a checkpoint's weights first and trainer_state.json last; folders are ordered by step."""
    from harness.training import last_complete_checkpoint
    _checkpoint(tmp_path, 9)
    complete = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 11, files, state)
    with pytest.warns(UserWarning, match=rf"checkpoint-11: incomplete checkpoint \({missing}"):
        assert last_complete_checkpoint(tmp_path) == str(complete)


@pytest.mark.parametrize("present", [(), (12,)])
def test_resume_without_a_complete_checkpoint_names_the_run_and_what_to_do(tmp_path, evalset, present):
    """No checkpoint at all (or only a cut-off one) is the user's error the CLI reports (RunError), found before
    any model is loaded."""
    import warnings

    from harness.runs import RunError
    from harness.training import train_adapter
    for step in present:
        _checkpoint(tmp_path, step, files=("adapter_model.safetensors",))
    with pytest.raises(RunError, match="no complete checkpoint") as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_adapter(load_profile("fast", FAST_TINY), train_rows=list(evalset.train)[:4], source=None,
                      run_dir=tmp_path, resume=True)
    message = str(raised.value)
    assert str(tmp_path) in message and "harness train --evalset" in message
    assert ("checkpoint-12" in message) == bool(present)


@pytest.mark.parametrize(("logs", "line"), [
    ({"loss": 0.41234, "learning_rate": 0.00098, "grad_norm": 1.2, "epoch": 0.5, "num_tokens": 1e5},
     "step 40/540  loss 0.412  lr 9.8e-4  4,316 tok/s  1m12s"),
    ({"loss": 2.0, "learning_rate": 0.0}, "step 40/540  loss 2.000  lr 0  4,316 tok/s  1m12s"),
    ({"train_loss": 0.5321, "train_runtime": 72.0}, "trained 40 steps in 1m12s: mean loss 0.532, 4,316 tok/s"),
])
def test_a_training_log_is_one_line(logs, line):
    from harness.training import log_line
    assert log_line(logs, step=40, max_steps=540, tokens_per_second=4316.2, elapsed_s=72) == line


def _logged(losses: list[float], every: int = 5) -> list[list[float]]:
    return [[every * (i + 1), loss] for i, loss in enumerate(losses)]


# Shapes modelled on H200 runs on 25,000 anime (docs/training-notes.md, session 6): at lr 1e-2 the loss stood at
# 6-8 from the end of the warm-up on (its first logs were not kept: the fall before it is a stable run's); at
# lr 2.5e-3 length-grouped batches spike the loss every tenth log (a mega-batch's longest records come first)
# and it still converges.
DIVERGED = [3.9, 2.4, 1.6, 1.2, 1.0, 0.95, 1.1, 1.8, 3.5, 6.2, 7.7, 7.3, 7.0, 6.9, 19.9, 6.6, 6.7, 7.1, 6.5, 6.9]
SPIKY = [3.1, 1.9, 1.2, 0.8, 0.6, 0.55, 0.52, 0.54, 0.51, 1.66, 0.9, 0.56, 0.54, 0.5, 0.52, 0.5, 0.49, 0.51,
         2.44, 1.12, 0.58, 0.51, 0.5, 0.48, 0.47, 0.45, 0.46, 1.69, 0.44, 0.43]


def test_a_diverged_loss_is_named_with_its_figures_and_a_converging_one_is_not():
    from harness.training import loss_warning
    warning = loss_warning(_logged(DIVERGED), 1e-2)
    assert warning is not None and warning.startswith("the loss diverged: 6.70 over its last 5 logs")
    assert "against 1.10 near step 25" in warning and "learning_rate (now 0.01)" in warning
    assert loss_warning(_logged(SPIKY), 2.5e-3) is None  # a spike every tenth log is not divergence
    # memorising: a loss near zero that drifts up by a few hundredths is noise, not divergence (0.5 margin)
    assert loss_warning(_logged([2.0, 1.0, 0.5, 0.1, 0.02, 0.01, 0.01, 0.01, 0.02, 0.03, 0.04, 0.04]), 1e-3) is None
    # the same rise, ended well above: flagged; and a run too short to judge is not
    assert loss_warning(_logged([2.0, 1.0, 0.5, 0.1, 0.02, 0.01, 0.01, 0.01, 0.9, 1.2, 1.4, 1.3]), 1e-3)
    assert loss_warning(_logged([0.5, 0.6, 0.7, 8.0, 9.0, 9.0, 9.0]), 1e-3) is None


def test_a_loss_that_is_not_finite_is_named_at_its_step():
    from harness.training import loss_warning
    warning = loss_warning(_logged([3.0, 2.0, float("nan"), float("nan")]), 2e-4)
    assert warning is not None and warning.startswith("the loss became nan at step 15")
    assert "learning_rate (now 0.0002)" in warning


def test_off_a_terminal_training_writes_one_line_per_log_and_no_bar(monkeypatch):
    """The trainer's own callbacks print each log as a dict of strings under a tqdm bar; ours writes a line."""
    from types import SimpleNamespace

    import harness.training as training
    written, clock = [], iter([100.0, 110.0, 120.0])
    monkeypatch.setattr(training.time, "perf_counter", lambda: next(clock))
    state = SimpleNamespace(is_world_process_zero=True, num_input_tokens_seen=0, global_step=0, max_steps=8)
    callback = training.step_log(bar=False, write=written.append)
    callback.on_train_begin(None, state, None)
    state.global_step, state.num_input_tokens_seen = 4, 1000
    callback.on_step_end(None, state, None)
    callback.on_log(None, state, None, logs={"loss": 1.5, "learning_rate": 2e-4})
    state.global_step, state.num_input_tokens_seen = 8, 3000
    callback.on_log(None, state, None, logs={"train_loss": 1.2})
    callback.on_train_end(None, state, None)
    assert written == ["step 4/8  loss 1.500  lr 2e-4  100 tok/s  10s",
                       "trained 8 steps in 20s: mean loss 1.200, 150 tok/s"]
    assert callback.training_bar is None

"""`harness bench`: the meter and FLOP count it rests on, and the whole bench at its CPU size (a smoke test:
figures are checked for sense, never for speed)."""

import json

import pytest

from harness.training import ThroughputMeter


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_meter_rates_the_steps_after_warm_up_only():
    clock = FakeClock()
    meter = ThroughputMeter(clock=clock)
    meter.start(tokens_seen=0)
    clock.now = 10.0  # a slow first step (compilation, allocator growth) ...
    meter.step_end(100)
    for step in range(2, 11):  # ... then 1 s and 500 tokens a step
        clock.now = 10.0 + (step - 1)
        meter.step_end(100 + 500 * (step - 1))
    summary = meter.summary(tokens_per_example=50)
    assert summary["warmup_steps"] == 5 and summary["steps"] == 5
    assert summary["tokens_per_second"] == pytest.approx(500)
    assert summary["examples_per_second"] == pytest.approx(10)
    assert summary["seconds_per_step"] == pytest.approx(1.0)


def test_meter_stops_at_the_time_budget_and_needs_steps_to_rate():
    clock = FakeClock()
    meter = ThroughputMeter(time_budget_s=5, clock=clock)
    meter.start()
    clock.now = 4.9
    assert meter.step_end(10) is False
    clock.now = 5.1
    assert meter.step_end(20) is True and meter.stopped_at_budget
    lone = ThroughputMeter(clock=clock)
    lone.start()
    lone.step_end(5)
    assert lone.summary() is None  # one step is all warm-up: no rate rather than a wrong one


def test_mfu_holds_every_rank_against_its_own_device_ceiling():
    from harness.bench import model_flops_utilisation
    assert model_flops_utilisation(200e12, 400.0) == pytest.approx(0.5)
    assert model_flops_utilisation(200e12, 400.0, world_size=2) == pytest.approx(0.25)  # two devices' worth
    assert model_flops_utilisation(None, 400.0) is None and model_flops_utilisation(1e12, None) is None


def test_flops_per_token_count_the_lm_head_only_where_the_loss_is_read(tiny_source):
    from transformers import AutoConfig

    from harness.bench import training_flops_per_token
    config = AutoConfig.from_pretrained(tiny_source.path)
    full = training_flops_per_token(tiny_source, lora_r=8, tokens_per_example=40, scored_fraction=1.0)
    half = training_flops_per_token(tiny_source, lora_r=8, tokens_per_example=40, scored_fraction=0.5)
    # the tied head is frozen: forward 2·V·d, input gradient 2·V·d, no weight gradient
    assert full["lm_head_flops_per_scored_position"] == 4 * config.vocab_size * config.hidden_size
    assert full["flops_per_token"] - half["flops_per_token"] == pytest.approx(
        0.5 * full["lm_head_flops_per_scored_position"])
    backbone = half["flops_per_token"] - 0.5 * half["lm_head_flops_per_scored_position"]
    linear = sum(m.in_features * m.out_features for m in _linear_layers(config))
    assert backbone > 4 * linear  # frozen linears forward + input gradient, plus LoRA and attention


def _linear_layers(config):
    import torch
    from transformers import AutoModelForCausalLM
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return [m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "lm_head" not in name]


def test_random_architecture_is_refused_by_unknown_name():
    from harness.models import ModelError, resolve_model
    with pytest.raises(ModelError, match="random:gemma-2b"):
        resolve_model("random:gemma-99b")


def test_static_cache_answers_as_the_dynamic_cache(tiny_source):
    from harness.generation import decode_batch
    from harness.models import load_model, load_tokenizer
    tokenizer = load_tokenizer(tiny_source)
    model = load_model(tiny_source, quantize=False, device="cpu")
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                             add_generation_prompt=True)
               for q in ("How many episodes?", "Which studio made Hoshimura no Kazeri, and when?")]
    dynamic = decode_batch(model, tokenizer, prompts, 6)
    assert decode_batch(model, tokenizer, prompts, 6, cache="static") == dynamic
    assert 0 < dynamic[1] <= 2 * 6
    # One shape for every batch (the compiled step's): more left padding and filler rows change no answer
    # and count no filler token.
    assert decode_batch(model, tokenizer, prompts, 6, cache="static", fixed_shape=(5, 64)) == dynamic
    with pytest.raises(ValueError, match="fixed_shape"):
        decode_batch(model, tokenizer, prompts, 6, cache="static", fixed_shape=(2, 4))


def test_static_cache_call_answers_every_question_once(tiny_source):
    """generate_answers with the static cache: one shape for all batches, the last one filled up; the answers
    are the dynamic cache's, in evalset order."""
    from harness.evalsets import build_evalset
    from harness.generation import generate_answers
    from harness.models import load_model, load_tokenizer
    from harness.synthetic import generate_catalogue
    tokenizer = load_tokenizer(tiny_source)
    model = load_model(tiny_source, quantize=False, device="cpu")
    from harness.domains import get_domain
    from harness.domains.anime import table_of
    items = list(build_evalset(get_domain("anime"), table_of(generate_catalogue(4, 0)), name="t").items)[:11]
    dynamic = generate_answers(model, tokenizer, items, batch_size=4, max_new_tokens=5)
    static = generate_answers(model, tokenizer, items, batch_size=4, max_new_tokens=5, cache="static")
    assert [p.id for p in static] == [i.id for i in items]
    assert static == dynamic


@pytest.mark.slow
def test_bench_tiny_writes_every_section_and_the_targets(tmp_path):
    """The CPU smoke of `harness bench`: all sections on a two-layer random Gemma-3, figures that make sense."""
    from harness.cli import main
    assert main(["bench", "--size", "tiny", "--runs-dir", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    bench = json.loads((run / "bench.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and bench["lent"] == []
    assert bench["ceiling"]["tflops"] > 0
    assert set(bench["training"]) == {"article", "fast", "fast-bf16"}
    for recipe in bench["training"].values():
        assert recipe["tokens_per_second"] > 0 and recipe["examples_per_second"] > 0
        # MFU is the FLOPs counted per token times the rate, over the ceiling the same bench measured
        achieved = recipe["flops_per_token"] * recipe["tokens_per_second"]
        assert recipe["achieved_tflops"] * 1e12 == pytest.approx(achieved)
        assert recipe["mfu"] == pytest.approx(recipe["achieved_tflops"] / bench["ceiling"]["tflops"])
    assert bench["training"]["fast"]["scored_fraction"] < 1 == bench["training"]["article"]["scored_fraction"]
    quality = bench["quality"]
    for name in ("article", "fast"):
        # Sized to end inside the budget: it runs its planned steps, or fewer where the clock stops it (the stop
        # itself is tested with a fake clock above); never a step more.
        ran, planned = quality[name]["steps"], quality[name]["planned_steps"]
        assert ran == planned or (quality[name]["stopped_at_budget"] and 1 <= ran < planned)
        verbatim, paraphrase = quality[name]["verbatim"], quality[name]["paraphrase"]
        assert verbatim["n"] > 0 and paraphrase["n"] == verbatim["n"]  # the same trained facts, other wording
        for split in (verbatim, paraphrase):  # an accuracy is hits over questions: a whole number of hits
            assert abs(split["accuracy"] * split["n"] - round(split["accuracy"] * split["n"])) < 1e-9
    assert [r["batch_size"] for r in bench["generation"]["runs"]] == [4, 16]
    assert all(r["questions_per_second"] > 0 and r["new_tokens"] > 0 for r in bench["generation"]["runs"])
    assert bench["big-model"]["random_weights"] and bench["big-model"]["steps"] > 0
    assert bench["scale"]["mode"] == "projected" and bench["scale"]["total_seconds"] > 0
    mfu_row = next(t for t in bench["targets"] if t["target"].startswith("MFU"))
    assert mfu_row["value"] == max(r["mfu"] for r in bench["training"].values())
    assert mfu_row["met"] is (mfu_row["value"] >= 0.20)
    scale_row = bench["targets"][-1]  # projected: it can say "not met", never "met"
    assert scale_row["value"] == bench["scale"]["total_seconds"] and scale_row["met"] in (None, False)
    assert not list(run.rglob("adapter_model.safetensors"))  # figures are kept, weights are not


@pytest.mark.parametrize(("fast", "article", "mfu", "scale", "met"), [
    (15_000, 100, 0.20, {"mode": "run", "total_seconds": 600}, (True, True, True)),
    (9_999, 100, 0.1999, {"mode": "run", "total_seconds": 601}, (False, False, False)),
    (15_000, 100, 0.25, {"mode": "projected", "total_seconds": 500}, (True, True, None)),
])
def test_each_target_is_met_only_at_its_threshold_and_a_projection_is_never_met(fast, article, mfu, scale, met):
    from harness.bench import targets
    rows = targets({"training": {"fast": {"tokens_per_second": fast, "mfu": mfu / 2},
                                 "article": {"tokens_per_second": article},
                                 "bf16": {"tokens_per_second": 1, "mfu": mfu}},
                    "scale": scale})
    ratio, mfu_row, generation = (next(r for r in rows if r["target"].startswith(prefix))
                                  for prefix in ("fast / article", "MFU", "generation"))
    assert ratio["value"] == fast / article and mfu_row["value"] == mfu  # the best recipe's
    assert (ratio["met"], mfu_row["met"], rows[-1]["met"]) == met
    assert generation["met"] is None  # a section not run is neither met nor missed


def test_bench_lends_earlier_sections_and_refuses_bad_choices(tmp_path):
    from harness.bench import SIZES, run_bench
    from harness.config import ConfigError
    with pytest.raises(ConfigError, match="--recipes"):
        run_bench(SIZES["tiny"], sections=("training",), out=tmp_path, recipes=("nonsense",))
    with pytest.raises(ConfigError, match="--earlier"):
        run_bench(SIZES["tiny"], sections=("ceiling",), out=tmp_path, earlier={"size": "gpu", "device": "H200"})
    first = run_bench(SIZES["tiny"], sections=("ceiling",), out=tmp_path / "a")
    second = run_bench(SIZES["tiny"], sections=("scale",), out=tmp_path / "b", earlier=first)
    assert second["lent"] == ["ceiling"] and second["ceiling"] == first["ceiling"]


@pytest.mark.slow
def test_scale_job_runs_one_epoch_and_scores_every_split(tmp_path, tiny_source):
    from harness.bench import scale_job
    result = scale_job(4, source=tiny_source, out=tmp_path, run=True, training=None, generation=None,
                       max_new_tokens=4, batch_size=16, cache="static", overrides=("batch_size=2",))
    assert result["mode"] == "run" and result["train_records"] > 0 and result["tokens"] > 0
    assert {"verbatim", "paraphrase"} <= set(result["accuracy"])  # 4 anime may hold none out
    assert sum(result["accuracy"][s]["n"] for s in result["accuracy"]) == result["questions"]
    assert result["total_seconds"] >= result["train_seconds"] + result["answer_seconds"]
    stages = result["stage_seconds"]
    assert set(stages) == {"evalset", "load_and_prepare", "train", "merge", "answer", "score"}
    assert min(stages.values()) >= 0 and sum(stages.values()) <= result["total_seconds"]


def test_scale_projection_uses_the_rates_of_its_own_settings(tmp_path, tiny_source):
    """Projected, the Kaggle-sized job takes the training rate of the recipe with its overrides and the
    answering rate of its batch and cache, not the fast profile's or the best generation run's."""
    from harness.bench import scale_job
    training = {"fast": {"profile": "fast", "overrides": [], "tokens_per_second": 1.0, "tokens_per_example": 40},
                "large": {"profile": "fast", "overrides": ["batch_size=64"], "tokens_per_second": 400.0,
                          "tokens_per_example": 40}}
    runs = [{"batch_size": 64, "cache": "static", "questions_per_second": 50.0},
            {"batch_size": 8, "cache": "dynamic", "questions_per_second": 500.0}]
    result = scale_job(6, source=tiny_source, out=tmp_path, run=False, training=training,
                       generation={"runs": runs, "best": runs[1]}, max_new_tokens=4, batch_size=64, cache="static",
                       overrides=("batch_size=64",))
    assert result["mode"] == "projected" and result["projected_from"]["training"] == ["batch_size=64"]
    assert result["train_seconds"] == pytest.approx(40 * result["train_records"] / 400.0)
    assert result["answer_seconds"] == pytest.approx(result["questions"] / 50.0)


def test_scale_job_answers_with_the_fastest_measured_generation_setting():
    from harness.bench import SIZES, scale_answering
    size = SIZES["gpu"]
    assert scale_answering(size, None) == (size.scale_batch, size.scale_cache)
    best = {"batch_size": 2048, "cache": "dynamic", "questions_per_second": 900.0}
    assert scale_answering(size, {"runs": [best], "best": best}) == (2048, "dynamic")


def test_a_recipe_that_patches_model_code_leaves_stock_code_behind(tiny_source):
    """Liger replaces Gemma-3's RoPE function, norm and MLP classes module-wide (CUDA only, so simulated
    here): the bench gives the next recipe and the FLOP count the stock code back."""
    from transformers.models.gemma3 import modeling_gemma3 as gemma3

    from harness.bench import _model_code_restored
    stock = (gemma3.apply_rotary_pos_emb, gemma3.Gemma3RMSNorm, gemma3.Gemma3ForCausalLM.forward)
    with _model_code_restored(tiny_source):
        gemma3.apply_rotary_pos_emb = lambda *args: None
        gemma3.Gemma3RMSNorm = object
        gemma3.Gemma3ForCausalLM.forward = lambda self: None
    assert (gemma3.apply_rotary_pos_emb, gemma3.Gemma3RMSNorm, gemma3.Gemma3ForCausalLM.forward) == stock


def test_a_paused_meter_leaves_the_pause_out_of_its_rate_and_budget():
    clock = FakeClock()
    meter = ThroughputMeter(time_budget_s=5, clock=clock)
    meter.start(tokens_seen=0)
    for step in range(1, 5):  # 1 s and 100 tokens a step, with 30 s of recall-curve answering after step 2
        clock.now += 1.0
        assert meter.step_end(100 * step) is False
        if step == 2:
            clock.now += 30.0
            meter.pause(30.0)
    assert meter.marks[-1] == (4.0, 400) and meter.paused_s == 30.0
    assert meter.summary()["tokens_per_second"] == pytest.approx(100)

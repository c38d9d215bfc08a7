from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
REAL_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mal-anime-2023-sample.csv"


@pytest.fixture
def tiny_csv() -> Path:
    return DATA / "tiny.csv"


@pytest.fixture
def real_sample() -> Path:
    if not REAL_SAMPLE.is_file():
        pytest.skip(f"real MAL sample not found at {REAL_SAMPLE} (it lives in ../shared/data beside the checkout)")
    return REAL_SAMPLE


@pytest.fixture(scope="session")
def embedded_source():
    """The real embedded Gemma-3-270M, converted once into the user cache (about 90 s the first time)."""
    pytest.importorskip("torch")
    from harness.models import EMBEDDED, resolve_model
    return resolve_model(EMBEDDED)


@pytest.fixture(scope="session")
def tiny_source(embedded_source, tmp_path_factory):
    """A two-layer Gemma-3 with random weights and the real tokenizer: the whole model path in seconds."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from harness.models import ModelSource, load_tokenizer, stop_token_ids

    tokenizer = load_tokenizer(embedded_source)
    config = AutoConfig.from_pretrained(embedded_source.path)
    config.update({"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "num_key_value_heads": 1, "head_dim": 64, "layer_types": ["sliding_attention", "full_attention"]})
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.generation_config.eos_token_id = stop_token_ids(tokenizer)
    folder = tmp_path_factory.mktemp("tiny-gemma3")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return ModelSource(spec=str(folder), path=str(folder), kind="local")


@pytest.fixture
def scored_run(tmp_path):
    """A run directory as `harness run` leaves it, with model-free answers standing in for the two models
    (base: the majority floor; merged: the answer key), scored by the same code path."""
    from harness.baselines import answer_key, majority
    from harness.comparison import score_run
    from harness.domains import get_domain
    from harness.domains.anime import table_of
    from harness.evalsets import build_evalset, load_evalset, write_evalset
    from harness.runs import open_run
    from harness.storage import write_jsonl
    from harness.synthetic import generate_catalogue

    evalset = build_evalset(get_domain("anime"), table_of(generate_catalogue(60, 2)), name="e", seed=2)
    evalset_dir = write_evalset(evalset, tmp_path / "evalsets" / "e")
    evalset = load_evalset(evalset_dir)
    from harness.config import RunConfig, load_profile
    config = RunConfig(evalset_dir=str(evalset_dir), profile=load_profile("fast"), seed=2,
                       model={"spec": "stand-in", "path": str(tmp_path / "no-model"), "kind": "local"}).to_dict()
    with open_run(tmp_path / "runs", label="e", config=config, evalset_manifest=evalset.manifest) as run_dir:
        for model, predict in (("base", majority), ("merged", answer_key)):
            write_jsonl(run_dir / "predictions" / f"{model}.jsonl", (p.to_dict() for p in predict(evalset)))
        score_run(run_dir, evalset)
    return run_dir

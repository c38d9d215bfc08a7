"""Few-shot prompts, the prompting a run records, and probing what a base model knew."""

import json

import pytest

from harness.comparison import ComparisonError, compare_scores
from harness.domains import get_domain
from harness.evalsets import SHOTS, QAItem, build_evalset
from harness.generation import fewshot_answer, prompt_for
from harness.probes import CATEGORIES, fact_key, forgotten_known, label, recall_by_category, summarise_probe


@pytest.fixture(scope="module")
def countries():
    domain = get_domain("countries")
    return build_evalset(domain, domain.load(None, None, 0), name="c", locale="en")


@pytest.mark.parametrize("spec, data, locale", [("anime", "synthetic", "en"), ("anime", "synthetic", "ko"),
                                                 ("countries", None, "ko")])
def test_every_question_has_a_fewshot_prompt_about_other_subjects(spec, data, locale):
    domain = get_domain(spec)
    evalset = build_evalset(domain, domain.load(data, 40 if data else None, 0), name="x", locale=locale)
    names = {item.subject for item in evalset.items if item.subject}
    for item in evalset.items:
        lines = item.fewshot.split("\n")
        solved, opening = (lines[:-2], lines[-2:]) if item.fewshot.endswith("A:") else (lines[:-1], lines[-1:])
        assert item.fewshot and len(solved) >= SHOTS, item
        if item.field != "title":
            assert item.subject in opening[-1], item  # the open line names the subject asked
            # never the subject asked: no solved line is its open line completed
            assert not any(line.startswith(opening[-1] + " ") for line in solved), item
            assert all(any(n in line for n in names) for line in solved)  # each solved line names a subject


def test_a_fewshot_prompt_states_the_field_and_stops_before_the_fact(countries):
    item = next(i for i in countries.items if i.subject == "France" and i.field == "capital")
    *solved, opening = item.fewshot.split("\n")
    assert opening == "The capital of France is" and "Paris" not in item.fewshot
    assert all(line.startswith("The capital of ") and line.endswith(".") for line in solved)


@pytest.mark.parametrize("fewshot, completion, answer", [
    ("The capital of Peru is Lima.\nThe capital of France is", " Paris.\nThe capital of Chad is", "The capital of "
     "France is Paris."),
    ("Q: Which country has Lima as its capital?\nA: Peru\nQ: Which country has Paris as its capital?\nA:",
     " France\nQ: next", "France"),
    ("X has 12 episodes.\nY has", "", "Y has"),
])
def test_a_fewshot_answer_is_the_open_line_completed_once(fewshot, completion, answer):
    item = QAItem(id="i", subject_id=1, split="verbatim", field="f", question="q", gold=1, fewshot=fewshot)
    assert fewshot_answer(item, completion) == answer


def test_a_question_without_a_fewshot_prompt_names_the_rebuild():
    from harness.runs import RunError
    item = QAItem(id="verbatim-1-episodes", subject_id=1, split="verbatim", field="episodes", question="q", gold=1)
    with pytest.raises(RunError, match="verbatim-1-episodes.*rebuild it"):
        prompt_for(None, item, "fewshot")


@pytest.mark.parametrize("greedy, samples, category", [
    (True, [False, False], "known"), (True, [True, True], "known"), (False, [False, True], "maybe"),
    (False, [False, False], "unknown"), (False, [], "unknown"),
])
def test_probe_labels(greedy, samples, category):
    assert label(greedy, samples) == category


def test_recall_splits_by_what_the_base_knew():
    items = [QAItem(id=f"{split}-{s}-capital", subject_id=s, split=split, field="capital", question="q", gold=["x"])
             for s in (1, 2, 3) for split in ("verbatim", "paraphrase", "unseen") if (split == "unseen") == (s == 3)]
    facts = {"1|capital": "known", "2|capital": "unknown", "3|capital": "maybe"}
    assert summarise_probe(items, facts)["verbatim"]["all"] == {"known": 1, "maybe": 0, "unknown": 1}

    def scored(hits):
        return {"items": [{"id": i.id, "subject_id": i.subject_id, "split": i.split, "field": i.field,
                           "hit": hits[i.id]} for i in items]}
    base = scored({i.id: i.subject_id == 1 for i in items})  # knew fact 1
    tuned = scored({i.id: i.subject_id == 2 for i in items})  # learned fact 2, lost fact 1
    rows = recall_by_category({"facts": facts}, {"base": base, "merged": tuned})
    by = {(r["split"], r["category"]): r for r in rows}
    assert by[("verbatim", "known")]["hits"] == {"base": 1, "merged": 0}
    assert by[("verbatim", "unknown")]["hits"] == {"base": 0, "merged": 1}
    assert by[("unseen", "maybe")]["n"] == 1 and ("unseen", "known") not in by
    assert forgotten_known({"facts": facts}, tuned) == ["verbatim-1-capital", "paraphrase-1-capital"]
    assert fact_key(items[0]) == fact_key(base["items"][0]) == "1|capital" and len(CATEGORIES) == 3


def test_compare_refuses_two_promptings_unless_asked():
    def scores(prompting):
        return {"source": prompting, "prompting": prompting, "evalset": {"name": "e", "sha256": "s"},
                "items": [{"id": "q1", "subject_id": 1, "split": "verbatim", "field": "f", "hit": prompting == "chat"}]}
    with pytest.raises(ComparisonError, match="chat prompting.*fewshot.*--any-prompting"):
        compare_scores(scores("chat"), scores("fewshot"))
    (row, *_) = compare_scores(scores("chat"), scores("fewshot"), any_prompting=True)
    assert row.delta == -1.0
    floor = {**scores("none"), "prompting": "none"}  # the majority floor pairs with either
    assert compare_scores(floor, scores("fewshot"))[0].n == 1


@pytest.mark.slow
def test_run_with_probe_and_fewshot_prompting_end_to_end(tmp_path, monkeypatch, tiny_source):
    """`harness run --probe --prompting fewshot` on a tiny random model: the base is probed first, both models
    answer few-shot, the score files and the report say so."""
    from harness.cli import main
    monkeypatch.chdir(tmp_path)
    tiny = ["--model", tiny_source.path, "--set", "max_steps=2", "--set", "batch_size=4"]
    assert main(["run", "--rows", "6", "--name", "p", "--max-new-tokens", "6", "--batch-size", "8", "--probe",
                 "--samples", "2", "--prompting", "fewshot", "--retention", "6", *tiny]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    probe = json.loads((run_dir / "probe.json").read_text())
    assert probe["source"] == "synthetic" and set(probe["facts"].values()) <= set(CATEGORIES)
    assert sum(probe["summary"]["verbatim"]["all"].values()) == len([k for k in probe["facts"]]) - sum(
        probe["summary"].get("unseen", {}).get("all", {}).values())
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["models"]["merged"]["prompting"] == "fewshot" and scores["models"]["majority"]["prompting"] == "none"
    first = json.loads((run_dir / "predictions" / "base.jsonl").read_text().splitlines()[0])
    assert first["output"].startswith(next(i for i in map(json.loads, (tmp_path / "evalsets" / "p" / "eval.jsonl")
                                                           .read_text().splitlines()) if i["id"] == first["id"])
                                      ["fewshot"].rsplit("\n", 1)[-1])
    report = (run_dir / "report.md").read_text()
    assert "## What the base knew" in report and "Synthetic rows" in report
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["prompting"] == "fewshot" and {"probe", "retention"} <= set(manifest["timings"])
    retention = json.loads((run_dir / "retention.json").read_text())
    assert [r["n"] for r in retention["rows"] if r["field"] == "all"] == [6] and "## Retention" in report

"""Probes: which facts a model already knows before it is fine-tuned on them.

Consumes an evalset and a model; produces RUN/probe.json:

    {"format": "harness.probe/1", "model": "gemma-3-270m", "evalset": {"name": ..., "sha256": ...},
     "prompting": "fewshot", "samples": 4, "temperature": 0.5, "seed": 0,
     "facts": {"12|episodes": "known", "12|score": "unknown", ...},
     "summary": {"verbatim": {"episodes": {"known": 3, "maybe": 5, "unknown": 770}, ...}, "unseen": {...}}}

Every fact is asked as a few-shot completion, which a pretrained model can take (the chat turn it cannot: it
echoes the question), once greedily and `samples` times sampled at `temperature` with fixed seeds. A fact is
*known* when the greedy answer is right, *maybe known* when only some sampled answer is, *unknown* otherwise
(the categories of Gekhman et al., 2024, "Does Fine-Tuning LLMs on New Knowledge Encourage Hallucinations?").
The facts asked are those of the verbatim split (the trained facts; the paraphrase split asks the same ones)
and of the unseen control. Reports then split recall by category: known facts a fine-tune made wrong are
forgetting inside the domain, and unknown facts are what it had to inject.
"""

from __future__ import annotations

from collections import Counter

from harness.evalsets import Evalset, QAItem
from harness.generation import generate_answers
from harness.scoring import score_predictions

PROBE_FORMAT = "harness.probe/1"
CATEGORIES = ("known", "maybe", "unknown")
PROBED_SPLITS = ("verbatim", "unseen")  # paraphrase questions ask the verbatim split's facts


def fact_key(item: QAItem | dict) -> str:
    """One fact, whatever split or wording asks it: its subject and field."""
    subject = item.subject_id if isinstance(item, QAItem) else item.get("subject_id", item.get("anime_id"))
    field = item.field if isinstance(item, QAItem) else item["field"]
    return f"{subject}|{field}"


def probe_items(evalset: Evalset) -> list[QAItem]:
    return [item for item in evalset.items if item.split in PROBED_SPLITS]


def label(greedy_hit: bool, sample_hits: list[bool]) -> str:
    return "known" if greedy_hit else "maybe" if any(sample_hits) else "unknown"


def probe_model(model, tokenizer, evalset: Evalset, *, model_name: str, samples: int = 4, temperature: float = 0.5,
                seed: int = 0, batch_size: int, max_new_tokens: int) -> dict:
    """probe.json's content for `model` on `evalset` (see the module's docstring)."""
    items = probe_items(evalset)

    def hits(sampling, label_text) -> dict[str, bool]:
        answers = generate_answers(model, tokenizer, items, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                   prompting="fewshot", sampling=sampling, label=label_text)
        return {s.id: s.hit for s in score_predictions(evalset, answers, subset=True)}

    greedy = hits(None, "probe: greedy")
    sampled = [hits((temperature, seed + k), f"probe: sample {k + 1} of {samples}") for k in range(samples)]
    facts = {fact_key(item): label(greedy[item.id], [s[item.id] for s in sampled]) for item in items}
    return {"format": PROBE_FORMAT, "model": model_name,
            "evalset": {"name": evalset.manifest["name"], "sha256": evalset.manifest["sha256"]},
            "source": (evalset.manifest.get("source") or {}).get("kind"),
            "prompting": "fewshot", "samples": samples, "temperature": temperature, "seed": seed,
            "facts": facts, "summary": summarise_probe(items, facts)}


def summarise_probe(items: list[QAItem], facts: dict[str, str]) -> dict:
    """split -> field (and "all") -> how many facts of each category."""
    summary: dict[str, dict] = {}
    for split in PROBED_SPLITS:
        in_split = [item for item in items if item.split == split]
        if not in_split:
            continue
        by_field: dict[str, Counter] = {}
        for item in in_split:
            by_field.setdefault(item.field, Counter())[facts[fact_key(item)]] += 1
        total = sum(by_field.values(), Counter())
        summary[split] = {f: {c: counts[c] for c in CATEGORIES} for f, counts in [*by_field.items(), ("all", total)]}
    return summary


def recall_by_category(probe: dict, models: dict[str, dict]) -> list[dict]:
    """Per split (verbatim, paraphrase, unseen) and category: how many questions, and each model's hits on them.
    `models` maps a model's name to its score file (with items). A question whose fact was not probed (the
    reverse split's titles) is left out."""
    facts = probe["facts"]
    rows = []
    for split in ("verbatim", "paraphrase", "unseen"):
        for category in CATEGORIES:
            row = {"split": split, "category": category, "n": 0, "hits": {name: 0 for name in models}}
            for name, scored in models.items():
                group = [i for i in scored["items"] if i["split"] == split and facts.get(fact_key(i)) == category]
                row["n"] = len(group)
                row["hits"][name] = sum(i["hit"] for i in group)
            if row["n"]:
                rows.append(row)
    return rows


def forgotten_known(probe: dict, scored: dict) -> list[str]:
    """Ids of questions on facts the base knew that this score file answers wrong: forgetting inside the domain."""
    return [i["id"] for i in scored["items"] if i["split"] in ("verbatim", "paraphrase")
            and probe["facts"].get(fact_key(i)) == "known" and not i["hit"]]

"""Predictions made without a model: the floor and ceiling a model's numbers sit between.

- `majority`: every question answered with its field's most common gold value (chance level: what a model
  that learned only the distribution, and no subject, would score);
- `answer_key`: every question answered with its gold fact, phrased plainly (the ceiling: it checks that the
  matchers credit a correct answer; anything under 100% is a matcher or evalset defect).

    answer_key(item with field "episodes", gold 13) -> "It has 13 episodes."
"""

from __future__ import annotations

from collections import Counter

from harness.domains import Domain, domain_of_manifest, format_value
from harness.evalsets import Evalset
from harness.scoring import Prediction


def state_fact(domain: Domain, field: str, gold) -> str:
    """A plain English sentence stating one gold value, as the domain's field declares it."""
    if field not in domain.field_names:
        return f"It is {gold}."
    fact = domain.field(field)
    value = format_value(fact, tuple(gold) if isinstance(gold, list) else gold, "en")
    label = (fact.vocabulary.get(gold) or (value,))[0] if isinstance(gold, str) else value
    return fact.statement.format(value=value, label=label, s="" if gold == 1 else "s")


def answer_key(evalset: Evalset) -> list[Prediction]:
    sha, domain = evalset.manifest.get("sha256", ""), domain_of_manifest(evalset.manifest)
    return [Prediction(id=item.id, output=state_fact(domain, item.field, item.gold), evalset_sha256=sha)
            for item in evalset.items]


def majority(evalset: Evalset) -> list[Prediction]:
    domain = domain_of_manifest(evalset.manifest)
    most_common = {}
    for field in {item.field for item in evalset.items}:
        golds = Counter(_hashable(item.gold) for item in evalset.items if item.field == field)
        most_common[field] = max(golds.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
    return [Prediction(id=item.id, output=state_fact(domain, item.field, _unhashable(most_common[item.field])),
                       evalset_sha256=evalset.manifest.get("sha256", "")) for item in evalset.items]


def _hashable(gold):
    return tuple(gold) if isinstance(gold, list) else gold


def _unhashable(gold):
    return list(gold) if isinstance(gold, tuple) else gold


BASELINES = {"majority": majority, "answer_key": answer_key}

"""Predictions made without a model: the floor and ceiling a model's numbers sit between.

- `majority`: every question answered with its field's most common gold value (chance level: what a model
  that learned only the distribution, and no anime, would score);
- `answer_key`: every question answered with its gold fact, phrased plainly (the ceiling: it checks that the
  matchers credit a correct answer; anything under 100% is a matcher or evalset defect).

    answer_key(item with field "episodes", gold 13) -> "It has 13 episodes."
"""

from __future__ import annotations

from collections import Counter

from harness.catalogue import RATINGS
from harness.evalsets import Evalset
from harness.scoring import Prediction
from harness.templates import join_names


def state_fact(field: str, gold) -> str:
    """A plain English sentence stating one gold value."""
    if field in ("genres", "studios", "producers"):
        return f"The {field} are {join_names(tuple(gold), 'en')}."
    if field == "episodes":
        return f"It has {gold} episode{'' if gold == 1 else 's'}."
    if field == "score":
        return f"Its score is {gold:.2f}."
    if field == "scored_by":
        return f"{gold:,} users have scored it."
    if field == "rating":
        return f"It is rated {RATINGS[gold]}."
    if field == "type":
        return f"It is a {gold}."
    return f"It is {gold}."


def answer_key(evalset: Evalset) -> list[Prediction]:
    sha = evalset.manifest.get("sha256", "")
    return [Prediction(id=item.id, output=state_fact(item.field, item.gold), evalset_sha256=sha)
            for item in evalset.items]


def majority(evalset: Evalset) -> list[Prediction]:
    most_common = {}
    for field in {item.field for item in evalset.items}:
        golds = Counter(_hashable(item.gold) for item in evalset.items if item.field == field)
        most_common[field] = max(golds.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
    return [Prediction(id=item.id, output=state_fact(item.field, _unhashable(most_common[item.field])),
                       evalset_sha256=evalset.manifest.get("sha256", "")) for item in evalset.items]


def _hashable(gold):
    return tuple(gold) if isinstance(gold, list) else gold


def _unhashable(gold):
    return list(gold) if isinstance(gold, tuple) else gold


BASELINES = {"majority": majority, "answer_key": answer_key}

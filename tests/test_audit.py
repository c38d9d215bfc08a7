"""The harness's verdicts against the committed blind-labelled audit set, and the audit reader's errors."""

import json
from pathlib import Path

import pytest

from harness.audit import AuditError, agreement_table, judge, read_labels
from harness.cli import main

LABELS = Path(__file__).parent / "data" / "audit" / "labels.jsonl"


def test_matchers_agree_with_the_hand_labels():
    """The bar of the 2026-11 audit: 99% overall and 97% on every field (hit vs the labeller's correct)."""
    header, rows = read_labels(LABELS)
    assert len(rows) >= 500 and {r.item.field for r in rows} >= {"genres", "studios", "producers", "episodes",
                                                                    "score", "rating", "scored_by", "type", "title"}
    assert {r.evalset.rsplit("-", 1)[1] for r in rows} == {"en", "ko"} and {r.model for r in rows} == {"base", "merged"}
    table = {row["field"]: row for row in agreement_table(judge(header, rows))}
    assert table["all"]["agreement"] >= 0.99, table["all"]
    assert all(row["agreement"] >= 0.97 for row in table.values()), table


def test_audit_command_passes_the_bar_and_fails_a_lying_matcher(monkeypatch, capsys):
    bar = ["audit", str(LABELS), "--min-agreement", "0.99", "--min-field-agreement", "0.97", "--show", "3"]
    assert main(bar) == 0
    import harness.scoring as scoring
    from harness.matching import Match, matcher_for

    def lying(fact):  # every type answer credited
        return (lambda output, gold, lexicon: Match(True, [gold])) if fact.name == "type" else matcher_for(fact)
    monkeypatch.setattr(scoring, "matcher_for", lying)  # the name the scorer looks its matchers up by
    assert main(bar) == 1  # the audit catches it
    out = capsys.readouterr().out
    assert "false credit" in out and "below the bar" in out


ITEM = {"id": "verbatim-1-nope", "subject_id": 1, "split": "verbatim", "field": "nope", "question": "q", "gold": 1}


@pytest.mark.parametrize("lines, message", [
    (['{"format": "other"}'], "line 1 must be the header"),
    (['{"format": "harness.audit/1", "evalsets": {}}', '{"audit_id": "a"}'], "line 2 lacks"),
    (['{"format": "harness.audit/1", "evalsets": {}}',
      '{"audit_id": "a", "evalset": "e", "item": {}, "answer": "x", "label": {"correct": true}}'], "not in the header"),
    (['{"format": "harness.audit/1", "evalsets": {"e": {"lexicon": {}}}}',
      '{"audit_id": "a", "evalset": "e", "item": {}, "answer": "x", "label": {"correct": "yes"}}'], "correct"),
    (['{"format": "harness.audit/1", "evalsets": {"e": {"lexicon": {}}}}',
      '{"audit_id": "a", "evalset": "e", "item": {}, "answer": 5, "label": {"correct": true}}'], "answer must be text"),
    (['{"format": "harness.audit/1", "evalsets": {"e": {"lexicon": {}}}}',
      json.dumps({"audit_id": "a", "evalset": "e", "item": ITEM, "answer": "x", "label": {"correct": True}})],
     r"line 2: item field 'nope' is not one the harness scores; use one of \[.*'episodes'"),
    (['{"format": "harness.audit/1", "evalsets": {"e": {"lexicon": {}}}}'], "no labelled answers"),
    (['{"format": "harness.audit/1", "evalsets": {"e": {"lexicon": {}}}}',
      '{"audit_id": "a", "evalset": "e", "item": {}, "answer": "x", "label": true}'], "line 2: label needs"),
])
def test_malformed_labels_name_the_line(tmp_path, lines, message):
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError, match=message):
        read_labels(path)


def test_audit_flags_take_fractions(capsys):
    assert main(["audit", str(LABELS), "--min-agreement", "99"]) == 2
    assert "fraction" in capsys.readouterr().err


def test_label_rule_is_written_at_the_top():
    header = json.loads(LABELS.read_text(encoding="utf-8").splitlines()[0])
    assert header["rule"].startswith("# Labelling rule (written before any label was made)")
    assert "blind" in header["provenance"]


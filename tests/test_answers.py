"""`harness report RUN --items`: a run's questions one by one (harness/answers.py)."""

import json

import pytest

from harness import storage
from harness.answers import join_answers
from harness.cli import main
from harness.evalsets import QAItem


def item_ids(out: str, prefix: str) -> list[str]:
    """The first column's cells that start with `prefix`, in the order the table shows them."""
    cells = (line.split("│")[1].strip() for line in out.splitlines() if line.count("│") > 1)
    return [cell for cell in cells if cell.startswith(prefix)]


def test_items_shows_matching_questions_and_counts_them(scored_run, capsys):
    items = json.loads((scored_run / "scores.json").read_text())["models"]["base"]["items"]
    wrong = [i["id"] for i in items if i["split"] == "unseen" and i["field"] == "genres" and i["verdict"] != "correct"]
    capsys.readouterr()
    argv = ["report", str(scored_run), "--items", "--split", "unseen", "--field", "genres", "--limit", "2"]
    assert main([*argv, "--verdict", "wrong_value", "--model", "base"]) == 0
    out = capsys.readouterr().out
    expected = [i for i in wrong if next(x for x in items if x["id"] == i)["verdict"] == "wrong_value"]
    assert f"{len(expected)} questions match (split unseen, field genres, base verdict wrong_value); 2 shown" in out
    assert item_ids(out, "unseen-") == expected[:2]
    assert main([*argv, "--verdict", "wrong_value"]) == 0  # the merged model (the answer key) is never wrong
    assert "0 questions match" in capsys.readouterr().out


def test_items_show_answers_as_text_with_gold(scored_run, capsys):
    path = scored_run / "predictions" / "merged.jsonl"
    rows = storage.read_jsonl(path)
    rows[0]["output"] = "[red]not markup[/red]"
    storage.write_jsonl(path, rows)
    capsys.readouterr()
    assert main(["report", str(scored_run), "--items", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "[red]not" in out and rows[0]["id"] in out


@pytest.mark.parametrize("flag, value", [("--split", "train"), ("--field", "studio"), ("--verdict", "right"),
                                         ("--model", "majority"), ("--limit", "-1")])
def test_items_refuse_unknown_filters(scored_run, capsys, flag, value):
    assert main(["report", str(scored_run), "--items", flag, value]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{flag} " in err and value in err


def test_item_filters_need_items(scored_run, capsys):
    assert main(["report", str(scored_run), "--verdict", "echo"]) == 2
    assert "--verdict applies only with --items" in " ".join(capsys.readouterr().err.split())


def test_join_answers_keeps_evalset_order_and_blanks_what_is_missing():
    items = [QAItem(id=f"verbatim-{i}-type", subject_id=i, split="verbatim", field="type", question="Type?",
                    gold=gold) for i, gold in ((2, "TV"), (1, ["Action", "Drama"]))]
    rows = join_answers(items, {"base": {"verbatim-1-type": "a film"}, "merged": {"verbatim-2-type": "TV"}},
                        {"merged": {"verbatim-2-type": "correct"}})
    assert [(r.id, r.gold, r.answers, r.verdicts) for r in rows] == [
        ("verbatim-2-type", "TV", {"base": "", "merged": "TV"}, {"base": "", "merged": "correct"}),
        ("verbatim-1-type", "Action, Drama", {"base": "a film", "merged": ""}, {"base": "", "merged": ""})]

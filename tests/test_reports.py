import json
from collections import Counter

import pytest
from rich.console import Console

from harness import storage
from harness.cli import main
from harness.comparison import ComparisonRow
from harness.reports import comparison_markdown, comparison_table, merge_line, moves_lines, verdict_line

MERGE = {"onto": "nf4-dequantised", "lora_delta_norm": 41.7, "sample": 512, "agreement": 0.973,
         "disagreements": [], "alternatives": {"bf16": {"sample": 512, "agreement": 0.705}}}
ROW = ComparisonRow(split="verbatim", field="all", n=10, accuracy_a=0.2, accuracy_b=0.9, delta=0.7, ci_low=0.5,
                    ci_high=0.8, learned=7, forgotten=0, p_value=0.01)


def scores_of(run_dir) -> dict:
    return json.loads((run_dir / "scores.json").read_text())


def markdown_row(report: str, first_cells: list[str]) -> dict[str, str]:
    """The report.md table row starting with these cells, keyed by its table's headers."""
    lines = report.splitlines()
    for number, line in enumerate(lines):
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[:len(first_cells)] == first_cells:
            header = next(lines[i] for i in range(number - 1, -1, -1) if lines[i + 1].startswith("|--"))
            return dict(zip([c.strip() for c in header.strip("|").split("|")], cells, strict=True))
    raise AssertionError(f"no row {first_cells}")


def test_report_writes_markdown_and_plot(scored_run):
    assert main(["report", str(scored_run)]) == 0
    report = (scored_run / "report.md").read_text()
    assert "| **verbatim** | **all** |" in report and "McNemar" in report
    assert "plots/accuracy.png" in report
    assert (scored_run / "plots" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("floor, shown", [({"verbatim": {"all": {"accuracy": 0.123}}}, "12.3"),
                                          ({"verbatim": {}}, "–")])
def test_floor_column_in_both_tables(floor, shown):
    row = markdown_row(comparison_markdown([ROW], {}, {}, "base", "merged", floor=floor), ["**verbatim**"])
    assert row["floor %"] == f"**{shown}**" and row["base % [95% CI]"].startswith("**20.0")
    assert "floor %" not in comparison_markdown([ROW], {}, {}, "base", "merged")
    console = Console(record=True, width=200)
    console.print(comparison_table([ROW], {}, {}, "base", "merged", floor=floor))
    header, row_line = [line for line in console.export_text().splitlines() if "floor" in line or "verbatim" in line]
    cells = [c.strip() for c in row_line.split("│")]
    assert cells[[c.strip() for c in header.split("┃")].index("floor %")] == shown


def test_report_shows_the_floor_apart_from_the_base_in_table_and_plot(scored_run, monkeypatch):
    """The fixture's base model is the majority floor; a floor moved to 50% shows where the floor is drawn."""
    scores = scores_of(scored_run)
    for fields in scores["models"]["majority"]["summary"].values():
        for group in fields.values():
            group["accuracy"] = 0.5
    storage.write_json(scored_run / "scores.json", scores)
    figures = []
    write_figure = storage.write_figure
    monkeypatch.setattr(storage, "write_figure", lambda fig, path: figures.append(fig) or write_figure(fig, path))
    assert main(["report", str(scored_run)]) == 0
    row = markdown_row((scored_run / "report.md").read_text(), ["**verbatim**", "**all**"])
    base = scores["models"]["base"]["summary"]["verbatim"]["all"]["accuracy"]
    assert row["floor %"] == "**50.0**" and row["base % [95% CI]"].startswith(f"**{100 * base:.1f} [")
    (figure,) = figures
    manifest = json.loads((scored_run / "manifest.json").read_text())
    assert manifest["run_id"] in figure._suptitle.get_text() and "evalset e" in figure._suptitle.get_text()
    for ax, split in zip(figure.axes, scores["models"]["merged"]["summary"], strict=True):
        (floor,) = [c for c in ax.collections if c.get_label() == "majority floor"]
        fields = len(scores["models"]["merged"]["summary"][split])
        assert [segment[0][1] for segment in floor.get_segments()] == [0.5] * fields, split


@pytest.mark.parametrize("merge, line", [
    (MERGE, "merged onto nf4-dequantised: agrees with the adapter on 97.3% of 512 sampled answers "
            "(onto bf16: 70.5%)"),
    ({**MERGE, "agreement": 0.988, "stability": {"sample": 512, "agreement": 0.982, "batch_size": 128},
      "stable_agreement": {"sample": 503, "agreement": 0.996}},
     "merged onto nf4-dequantised: agrees with the adapter on 98.8% of 512 sampled answers, 99.6% of the 503 it "
     "answers alike in batches of 128 (the adapter with itself: 98.2%) (onto bf16: 70.5%)"),
    ({"sample": 16, "agreement": 1.0, "alternatives": {}},
     "merged onto an unrecorded base: agrees with the adapter on 100.0% of 16 sampled answers"),
])
def test_merge_line(merge, line):
    assert merge_line(merge) == line


def test_report_states_merge_verdicts_and_their_moves(scored_run, capsys):
    storage.write_json(scored_run / "merge.json", MERGE)
    capsys.readouterr()
    assert main(["report", str(scored_run)]) == 0
    out = capsys.readouterr().out
    report = (scored_run / "report.md").read_text()
    assert merge_line(MERGE) in out and f"- {merge_line(MERGE)}" in report
    models = scores_of(scored_run)["models"]
    merged = models["merged"]["summary"]["verbatim"]["all"]["verdicts"]
    assert f"merged verbatim: {verdict_line(merged)}" in out
    for model in ("base", "merged"):
        counts = models[model]["summary"]["unseen"]["genres"]["verdicts"]
        row = markdown_row(report, ["unseen", "genres", model])
        assert {kind: int(row[kind]) for kind in counts} == counts
    pairs = Counter((x["verdict"], y["verdict"]) for x, y in zip(models["base"]["items"], models["merged"]["items"],
                                                                 strict=True) if x["split"] == "verbatim")
    row = markdown_row(report, ["verbatim", "wrong_value", "correct"])
    assert int(row["questions"]) == pairs[("wrong_value", "correct")] > 0
    assert not any(line.startswith("| verbatim | correct | correct |") for line in report.splitlines())


def test_moves_lines_leave_out_the_smallest():
    from harness.comparison import VerdictMove
    moves = [VerdictMove("verbatim", "echo", "correct", 5), VerdictMove("verbatim", "empty", "correct", 2),
             VerdictMove("verbatim", "declined", "correct", 1), VerdictMove("unseen", "echo", "declined", 3)]
    assert moves_lines(moves, "a", "b", shown=2) == [
        "answers that changed class, a → b:",
        "  verbatim: echo → correct 5, empty → correct 2 (+1 smaller moves, 1 questions)",
        "  unseen: echo → declined 3"]
    assert moves_lines([], "a", "b") == ["no answer changed class, a → b"]


def test_the_verdict_line_reads_the_run(scored_run):
    """The stand-in merged model is the answer key: above the floor everywhere, the held-out control too,
    which for a real model would mean leakage; the line must say so, and come last in the terminal."""
    from rich.console import Console

    from harness.reports import build_report, read_run, run_verdict
    line = run_verdict(read_run(scored_run))
    assert line.startswith("Verdict: merged recalls 100.0%") and "(above the floor)" in line
    assert "check for leakage" in line
    console = Console(width=200, record=True)
    console.print(build_report(scored_run))
    text = console.export_text()
    assert "Verdict:" in text[text.rindex("report: "):]  # after the tables and the file names: the last word
    assert "**Verdict: merged recalls 100.0%" in (scored_run / "report.md").read_text()


def test_the_verdict_line_carries_the_training_loss_warning(scored_run):
    """A diverged training's adapter scores what divergence leaves: the one line says so, from training.json."""
    from harness.reports import read_run, run_verdict
    from harness.storage import write_json
    assert "Training warns" not in run_verdict(read_run(scored_run))
    write_json(scored_run / "training.json", {"steps": 100, "loss_warning": "the loss diverged: 6.90 over its "
                                              "last 5 logs, against 1.00 near step 30; lower learning_rate."})
    line = run_verdict(read_run(scored_run))
    assert line.endswith(". Training warns: the loss diverged: 6.90 over its last 5 logs, against 1.00 near step "
                         "30; lower learning_rate.")
    write_json(scored_run / "training.json", {"steps": 100, "loss_warning": None})
    assert "Training warns" not in run_verdict(read_run(scored_run))


def test_the_default_layout_fits_80_columns_and_keeps_ids_and_paths_whole(scored_run, monkeypatch):
    """`harness report`, `harness runs list` and the CI gate's `harness compare` on an 80-column console: no line
    wider, the run id `harness report runs/RUN_ID` needs whole on a line of its own, file names whole; --wide
    prints every column at its natural width, cut nowhere."""
    import shutil

    import harness.cli as cli
    monkeypatch.chdir(scored_run.parent.parent)
    run = f"runs/{scored_run.name}"
    shutil.copytree(scored_run, "runs/cpu-smoke")
    console = Console(width=80, record=True)
    monkeypatch.setattr(cli, "console", console)
    for argv in (["report", run], ["runs", "list"], ["compare", "runs/cpu-smoke:merged", f"{run}:merged"]):
        assert main(argv) == 0, argv
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert scored_run.name in lines and "cpu-smoke" in lines  # runs list: each id whole, alone on its line
    assert f"report: {run}/report.md" in lines and f"plots: {run}/plots/accuracy.png" in lines
    assert f"candidate: {run}:merged" in lines and "…" not in "".join(lines)

    long_dir = scored_run.parent.parent / ("many-runs-" * 8)  # a path wider than the console is printed whole
    shutil.copytree(scored_run.parent, long_dir)
    console = Console(width=80, record=True)
    monkeypatch.setattr(cli, "console", console)
    assert main(["runs", "list", "--runs-dir", str(long_dir)]) == 0
    assert f"2 run(s) in {long_dir}" in console.export_text().splitlines()

    console = Console(width=80, record=True)
    monkeypatch.setattr(cli, "console", console)
    assert main(["report", run, "--wide"]) == 0
    text = console.export_text()
    assert "McNemar p" in text and "forgotten" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) > 80

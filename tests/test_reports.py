from harness.cli import main


def test_report_writes_markdown_and_plot(scored_run):
    assert main(["report", str(scored_run)]) == 0
    report = (scored_run / "report.md").read_text()
    assert "| **verbatim** | **all** |" in report and "McNemar" in report
    assert "plots/accuracy.png" in report
    assert (scored_run / "plots" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

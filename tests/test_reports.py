from harness.cli import main


def test_report_writes_markdown_and_plot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--rows", "80", "--seed", "2"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    (run_dir / "report.md").unlink()
    (run_dir / "plots" / "accuracy.png").unlink()
    assert main(["report", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert "| **verbatim** | **all** |" in report and "McNemar" in report
    assert "plots/accuracy.png" in report
    assert (run_dir / "plots" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""The HTML report (harness/html.py): self-contained, escaped, and filtering as it should in a real browser."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from harness import storage
from harness.cli import main
from harness.reports import build_report, pct, read_run, run_verdict

CHROMIUM = shutil.which("chromium")
HOSTILE = "<script>alert('x')</script> & \"quoted\" <b>bold</b>"


class Page(HTMLParser):
    """The question rows (their attributes, `hidden` included) and the text of every element with an id."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: list[dict] = []
        self.texts: dict[str, str] = {}
        self._open: list[str] = []  # ids of the elements being read
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-field" in attrs:
            self.rows.append(attrs)
        if "id" in attrs and tag not in ("img", "col", "input"):
            self._open.append(attrs["id"])
            self.texts[attrs["id"]] = ""

    def handle_endtag(self, tag):
        if self._open and tag in ("p", "span", "b", "table", "td", "div"):
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            self.texts[element] += data


def scores_of(run_dir) -> dict:
    return json.loads((run_dir / "scores.json").read_text())


def chromium(run_dir, *args: str, query: str = "") -> str:
    """Chromium's own CLI, headless, offline, on RUN/report.html; returns what it printed."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={run_dir.parent / 'chromium-profile'}", *args,
               (run_dir / "report.html").as_uri() + query]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def test_run_report_is_one_file_without_network_references(scored_run):
    build_report(scored_run)
    page = (scored_run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # no CDN, no font, no remote script
    references = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page)
    assert [r for r in references if not r.startswith("#")] == [  # links within the page, and the plot inline
        *re.findall(r"""src="(data:image/png;base64,[^"]+)""", page)]
    assert page.count("<script>") == 1 and "<link" not in page and "@import" not in page
    assert len(Page(page).rows) == sum(len(m["items"]) for m in scores_of(scored_run)["models"].values()) // 3


def test_answers_are_escaped(scored_run):
    path = scored_run / "predictions" / "merged.jsonl"
    rows = storage.read_jsonl(path)
    rows[0]["output"] = HOSTILE
    storage.write_jsonl(path, rows)
    build_report(scored_run)
    page = (scored_run / "report.html").read_text()
    assert "<script>alert" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34; &lt;b&gt;bold&lt;/b&gt;" in page
    assert page.count("<script>") == 1


def test_report_without_its_evalset_says_why_the_questions_are_missing(scored_run):
    shutil.rmtree(scored_run.parents[1] / "evalsets")
    build_report(scored_run)
    page = Page((scored_run / "report.html").read_text())
    assert page.rows == [] and "no manifest.json" in page.texts["questions-note"]
    assert page.texts["verdict"] == run_verdict(read_run(scored_run))


def test_compare_html_of_two_runs_and_of_bare_score_files(scored_run, tmp_path, capsys):
    out = tmp_path / "compare.html"
    assert main(["compare", f"{scored_run}:base", f"{scored_run}:merged", "--html", str(out)]) == 0
    page = Page(out.read_text())
    merged = scores_of(scored_run)["models"]["merged"]
    assert page.texts["acc-verbatim-all-b"] == pct(merged["summary"]["verbatim"]["all"]["accuracy"])
    assert len(page.rows) == len(merged["items"]) and "verdict" not in page.texts
    bare = tmp_path / "elsewhere" / "scores.json"  # a score file away from its run: no answers to show
    bare.parent.mkdir()
    shutil.copy(scored_run / "scores.json", bare)
    assert main(["compare", f"{bare}:base", f"{bare}:merged", "--html", str(out)]) == 0
    page = Page(out.read_text())
    assert page.rows == [] and "both sides are run directories" in page.texts["questions-note"]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` on PATH (Debian: apt-get install chromium); "
                                             "the browser test drives headless Chromium")
def test_report_in_headless_chromium(scored_run):
    build_report(scored_run)
    merged = scores_of(scored_run)["models"]["merged"]
    dom = Page(chromium(scored_run, "--dump-dom", query="?field=episodes"))  # the DOM after the script ran
    assert html.unescape(dom.texts["verdict"]) == run_verdict(read_run(scored_run))
    assert dom.texts["acc-verbatim-all-b"] == pct(merged["summary"]["verbatim"]["all"]["accuracy"])
    visible = [row for row in dom.rows if "hidden" not in row]
    episodes = [item for item in merged["items"] if item["field"] == "episodes"]
    assert {row["data-field"] for row in visible} == {"episodes"} and len(visible) == len(episodes) > 0
    assert len(dom.rows) == len(merged["items"]) and dom.texts["visible-count"] == str(len(episodes))

    shot = scored_run / "report.png"  # kept beside the report for a person to look at
    chromium(scored_run, f"--screenshot={shot}", "--window-size=1280,2000")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1280, 2000)  # IHDR

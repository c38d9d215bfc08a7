"""Progress in a piped log: a plain line each tenth of the way and after 30 s of silence, told by a fake clock."""

import pytest

from harness.progress import ProgressLines, duration, progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines_of(total, **options):
    clock, written = Clock(), []
    return ProgressLines("answering as merged", total, clock=clock, write=written.append, **options), clock, written


def test_a_line_each_tenth_and_the_last_with_rate_and_time_left():
    lines, clock, written = lines_of(4457)
    lines.begin()
    for _ in range(4457 // 16 + 1):
        clock.now += 16 / 45  # 45 questions a second
        lines.advance(min(16, 4457 - lines.done))
    lines.end()
    assert written[0] == "answering as merged: 0/4,457 (0%), 0s so far"
    assert len(written) == 1 + 10  # the start and one a tenth; the end repeats nothing
    assert written[3].startswith("answering as merged: 1,344/4,457 (30%) 45 q/s, 30s so far, about 1m09s left")
    assert written[-1] == "answering as merged: 4,457/4,457 (100%) 45 q/s, done in 1m39s"


def test_silence_of_30_seconds_is_broken_by_a_line():
    lines, clock, written = lines_of(1000)
    lines.begin()
    clock.now += 29
    lines.advance(1)
    lines.tick()
    assert len(written) == 1  # under a tenth and under 30 s: nothing yet
    clock.now += 1
    lines.advance(1)
    assert written[-1].startswith("answering as merged: 2/1,000 (0%) 0.067 q/s, 30s so far")
    clock.now += 31  # one batch that takes longer than 30 s: the heartbeat speaks meanwhile
    lines.tick()
    assert len(written) == 3 and "0.033 q/s, 1m01s so far" in written[-1]
    lines.tick()
    assert len(written) == 3


def test_a_resumed_count_rates_only_what_this_run_did_and_a_stop_short_is_said():
    lines, clock, written = lines_of(100, done=60, unit=None)
    lines.begin()
    clock.now += 10
    lines.relabel("merge: saving merged/")
    lines.advance(20)
    lines.end()
    assert written == ["answering as merged: 60/100 (60%), 0s so far",
                       "merge: saving merged/: 80/100 (80%), 10s so far, about 10s left"]
    lines, clock, written = lines_of(100)
    lines.begin()
    clock.now += 5
    lines.advance(3)
    clock.now += 1
    lines.advance(1)
    assert len(written) == 1  # under a tenth, under 30 s
    lines.end()  # an exception left the loop: the last line says where it stopped
    assert written[-1] == "answering as merged: 4/100 (4%) 0.67 q/s, 6s so far, about 2m24s left"


@pytest.mark.parametrize("seconds, text", [(0.4, "0s"), (45, "45s"), (72, "1m12s"), (3599, "59m59s"),
                                           (7500, "2h05m")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_off_a_terminal_the_counter_writes_plain_lines_to_stderr(capsys):
    with progress("scoring", 20, bar=False) as counter:
        counter.advance(20)
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "scoring: 0/20 (0%), 0s so far" and err[-1].startswith("scoring: 20/20 (100%)")


def test_generation_and_scoring_report_through_it(monkeypatch, capsys):
    """Off a terminal, answering and scoring a large evalset say how far they are in plain lines."""
    from types import SimpleNamespace

    from harness import generation, scoring
    from harness import progress as progress_module
    from harness.baselines import answer_key
    from harness.domains import get_domain
    from harness.domains.anime import table_of
    from harness.evalsets import build_evalset
    from harness.synthetic import generate_catalogue

    class Tokenizer:
        def apply_chat_template(self, messages, **_):
            return messages[0]["content"]

        def __call__(self, text, **_):
            return SimpleNamespace(input_ids=text.split())

    monkeypatch.setattr(progress_module, "is_terminal", lambda: False)
    monkeypatch.setattr(generation, "decode_batch", lambda model, tokenizer, prompts, *_, **__: (["13"] * len(prompts),
                                                                                                 len(prompts)))
    evalset = build_evalset(get_domain("anime"), table_of(generate_catalogue(6, 0)), name="tiny", seed=0)
    items = list(evalset.items)
    generation.generate_answers(None, Tokenizer(), items, batch_size=4, max_new_tokens=8, label="answering as merged")
    monkeypatch.setattr(scoring, "PROGRESS_FROM", 1)
    monkeypatch.setattr(scoring, "PROGRESS_CHUNK", 7)
    scoring.score_predictions(evalset, answer_key(evalset), source="key.jsonl")
    err = capsys.readouterr().err.splitlines()
    n = f"{len(items):,}"
    assert err[0] == f"answering as merged: 0/{n} (0%), 0s so far"
    assert err[len(err) // 2 - 1].startswith(f"answering as merged: {n}/{n} (100%)")
    assert err[len(err) // 2] == f"scoring key.jsonl: 0/{n} (0%), 0s so far"
    assert err[-1].startswith(f"scoring key.jsonl: {n}/{n} (100%)") and len(err) == 2 * (1 + 10)

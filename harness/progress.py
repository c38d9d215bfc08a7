"""Progress of a long loop: a rich bar on a terminal, plain lines in a piped log (CI, nohup), which a bar leaves
silent. Generation, the merge check and the scoring of large evalsets report through it:

    answering as merged (dynamic cache): 1,024/4,457 (23%) 45 q/s, 23s so far, about 1m16s left

A line is written when the count crosses the next tenth of the total, when `every_s` seconds passed since the
last line (a heartbeat thread also writes one while a single long batch runs), and when the loop ends.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EVERY_S = 30.0  # a log line at least this often, so a silent log means a hung process
STEPS = 10  # and one each tenth of the way


def is_terminal() -> bool:
    """Whether rich would draw live bars here (stdout is a terminal, as rich decides it)."""
    from rich import get_console
    return get_console().is_terminal


def duration(seconds: float) -> str:
    """45s, 1m12s, 2h05m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def write_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)  # flushed: a piped stream is block-buffered


class ProgressLines:
    """Counts done out of `total` and says so in plain lines through `write`; `clock` is injectable for tests."""

    def __init__(self, label: str, total: int, *, done: int = 0, unit: str | None = "q", every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic, write: Callable[[str], None] = write_stderr):
        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self.clock, self.write = clock, write
        self.done = self.start_done = done
        self.started = self.last_written = clock()
        self.written_done: int | None = None
        self.next_step = self._step_after(done)
        self._lock = threading.Lock()

    def _step_after(self, done: int) -> int:
        """The count at the next tenth of the total after `done`."""
        if self.total <= 0:
            return 1
        tenth = done * STEPS // self.total + 1
        return -(-tenth * self.total // STEPS)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        share = f" ({100 * self.done // self.total}%)" if self.total else ""
        text = f"{self.label}: {self.done:,}/{self.total:,}{share}"
        made = self.done - self.start_done
        if self.unit and elapsed > 0 and made > 0:
            rate = made / elapsed
            text += f" {rate:,.0f}" if rate >= 10 else f" {rate:.1f}" if rate >= 1 else f" {rate:.2g}"
            text += f" {self.unit}/s"
        if self.done >= self.total:
            return text + f", done in {duration(elapsed)}"
        text += f", {duration(elapsed)} so far"
        if made > 0 and elapsed > 0:
            text += f", about {duration((self.total - self.done) * elapsed / made)} left"
        return text

    def _emit(self, now: float) -> None:
        self.last_written, self.written_done = now, self.done
        self.write(self.line(now))

    def begin(self) -> None:
        with self._lock:
            self._emit(self.clock())

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = self.clock()
            if self.done >= self.next_step or now - self.last_written >= self.every_s:
                self.next_step = self._step_after(self.done)
                self._emit(now)

    def relabel(self, label: str) -> None:
        """Name what runs now (a stage of a few long steps), said in the next line."""
        with self._lock:
            self.label = label

    def tick(self) -> None:
        """The heartbeat: a line if none was written for `every_s` seconds (one batch may take longer)."""
        with self._lock:
            now = self.clock()
            if now - self.last_written >= self.every_s:
                self._emit(now)

    def end(self) -> None:
        """The last line (where the count stopped, if it stopped short), unless it was just written."""
        with self._lock:
            if self.written_done != self.done:
                self._emit(self.clock())


class _Bar:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def advance(self, n: int) -> None:
        self.progress.update(self.task, advance=n)

    def relabel(self, label: str) -> None:
        self.progress.update(self.task, description=label)


@contextmanager
def progress(label: str, total: int, *, done: int = 0, unit: str | None = "q", bar: bool | None = None) -> Iterator:
    """A counter with `.advance(n)` and `.relabel(label)`: a transient rich bar where `bar` (default: on a
    terminal), else `ProgressLines` (a rate in `unit`/s, none if None) with a heartbeat thread that writes a line
    after EVERY_S seconds of silence."""
    if is_terminal() if bar is None else bar:
        from rich.progress import Progress
        with Progress(transient=True) as bars:
            yield _Bar(bars, bars.add_task(label, total=total, completed=done))
        return
    lines = ProgressLines(label, total, done=done, unit=unit)
    lines.begin()
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(1.0):
            lines.tick()

    thread = threading.Thread(target=heartbeat, name=f"progress: {label}", daemon=True)
    thread.start()
    try:
        yield lines
    finally:
        stop.set()
        thread.join()
        lines.end()

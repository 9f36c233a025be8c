"""What a long command is doing, where people wait for it: rich progress bars on a terminal; in a
log (output to a file or a pipe), one timestamped line per stage and per step, e.g.

    2026-12-02 15:03:12 train: fold 2/4, horizon 3, 1 min 40 s elapsed, about 3 min left

The stages report through a plain callback, ``step(message)`` for a stage and
``step(message, (i, n))`` for step i of n of a loop (the backtest's folds and horizons); they
know nothing of terminals. Both go to stdout with the command's results, the run's log: stderr
keeps only its warnings and errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, Task
from rich.text import Text

from cli.app import STARTED
from cli.app import console as stdout

Step = Callable[..., None]  # step(message: str, at: tuple[int, int] | None = None)


def duration(seconds: float) -> str:
    """A time taken: '12 s', '1 min 40 s', '2 h 5 min'."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        minutes, s = divmod(s, 60)
        return f"{minutes} min {s} s" if s else f"{minutes} min"
    hours, minutes = divmod(s // 60, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def about(seconds: float) -> str:
    """A time left, as roughly as it is known: '40 s', '3 min', '1 h 20 min'."""
    if seconds < 60:
        return f"{max(5, 5 * round(seconds / 5))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return duration(60 * round(seconds / 60))


class Clock:
    """The command's elapsed time, and the time left in a loop of numbered steps (the mean
    time of the steps done so far, times the steps still to do)."""

    def __init__(self, now: Callable[[], float] = time.monotonic, began: float | None = None):
        self._now = now
        self.began = now() if began is None else began
        self._loop: tuple[float, int] | None = None  # when the loop's first step began, its i
        self._last = 0  # the loop's latest step

    def elapsed(self) -> float:
        return self._now() - self.began

    def read(self, at: tuple[int, int] | None) -> tuple[float, float | None]:
        """(seconds elapsed, seconds left in the loop or None) as step ``at`` = (i, n)
        begins; a stage without a step ends any loop."""
        now = self._now()
        if at is None:
            self._loop = None
            return now - self.began, None
        i, n = at
        if self._loop is None or i <= self._last:  # a new loop
            self._loop = (now, i)
        self._last = i
        start, first = self._loop
        done = i - first
        return now - self.began, (now - start) / done * (n - i + 1) if done else None


def log_line(command: str, message: str, elapsed: float, left: float | None,
             at: datetime) -> str:
    """One line of a log: when, which command, what it does now, how long, how long yet."""
    text = f"{at:%Y-%m-%d %H:%M:%S} {command}: {message}, {duration(elapsed)} elapsed"
    return text if left is None else f"{text}, about {about(left)} left"


@contextmanager
def progress(command: str, console: Console = stdout,
             clock: Clock | None = None) -> Iterator[Step]:
    """The ``step`` callback of one long command, shown as bars or written as log lines."""
    clock = clock or Clock(began=STARTED)
    if console.is_terminal:
        with _bars(command, console, clock) as step:
            yield step
        return

    def step(message: str, at: tuple[int, int] | None = None) -> None:
        elapsed, left = clock.read(at)
        console.print(log_line(command, message, elapsed, left, datetime.now()),
                      markup=False, highlight=False, soft_wrap=True)

    yield step
    console.print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {command}: done in "
                  f"{duration(clock.elapsed())}", markup=False, highlight=False, soft_wrap=True)


class _Times(ProgressColumn):
    """'1 min 40 s elapsed, about 3 min left', kept current between steps."""

    def __init__(self, clock: Clock):
        super().__init__()
        self.clock = clock

    def render(self, task: Task) -> Text:
        text = f"{duration(self.clock.elapsed())} elapsed"
        left, since = task.fields.get("left"), task.fields.get("since")
        if left is not None:
            text += f", about {about(max(0.0, left - (self.clock.elapsed() - since)))} left"
        return Text(text, style="progress.elapsed")


@contextmanager
def _bars(command: str, console: Console, clock: Clock) -> Iterator[Step]:
    columns = (SpinnerColumn(), TextColumn(f"{command}: {{task.description}}"), BarColumn(),
               TextColumn("{task.fields[count]}"), _Times(clock))
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task("starting", total=None, count="", left=None, since=0.0)

        def step(message: str, at: tuple[int, int] | None = None) -> None:
            _, left = clock.read(at)
            bars.update(task, description=message, total=at and at[1],
                        completed=at[0] - 1 if at else 0, count=f"{at[0]}/{at[1]}" if at else "",
                        left=left, since=clock.elapsed())

        yield step

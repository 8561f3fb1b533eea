"""Progress bars for long work, silenced by ``hepgen --quiet`` (or :func:`set_quiet`).

>>> set_quiet(True)
>>> sum(track(range(3), description="adding"))
3
"""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

__all__ = ["track", "set_quiet", "is_quiet", "status", "ProgressBar"]

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Switch progress bars and status messages off (True) or on."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    return _QUIET


def track(iterable: Iterable[T], total: float | None = None, description: str = "working") -> Iterator[T]:
    """Iterate with a rich progress bar (time elapsed and remaining) unless quiet."""
    if _QUIET:
        yield from iterable
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    from rich.console import Console

    with Progress(*columns, transient=False, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total if total is not None else _len(iterable))
        for item in iterable:
            yield item
            bar.advance(task)


def _len(obj: object) -> float | None:
    try:
        return float(len(obj))  # type: ignore[arg-type]
    except TypeError:
        return None


def warn(message: str) -> None:
    """Print ``hepgen: warning: <message>`` to stderr (also when quiet: a warning is not progress)."""
    import sys

    print(f"hepgen: warning: {message}", file=sys.stderr)


def status(message: str) -> None:
    """Print a one-line status message to stderr unless quiet."""
    if not _QUIET:
        from rich.console import Console

        Console(stderr=True).print(message)


class ProgressBar:
    """A progress bar advanced by hand (e.g. by showers written), silent when quiet.

    >>> set_quiet(True)
    >>> with ProgressBar(total=10, description="simulating") as bar:
    ...     bar.advance(10)
    """

    def __init__(self, total: float | None, description: str = "working", completed: float = 0) -> None:
        self.total, self.description, self.completed = total, description, completed
        self._progress = None

    def __enter__(self) -> "ProgressBar":
        if not _QUIET:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                                      console=Console(stderr=True))
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, completed=self.completed)
        return self

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def describe(self, description: str) -> None:
        """Change the text in front of the bar (e.g. rates measured so far)."""
        self.description = description
        if self._progress is not None:
            self._progress.update(self._task, description=description)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

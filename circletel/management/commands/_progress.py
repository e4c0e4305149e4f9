"""Progress for long commands (underscore: not a command itself).

Shown only when the command's stdout is a terminal: cron mail, pipes, logs and tests get the summary line(s)
alone. Two kinds:

    with progress_bar(self, total=count, desc="invoices") as bar:   # the command walks the items itself
        for ...: bar.update(1)

    with Ticker(self, "Invoicing 120 due services"):                  # one service call does the work
        result = invoice_run(...)

A ticker redraws one line ("Invoicing 120 due services... 14s") every second until the call returns, then
clears it, so a long run is visibly alive without the service having to report per item.
"""

from __future__ import annotations

import threading
import time


def _stream(out):
    return getattr(out, "_out", out)  # Django's OutputWrapper keeps the real stream in `_out`


def is_terminal(out) -> bool:
    """Whether `out` (a stream or a command's `self.stdout`) is a terminal."""
    isatty = getattr(_stream(out), "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed stream
        return False


def progress_bar(command, *, total: int | None = None, desc: str = "", unit: str = "row", disable: bool = False,
                 iterable=None):
    """A tqdm bar on the command's stdout, disabled (a no-op with the same methods) off a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=_stream(command.stdout), dynamic_ncols=True,
                leave=False, disable=disable or not is_terminal(command.stdout))


class Ticker:
    """A one-line "what, how long so far" display on a terminal while a single call does the work."""

    def __init__(self, command, label: str, *, interval: float = 1.0, disable: bool = False):
        self.out = _stream(command.stdout)
        self.label = label
        self.interval = interval
        self.enabled = not disable and is_terminal(command.stdout)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _draw(self) -> None:
        line = f"{self.label}... {int(self.elapsed)}s"
        self._width = max(self._width, len(line))
        self.out.write("\r" + line.ljust(self._width))
        self.out.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def __enter__(self):
        self.started = time.monotonic()
        if self.enabled:
            self._draw()
            self._thread = threading.Thread(target=self._run, name="command-ticker", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.out.write("\r" + " " * self._width + "\r")
            self.out.flush()
        return None

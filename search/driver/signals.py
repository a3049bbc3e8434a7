"""SIGTERM and Ctrl+C stop a command at any moment with exit 143 / 130 and no traceback.

The first signal raises KeyboardInterrupt in the main thread; later ones (a process group
signalled as a whole, a second Ctrl+C) are only noted, so the cleanup that follows (Ray's
shutdown, the last upload) and the final line are not cut short by a second exception.
Which signal came is remembered here: Ray turns an exception raised inside its waits into a
plain KeyboardInterrupt, so the exception's type cannot tell SIGTERM from Ctrl+C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

EXIT_CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}  # as a shell reports those signals


class StopSignals:
    """Handlers for SIGTERM and SIGINT; `first` is the signal that stopped the command."""

    def __init__(self) -> None:
        self.first: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """Signal handler: raise KeyboardInterrupt on the first signal only."""
        if self.first is None:
            self.first = signum
            raise KeyboardInterrupt

    @property
    def terminated(self) -> bool:
        """Whether SIGTERM (not Ctrl+C) stopped the command."""
        return self.first == signal.SIGTERM

    @property
    def exit_code(self) -> int:
        """143 after SIGTERM, else 130 (Ctrl+C, or a KeyboardInterrupt raised another way)."""
        return EXIT_CODES.get(self.first, 130)  # type: ignore[arg-type]

    @property
    def word(self) -> str:
        """'terminated' or 'interrupted', for the final line."""
        return "terminated" if self.terminated else "interrupted"


@contextlib.contextmanager
def stop_signals() -> Iterator[StopSignals]:
    """Install the handlers while the block runs (main thread only; else nothing changes)."""
    stop = StopSignals()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop.handle) for s in EXIT_CODES}
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

"""Ctrl-C while the audio stack loads.

The audio stack (numpy, scipy, soxr, soundfile...) is imported only when there is audio work, so
a Ctrl-C can land in the middle of that import; the places that import it do so inside held().
"""

from __future__ import annotations

import signal
from contextlib import contextmanager


@contextmanager
def held():
    """Ctrl-C held until the block ends, then raised as usual. Loading the audio stack runs
    extension modules' initialisation, and some of it loses a KeyboardInterrupt raised inside
    (Cython's `except: pass` around registering memoryviews with collections.abc, numpy's
    ctypes check clears any error) or aborts on it (nanobind: "terminate called after throwing
    an instance of 'nanobind::python_error'"): the build went on as if nothing was pressed,
    or died of SIGABRT with a traceback."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except ValueError:  # not the main thread: the signal is not this thread's to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
        if caught:
            signal.raise_signal(signal.SIGINT)  # the handler restored handles it (Ctrl-C: 130)

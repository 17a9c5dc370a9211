"""Drawing the episode pages: skipped when current, shared out to forked workers when many.

Drawing pages is most of a first publish's work. Each page records a digest of its inputs, so
an unchanged one is not drawn again; when many must be (a first publish), forked worker
processes draw them while the publishing process makes the feed.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.pool import Pool
from pathlib import Path

from pipeline.files import write_bytes
from pipeline.publish.episodes import Episode
from pipeline.publish.site import episode_page
from pipeline.show import Show

PARALLEL_PAGES = 100  # pages to draw before worker processes repay starting them
PAGES_PER_JOB = 25  # pages a worker draws per job: small enough to share the work out evenly


def page_key(episode: Episode, show_key: bytes) -> str:
    """A digest of what an episode's page is drawn from: the show, the report, the design.
    The report counts by the digest of its file where publish read one (a report's repr is
    hundreds of transcript lines long)."""
    inputs = (episode.slug + "\0" + episode.digest).encode() if episode.digest else \
        repr((episode.slug, episode.report)).encode()
    return hashlib.sha256(show_key + inputs).hexdigest()[:32]


def page_current(path: Path, key: str) -> bool:
    try:
        with open(path, "rb") as page:
            return f"<!-- podforge inputs {key} -->".encode() in page.read(256)
    except FileNotFoundError:
        return False


def draw_pages(show: Show, pages: Sequence[tuple[Path, Episode, str]]) -> int:
    """Draw and write episode pages (path, episode, key); run in a worker or in this process."""
    for path, episode, key in pages:
        path.parent.mkdir(exist_ok=True)
        write_bytes(path, episode_page(show, episode, key).encode())
    return len(pages)


class Later:
    """A job for this process, run when its result is asked for: AsyncResult's stand-in."""

    def __init__(self, fn: Callable, *args) -> None:
        self.fn, self.args = fn, args

    def get(self):
        return self.fn(*self.args)


def start(pool: Pool | None, fn: Callable, *args):
    """fn(*args) in a worker if there is a pool, else later here; .get() gives the result."""
    return pool.apply_async(fn, args) if pool is not None else Later(fn, *args)


@contextmanager
def workers(pages: int) -> Iterator[Pool | None]:
    """Worker processes to draw `pages` pages, or None when this process should draw them.

    Drawing is Python-bound, so threads would not help; forked processes start in
    milliseconds with everything imported. Only where fork is safe (not macOS, not from a
    process that already runs threads) and only for enough pages to repay it. On the way out,
    even after an error, the workers finish what they began: no page is left half written.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    count = min(cpus or 1, 8, -(-pages // PAGES_PER_JOB))
    pool = None
    if pages >= PARALLEL_PAGES and count >= 2 and sys.platform != "darwin" and \
            "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1:
        try:
            pool = multiprocessing.get_context("fork").Pool(count, _ignore_interrupts)
        except OSError:  # no processes to be had: draw them here
            pool = None
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def _ignore_interrupts() -> None:
    """In a worker: Ctrl-C is the publishing process's to handle (it waits for the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

"""The drawn cover's cost: the lettered 1400 px cover against the same design with no title.

    .venv/bin/python bench/bench_cover.py [--repeat 5]

Both are drawn in this run, best of --repeat, so the ratio says what the lettering adds
whatever the machine; the 600 px (the MP3's APIC) and 300 px (thumbnail) sizes are shown too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.publish.artwork import cover_art, title_lettering  # noqa: E402

TITLES = ("The Daybook", "Tales from the Quiet Coast: Stories of 1998 & Beyond",
          " ".join(["Word"] * 60))


def best(repeat: int, work) -> float:
    """The fastest of `repeat` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    cover_art("warm up", 300)
    for size in (1400, 600, 300):
        bare = best(repeat, lambda: cover_art("", size))
        print(f"{size} px, no title (reference): {bare * 1000:7.1f} ms")
        for title in TITLES:
            whole = best(repeat, lambda: cover_art(title, size))
            letters = best(repeat, lambda: title_lettering(title, size))
            print(f"  {title[:40]!r:44} {whole * 1000:7.1f} ms  ×{whole / bare:4.2f} of the "
                  f"reference (lettering alone {letters * 1000:6.1f} ms)")


if __name__ == "__main__":
    main()

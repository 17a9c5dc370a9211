"""Validate 1,000 scripts and compare with the floor any line linter pays (read + one regex pass).

    .venv/bin/python bench/bench_validate.py [N]

Prints podforge's time, the reference's, their ratio, the ratio to the 2 s target, and a
linearity check (one script ten times longer should cost about ten times as much).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.script.parse import parse  # noqa: E402
from pipeline.project import check_scripts, open_project  # noqa: E402


def catalogue(folder: Path, n: int) -> None:
    """n scripts: the example episodes, renamed and varied so no cache can help."""
    sources = sorted((ROOT / "episodes").glob("*/script.txt"))
    texts = [p.read_text(encoding="utf-8") for p in sources]
    for i in range(n):
        episode = folder / "episodes" / f"episode-{i:04d}"
        episode.mkdir(parents=True)
        text = texts[i % len(texts)].replace("Act Two", "Act Two" if i % 7 else "Act 2")
        (episode / "script.txt").write_text(text + f"\n\nProduced by Guest Number{i}.\n",
                                            encoding="utf-8")
    (folder / "show.yaml").write_text((ROOT / "show.yaml").read_text(encoding="utf-8")
                                      .replace("assets/manifest.yaml",
                                               str(ROOT / "assets" / "manifest.yaml")),
                                      encoding="utf-8")


def reference(paths: list[Path]) -> int:
    """Read, decode and scan every line once: the least a line-based linter does."""
    pattern, hits = re.compile(r"^(?:Act \w+|Cold Open|\[\w+)"), 0
    for path in paths:
        for line in path.read_bytes().decode("utf-8").splitlines():
            hits += bool(pattern.match(line))
    return hits


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalogue(folder, n)
        project = open_project(folder)
        paths = sorted(folder.glob("episodes/*/script.txt"))
        t_ref, _ = timed(reference, paths)
        t_ours, check = timed(check_scripts, [], project)
    print(f"validate {check.files} scripts: {t_ours:.3f} s "
          f"({len(check.diagnostics)} diagnostics)")
    print(f"reference (read + one regex pass): {t_ref:.3f} s")
    print(f"ratio podforge/reference: {t_ours / t_ref:.1f}x")
    print(f"ratio to the 2 s target: {t_ours / 2.0:.2f} (below 1 meets it)")
    text = (ROOT / "episodes" / "great-molasses-flood" / "script.txt").read_text(encoding="utf-8")
    body = text.split("Cold Open", 1)[1]
    long_text = text + "".join(f"\n\nAct {k}: More\n" + body for k in range(4, 13))
    t1, _ = timed(lambda: [parse(text) for _ in range(20)])
    t10, _ = timed(lambda: [parse(long_text) for _ in range(20)])
    print(f"linearity: a script {len(long_text) / len(text):.1f}x longer parses "
          f"{t10 / t1:.1f}x slower")


if __name__ == "__main__":
    main()

"""The build cache's pruning: unused entries, then least recently used past the size limit;
never an entry in use right now; files vanishing under it are no error."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pipeline.build.cache import entries, remove, to_remove, touch


def entry(cache: Path, name: str, size: int, age: float, *suffixes: str) -> None:
    folder = cache / "pieces" if name.startswith("pieces/") else cache
    folder.mkdir(parents=True, exist_ok=True)
    stem = name.split("/")[-1]
    for suffix in suffixes or (".bin",):
        path = folder / f"{stem}{suffix}"
        path.write_bytes(bytes(size))
        then = time.time() - age
        os.utime(path, (then, then))


def test_entries_group_files_by_key_least_recently_used_first(tmp_path: Path):
    entry(tmp_path, "narration-a", 100, 50, ".flac", ".npy", ".json")
    entry(tmp_path, "pieces/b", 10, 500, ".mp3frames", ".m.npy")
    entry(tmp_path, "master-c", 5, 5, ".json")
    (tmp_path / "hashes.json").write_text("{}")
    (tmp_path / ".x.tmp").write_bytes(b"1")
    found = entries(tmp_path)
    assert [(e.name, e.size, len(e.files)) for e in found] == [
        ("pieces/b", 20, 2), ("narration-a", 300, 3), ("master-c", 5, 1)]
    touch(*found[0].files)
    assert entries(tmp_path)[-1].name == "pieces/b"


def test_unused_go_first_then_the_least_recently_used_beyond_the_limit(tmp_path: Path):
    entry(tmp_path, "narration-old", 1000, 9000)
    entry(tmp_path, "pieces/unused", 1000, 7000)
    entry(tmp_path, "pieces/used-old", 1000, 8000)
    entry(tmp_path, "pieces/used-new", 1000, 4000)
    entry(tmp_path, "master-now", 1000, 10)  # a running build's: never
    used = {"narration-old", "pieces/used-old", "pieces/used-new", "master-now"}
    found = entries(tmp_path)
    now = time.time()
    assert [e.name for e in to_remove(found, used, 10_000, now, 3600)] == ["pieces/unused"]
    assert [e.name for e in to_remove(found, used, 2500, now, 3600)] == [
        "pieces/unused", "narration-old", "pieces/used-old"]
    assert [e.name for e in to_remove(found, used, 0, now, 3600)] == [
        "pieces/unused", "narration-old", "pieces/used-old", "pieces/used-new"]


def test_removing_what_another_build_already_removed_is_no_error(tmp_path: Path):
    entry(tmp_path, "pieces/a", 10, 100, ".mp3frames", ".m.npy")
    found = entries(tmp_path)
    found[0].files[0].unlink()  # pruned by a concurrent build meanwhile
    assert remove(found) == 10
    assert entries(tmp_path) == []


def test_a_killed_build_s_working_folder_is_removed_a_running_one_s_kept(tmp_path: Path):
    import subprocess
    import sys

    from pipeline.build.cache import abandoned

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = tmp_path / f"work-{int(gone.stdout)}"
    live = tmp_path / f"work-{os.getpid()}"
    other = tmp_path / "work-notes"
    for folder in (dead, live, other):
        (folder / "inner").mkdir(parents=True)
        (folder / "inner" / "mix.f32").write_bytes(bytes(100))
    assert abandoned(tmp_path) == [dead]
    assert not dead.exists() and live.is_dir() and other.is_dir()

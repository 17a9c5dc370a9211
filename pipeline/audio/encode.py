"""The ffmpeg edge: float PCM in, a constant-bitrate MP3 out, and never a half-written file.

The encoder reads raw float32 from a pipe, so the mix is never written to disk as WAV, and it
writes to a hidden temporary file beside the target that only replaces the target once ffmpeg has
succeeded (and the tags are in). A pump thread feeds the pipe from a small queue, so numpy work on
the next block overlaps with ffmpeg draining the last one.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from types import TracebackType

import numpy as np

from pipeline.errors import EncoderError

StrPath = str | os.PathLike[str]

_PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size; 16x the default pipe
_QUEUE_BLOCKS = 8  # in flight between the caller and ffmpeg: bounds memory, allows overlap
_STDERR_TAIL = 2000


_CHECKED: dict[str, str | None] = {}  # ffmpeg path → why it cannot be used (None: it works)


def _broken(path: str) -> str | None:
    """Run `ffmpeg -version` once per binary and process: None if it answers like ffmpeg."""
    if path not in _CHECKED:
        try:
            done = subprocess.run([path, "-hide_banner", "-version"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=20)
            ok = done.returncode == 0 and done.stdout.startswith(b"ffmpeg version")
            _CHECKED[path] = None if ok else (
                f"`{path} -version` exited with status {done.returncode}"
                + (f": {done.stderr.decode(errors='replace').strip()[-200:]}" if done.stderr
                   else "") if done.returncode else f"{path} does not answer like ffmpeg")
        except (OSError, subprocess.SubprocessError) as err:
            _CHECKED[path] = f"{path} cannot run ({getattr(err, 'strerror', None) or err})"
    return _CHECKED[path]


def find_ffmpeg() -> str:
    """$PODFORGE_FFMPEG, else a working ffmpeg on PATH, else the binary imageio-ffmpeg ships.

    Each candidate is run once (`-version`) before any work, so a broken ffmpeg on PATH is
    passed over for the bundled one instead of failing after the whole mix.
    """
    if chosen := os.environ.get("PODFORGE_FFMPEG"):
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise EncoderError(f"PODFORGE_FFMPEG={chosen} is not an executable file; "
                               "fix the path or unset it")
        if problem := _broken(chosen):
            raise EncoderError(f"PODFORGE_FFMPEG={chosen} does not work ({problem}); "
                               "fix it or unset it")
        return chosen
    skipped = []
    if (found := shutil.which("ffmpeg")):
        if not (problem := _broken(found)):
            return found
        skipped.append(problem)
    try:
        import imageio_ffmpeg

        bundled = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        bundled = None
    if bundled and not (problem := _broken(bundled)):
        return bundled
    if bundled:
        skipped.append(problem)
    raise EncoderError((f"no working ffmpeg found ({'; '.join(skipped)})" if skipped else
                        "no ffmpeg found")
                       + ": install one on PATH or `pip install imageio-ffmpeg`, "
                       "or set PODFORGE_FFMPEG")


def _mp3_args(rate: int, channels: int, bitrate_kbps: int, *, xing: bool = True,
              reservoir: bool = True) -> list[str]:
    # CBR (libmp3lame's default with -b:a); the Info header carries the frame count and LAME's
    # encoder delay, so players report the duration exactly and decoders trim the padding.
    # No ID3 from ffmpeg: pipeline.tags writes the one tag. pipeline.mp3frames encodes pieces
    # with xing=False (bare frames: it writes the one header itself) and reservoir=False (no
    # frame borrows bits from a frame before it, so frames can be cut out and joined).
    return ["-ar", str(rate), "-ac", str(channels),
            "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k",
            *([] if reservoir else ["-reservoir", "0"]),
            "-write_xing", "1" if xing else "0", "-id3v2_version", "0", "-write_id3v1", "0",
            "-f", "mp3"]


class Mp3Writer:
    """Stream (frames, channels) float32 blocks into an MP3 at `path`, atomically.

    Leaving the `with` block normally waits for ffmpeg, runs before_commit(temp_path) (to tag the
    file while it is still hidden) and renames the file into place; an exception, or abort(),
    kills ffmpeg and deletes the temporary file, leaving `path` as it was. `ffmpeg` is the binary
    to run (default: find_ffmpeg()).
    """

    def __init__(self, path: StrPath, rate: int, channels: int, bitrate_kbps: int = 128, *,
                 before_commit: Callable[[str], None] | None = None, ffmpeg: str | None = None):
        self.path = os.fspath(path)
        self.rate, self.channels = rate, channels
        self.frames = 0
        self._before_commit = before_commit
        ffmpeg = self.ffmpeg = ffmpeg or find_ffmpeg()
        try:
            self.temp_path = _hidden_sibling(self.path)
        except OSError as e:
            raise EncoderError(f"cannot write {self.path}: {e.strerror}; "
                               "check that its folder exists and is writable") from None
        self._stderr = tempfile.TemporaryFile()
        cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "f32le", "-ar", str(rate), "-ac", str(channels), "-i", "pipe:0",
               *_mp3_args(rate, channels, bitrate_kbps), self.temp_path]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr)
        except OSError as e:
            self._discard()
            raise EncoderError(f"cannot start ffmpeg ({cmd[0]}): {e.strerror}") from None
        _widen(self._proc.stdin)
        self._queue: queue.Queue[bytes | None] = queue.Queue(_QUEUE_BLOCKS)
        self._failure: OSError | None = None
        self._pump = threading.Thread(target=self._feed, name="mp3-pump", daemon=True)
        self._pump.start()
        self._open = True

    def __enter__(self) -> Mp3Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def write(self, block: np.ndarray) -> None:
        """Queue one block; blocks only while ffmpeg is _QUEUE_BLOCKS behind."""
        if not self._open:
            raise ValueError("write to a closed Mp3Writer")
        samples = np.asarray(block).reshape(len(block), -1)
        if samples.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels, got {samples.shape[1]}")
        if self._failure is not None:
            self._stop(kill=True)
            error = self._error("stopped reading")
            self._discard()
            raise error
        self._queue.put(samples.astype("<f4", order="C").tobytes())  # a copy the caller can't touch
        self.frames += len(samples)

    def close(self) -> None:
        """Finish the MP3 and move it to `path`, or raise EncoderError and leave nothing behind."""
        if not self._open:
            return
        self._stop(kill=False)
        if self._proc.returncode != 0 or self._failure is not None:
            code = self._proc.returncode
            error = self._error(f"exited with status {code}" if code else "stopped reading")
            self._discard()
            raise error
        try:
            if self._before_commit is not None:
                self._before_commit(self.temp_path)
            os.replace(self.temp_path, self.path)
        except BaseException:
            self._discard()
            raise
        self._stderr.close()

    def abort(self) -> None:
        """Stop ffmpeg and delete the temporary file; `path` is untouched."""
        self._stop(kill=True)
        self._discard()

    def _stop(self, *, kill: bool) -> None:
        """End the pump, then ffmpeg: by closing its input (it finishes the file) or by kill."""
        if not self._open:
            return
        self._open = False
        if kill:
            self._proc.kill()
        self._queue.put(None)  # the pump drains the queue, so this cannot block for long
        self._pump.join()
        try:
            self._proc.stdin.close()
        except OSError:
            pass  # ffmpeg is gone: its exit status says why
        self._proc.wait()

    def _feed(self) -> None:
        # Keeps draining after a failure, so a caller blocked on a full queue is always released.
        while (chunk := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._proc.stdin.write(chunk)
                except OSError as e:  # BrokenPipeError: ffmpeg died
                    self._failure = e

    def _error(self, what: str) -> EncoderError:
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip()[-_STDERR_TAIL:]
        return EncoderError(f"ffmpeg ({self.ffmpeg}) {what} while encoding {self.path}"
                            + (f":\n{tail}" if tail else ""))

    def _discard(self) -> None:
        self._stderr.close()
        try:
            os.unlink(self.temp_path)
        except FileNotFoundError:
            pass


def _hidden_sibling(path: str) -> str:
    """Create `.{name}.tmp-XXXXXXXX.mp3` beside path: same filesystem, so the rename is atomic.

    Not mkstemp: its 0600 mode would follow the file into place and hide it from a web server.
    """
    folder, name = os.path.split(os.path.abspath(path))
    while True:
        temp = os.path.join(folder, f".{name}.tmp-{secrets.token_hex(4)}.mp3")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temp
        except FileExistsError:
            continue


def _widen(pipe) -> None:
    """Give the pipe a 1 MiB buffer (Linux) so ffmpeg and the caller stall each other less."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or a lower pipe-max-size: the default pipe still works


def encode_wav(wav_path: StrPath, mp3_path: StrPath, rate: int, channels: int,
               bitrate_kbps: int = 128, *, ffmpeg: str | None = None) -> None:
    """ffmpeg's own WAV-to-MP3 encode with Mp3Writer's settings: the benchmark's reference."""
    cmd = [ffmpeg or find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-i", os.fspath(wav_path), *_mp3_args(rate, channels, bitrate_kbps), os.fspath(mp3_path)]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip()[-_STDERR_TAIL:]
        raise EncoderError(f"ffmpeg exited with status {done.returncode} while encoding "
                           f"{os.fspath(wav_path)}:\n{tail}")

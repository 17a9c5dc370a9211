"""`podforge serve`: preview the published folder the way a web host would serve it.

Python's http.server ignores Range requests, and browsers seek audio with them: a player
served without them cannot jump to a chapter. This handler answers a single byte range
(206 Partial Content) and names podcast files' types, so the preview behaves like the real host.
Bound to localhost unless told otherwise: it is a preview, not a web server.
"""

from __future__ import annotations

import os
import re
import sys
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pipeline.errors import PublishError

TYPES = {
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/rss+xml",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
}

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(Exception):
    """The range lies wholly past the end of the file: answer 416."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte a Range header asks for; None to send the whole file.

    Only one range is honoured; several, or a malformed header, are ignored as RFC 9110
    allows, and the whole file is sent.
    """
    m = _RANGE.match(header or "")
    if not m or m[1] == m[2] == "":
        return None
    if m[1] == "":  # "-n": the last n bytes
        if int(m[2]) == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - int(m[2])), size - 1
    first = int(m[1])
    last = int(m[2]) if m[2] else size - 1
    if m[2] and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


class PreviewHandler(SimpleHTTPRequestHandler):
    """Static files with byte ranges and podcast content types."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}
    _left: int | None = None  # bytes of the range still to send; None: the whole file

    def send_head(self):
        path = self.translate_path(self.path)
        self._left = None
        if not os.path.isfile(path) or self.path.split("?")[0].endswith("/"):
            return super().send_head()  # folders, index pages, 404s
        try:
            handle = open(path, "rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        stat = os.fstat(handle.fileno())
        try:
            span = byte_range(self.headers.get("Range"), stat.st_size)
        except RangeNotSatisfiable:
            handle.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{stat.st_size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        first, last = span or (0, stat.st_size - 1)
        self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(last - first + 1))
        if span:
            self.send_header("Content-Range", f"bytes {first}-{last}/{stat.st_size}")
        self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
        self.end_headers()
        handle.seek(first)
        self._left = last - first + 1
        return handle

    def copyfile(self, source, outputfile) -> None:
        if self._left is None:
            return super().copyfile(source, outputfile)
        left = self._left
        while left > 0:
            chunk = source.read(min(left, 1 << 16))
            if not chunk:
                break
            outputfile.write(chunk)
            left -= len(chunk)


def make_server(directory: Path | str, host: str = "127.0.0.1",
                port: int = 8000) -> ThreadingHTTPServer:
    """A server for `directory`, bound but not yet serving (port 0 picks a free port)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PublishError(f"{directory}: no such folder; run podforge publish first")
    try:
        return ThreadingHTTPServer((host, port), partial(PreviewHandler,
                                                         directory=str(directory)))
    except OSError as err:
        raise PublishError(f"cannot listen on {host}:{port}: {err.strerror}; "
                           f"pass --port with another number") from None


def serve(directory: Path | str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `directory` until interrupted (Ctrl-C)."""
    server = make_server(directory, host, port)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    print(f"Serving {directory} at http://{shown}:{bound_port}/ (Ctrl-C to stop)",
          file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

"""`podforge serve`: preview the published folder the way a web host would serve it.

Python's http.server ignores Range requests, and browsers seek audio with them: a player
served without them cannot jump to a chapter. This handler answers a single byte range
(206 Partial Content) and names podcast files' types, so the preview behaves like the real host.

The preview tells the truth: feed.xml and the pages name the public base URL, which does not
serve these files yet, so they are rewritten on the way out to name the preview's own address
(from the request's Host), and a podcast app subscribed to the preview plays its enclosures.
Chapters and transcripts carry `Access-Control-Allow-Origin: *`, as web players need; a path
with a NUL is a 400; nothing outside the folder is served, not even through a symlink.
Bound to localhost unless told otherwise: it is a preview, not a web server.
"""

from __future__ import annotations

import io
import os
import re
import sys
import xml.etree.ElementTree as ET
from functools import partial
from html import escape
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipeline.errors import PublishError

ATOM = "{http://www.w3.org/2005/Atom}link"
SHARED = {".vtt", ".srt", ".json", ".xml"}  # fetched by web players from other origins
REWRITTEN = {".xml", ".html"}  # name the base URL: served with the preview's address instead
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

TYPES = {
    ".mp3": "audio/mpeg",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json+chapters",  # the published folder's JSON is chapters
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


def public_base(feed: bytes) -> str | None:
    """The base URL a published feed names (its atom:link rel=self, less feed.xml)."""
    try:
        channel = ET.fromstring(feed).find("channel")
    except ET.ParseError:
        return None
    for link in channel.iter(ATOM) if channel is not None else ():
        if link.get("rel") == "self" and (href := link.get("href") or "").endswith("feed.xml"):
            return href[:-len("feed.xml")]
    return None


def rewrite(data: bytes, public: str, preview: str) -> bytes:
    """`data` with the public base URL (raw and as escaped markup) replaced by the preview's."""
    for old, new in ((public, preview), (escape(public), escape(preview))):
        data = data.replace(old.encode(), new.encode())
    return data


class PreviewHandler(SimpleHTTPRequestHandler):
    """Static files with byte ranges, podcast content types and the preview's own URLs."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **TYPES}
    _left: int | None = None  # bytes of the range still to send; None: the whole file

    def _preview_base(self) -> str:
        host = self.headers.get("Host", "")
        if not _HOST.match(host):
            bound, port = self.server.server_address[:2]
            host = f"[{bound}]:{port}" if ":" in str(bound) else f"{bound}:{port}"
        return f"http://{host}/"

    def _inside(self, path: str) -> bool:
        """The real file is in the served folder (a symlink may not lead out of it)."""
        root = os.path.realpath(self.directory)
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    def end_headers(self) -> None:
        if os.path.splitext(urlsplit(self.path).path)[1].lower() in SHARED:
            self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def send_head(self):
        self._left = None
        if "\x00" in unquote(urlsplit(self.path).path):
            self.send_error(HTTPStatus.BAD_REQUEST, "A path may not hold a NUL")
            return None
        path = self.translate_path(self.path)
        if not self._inside(path):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if os.path.isdir(path) and self.path.split("?")[0].endswith("/") and \
                os.path.isfile(os.path.join(path, "index.html")):
            path = os.path.join(path, "index.html")
        elif not os.path.isfile(path) or self.path.split("?")[0].endswith("/"):
            return super().send_head()  # folders without a page, redirects, 404s
        if not self._inside(path):
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if os.path.splitext(path)[1] in REWRITTEN:
            return self._rewritten(path)
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

    def _rewritten(self, path: str):
        """feed.xml or a page, naming the preview's address where it names the public one."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            with open(os.path.join(self.directory, "feed.xml"), "rb") as handle:
                public = public_base(handle.read())
        except FileNotFoundError:
            public = None
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        if public:
            data = rewrite(data, public, self._preview_base())
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return io.BytesIO(data)

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
    print(f"Serving {directory} at http://{shown}:{bound_port}/ (Ctrl-C to stop); subscribe "
          f"to http://{shown}:{bound_port}/feed.xml: its URLs are rewritten to this preview",
          file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

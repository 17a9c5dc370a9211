"""Publish to S3-compatible object storage: the folder `podforge publish` wrote, synced to a bucket.

The live feed is whatever feed.xml the bucket holds, so the sync treats feed.xml as its commit
point: every media file, companion and page is uploaded and verified (HEAD: size and ETag) first,
feed.xml last. A failure before that leaves the listeners' feed as it was. Change is detected
from a small state object (`<prefix>.podforge/state.json`: each key's size, ETag and sha256 as
the last sync left it), so an unchanged catalogue costs one GET and uploads nothing; without a
state (a first sync, a lost state) or when asked to verify, a listing of the prefix is used. Objects nothing references any more stay for a grace period (a
podcast app may still hold a URL to them), and `prune` removes them once it has passed.

Media under a content-derived name (`<stem>-<sha256[:12]>.<ext>`, see media_key) are cached
forever: such a key never serves other bytes. Everything else gets a short max-age.

Credentials and endpoint come from the standard AWS_* variables, which boto3 reads itself.
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime as dt
import hashlib
import json
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.errors import PublishError
from pipeline.progress import Progress
from pipeline.publish.output import content_name

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"
GRACE = dt.timedelta(days=7)
LOCK_STALE = dt.timedelta(minutes=30)
STATE_DIR = ".podforge/"
STATE_VERSION = 1
WORKERS = 8  # uploads in flight at once: latency-bound, not CPU-bound
CHUNK = 1 << 20

CONTENT_TYPES = {
    ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".xml": "application/rss+xml",
    ".vtt": "text/vtt", ".srt": "application/x-subrip", ".json": "application/json",
    ".html": "text/html; charset=utf-8", ".css": "text/css",
    ".js": "application/javascript", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg", ".txt": "text/plain; charset=utf-8",
}
MEDIA = {".mp3", ".m4a", ".png", ".jpg", ".jpeg"}  # big, and named by content when they can be
COMPANIONS = {".json", ".vtt", ".srt"}  # what the feed's items point to beside the audio
_HASHED = re.compile(r"-([0-9a-f]{12})\.[A-Za-z0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


# ---------------------------------------------------------------- the pure core


@dataclass(frozen=True)
class Target:
    """Where in object storage the published folder goes: s3://BUCKET[/PREFIX]."""

    bucket: str
    prefix: str = ""  # "" or "some/path/"

    def key(self, relative: str) -> str:
        return self.prefix + relative

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def state_key(self) -> str:
        return self.prefix + STATE_DIR + "state.json"

    @property
    def lock_key(self) -> str:
        return self.prefix + STATE_DIR + "lock"


def parse_target(text: str) -> Target:
    """`s3://BUCKET[/PREFIX]` → Target; anything else is a PublishError saying what to write."""
    example = "write it as s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://my-show/podcast"
    if not text.startswith("s3://"):
        raise PublishError(f"--to {text!r}: not an s3:// target; {example}")
    bucket, _, prefix = text[len("s3://"):].partition("/")
    if not bucket:
        raise PublishError(f"--to {text!r}: no bucket name; {example}")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise PublishError(f"--to {text!r}: {bucket!r} is not a valid bucket name (3-63 "
                           f"lowercase letters, digits, dots and hyphens); {example}")
    if any(c in text for c in "?#\\") or any(ord(c) < 32 for c in text):
        raise PublishError(f"--to {text!r}: a target holds no query, fragment, backslash or "
                           f"control character; {example}")
    prefix = prefix.strip("/")
    parts = prefix.split("/") if prefix else []
    if any(p in ("", ".", "..") for p in parts):
        raise PublishError(f"--to {text!r}: the prefix {prefix!r} has an empty, '.' or '..' "
                           f"part; {example}")
    return Target(bucket, prefix + "/" if prefix else "")


def content_type(name: str) -> str:
    """The Content-Type a podcast app or browser expects for a published file."""
    lower = name.lower()
    if lower.endswith("chapters.json"):
        return "application/json+chapters"  # Podcasting 2.0 JSON chapters
    return CONTENT_TYPES.get(PurePosixPath(lower).suffix, "application/octet-stream")


def media_key(slug: str, name: str, data: bytes) -> str:
    """The immutable key (relative to the target's prefix) of an episode's media file.

    `media_key("tunguska", "tunguska.mp3", mp3)` → `tunguska/tunguska-1a2b3c4d5e6f.mp3`. publish
    names the file this way in the folder and in the enclosure URL; the sync uploads it there
    and, seeing the name match the bytes, caches it forever.
    """
    return f"{slug}/{content_name(name, hashlib.sha256(data).hexdigest())}"


def is_content_named(relative: str, sha256: str) -> bool:
    """Whether the file's name carries its own bytes' digest (so its key is immutable)."""
    found = _HASHED.search(relative)
    return bool(found) and found.group(1) == sha256[:12]


@dataclass(frozen=True)
class LocalFile:
    relative: str  # posix path inside the folder: the key without the prefix
    path: Path
    size: int
    sha256: str
    md5: str

    @property
    def kind(self) -> str:
        """Upload order: media, companions, pages; the feed last."""
        suffix = PurePosixPath(self.relative).suffix.lower()
        if self.relative == "feed.xml":
            return "feed"
        return "media" if suffix in MEDIA else "companion" if suffix in COMPANIONS else "page"

    @property
    def cache_control(self) -> str:
        immutable = self.kind == "media" and is_content_named(self.relative, self.sha256)
        return IMMUTABLE if immutable else SHORT


@dataclass(frozen=True)
class Remote:
    """An object as the listing shows it."""

    key: str
    size: int
    etag: str  # without quotes


@dataclass(frozen=True)
class State:
    """What the bucket's state object remembers between syncs."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # key → sha256, etag, size
    unreferenced: dict[str, str] = field(default_factory=dict)  # key → ISO time it was dropped

    def as_json(self) -> bytes:
        return json.dumps({"version": STATE_VERSION, "objects": self.objects,
                           "unreferenced": self.unreferenced}, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | None) -> State:
        if not data:
            return cls()
        try:
            value = json.loads(data)
            return cls(dict(value.get("objects") or {}), dict(value.get("unreferenced") or {}))
        except (ValueError, AttributeError, TypeError):
            return cls()  # damaged: the listing still tells the truth, the hashes are redone


def remembered(state: State) -> dict[str, Remote]:
    """The bucket as the state object describes it (a damaged entry counts as absent)."""
    found = {}
    for key, value in state.objects.items():
        try:
            found[key] = Remote(str(key), int(value["size"]), str(value["etag"]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def unchanged(local: LocalFile, remote: Remote | None, state: State) -> bool:
    """Whether the bucket already holds exactly this file's bytes under its key."""
    if remote is None or remote.size != local.size:
        return False
    if remote.etag == local.md5:  # a single-part upload's ETag is its MD5
        return True
    known = state.objects.get(remote.key) or {}
    return known.get("sha256") == local.sha256 and known.get("etag") == remote.etag


@dataclass(frozen=True)
class SyncPlan:
    uploads: tuple[LocalFile, ...]  # in upload order, feed.xml last
    unchanged: int
    unreferenced: dict[str, str]  # key → since, after this sync
    prune: tuple[str, ...]  # keys to delete after the feed is committed


ORDER = {"media": 0, "companion": 0, "page": 1, "feed": 2}


def plan_sync(target: Target, files: Sequence[LocalFile], listing: dict[str, Remote],
              state: State, now: dt.datetime, prune: bool, grace: dt.timedelta) -> SyncPlan:
    """Which files to upload and in what order, and what has become or stayed unreferenced."""
    uploads = [f for f in files if not unchanged(f, listing.get(target.key(f.relative)), state)]
    uploads.sort(key=lambda f: (ORDER[f.kind], f.relative))
    wanted = {target.key(f.relative) for f in files}
    unreferenced, expired = {}, []
    for key in sorted(listing):
        if key in wanted or key.startswith(target.prefix + STATE_DIR):
            continue
        since = state.unreferenced.get(key) or now.isoformat()
        if prune and now - _parse_time(since, now) >= grace:
            expired.append(key)
        else:
            unreferenced[key] = since
    return SyncPlan(tuple(uploads), len(files) - len(uploads), unreferenced, tuple(expired))


def _parse_time(text: str, default: dt.datetime) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return default
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class SyncResult:
    target: str
    uploaded: tuple[str, ...]  # keys, in upload order
    unchanged: int
    unreferenced: tuple[str, ...]  # kept for the grace period
    pruned: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        lines = [f"synced to {self.target}: {len(self.uploaded)} object(s) uploaded, "
                 f"{self.unchanged} unchanged"]
        if self.unreferenced:
            lines.append(f"{len(self.unreferenced)} object(s) no longer referenced, kept for "
                         f"the grace period (podforge publish --to … --prune removes them after)")
        if self.pruned:
            lines.append(f"pruned {len(self.pruned)} expired object(s)")
        return "\n".join(lines + [f"note: {n}" for n in self.notes])


# ---------------------------------------------------------------- the local folder


def scan(folder: Path) -> list[LocalFile]:
    """Every file in the published folder (dotfiles are local bookkeeping and stay), hashed.

    Digests are remembered in `folder/.s3-digests.json` by size, mtime and inode, so a
    catalogue of large MP3s is hashed once, not at every publish.
    """
    folder = Path(folder)
    if not (folder / "feed.xml").is_file():
        raise PublishError(f"{folder}: no feed.xml here; run `podforge publish` first (it "
                           f"writes the folder the sync uploads)")
    cache_path = folder / ".s3-digests.json"
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    fresh: dict[str, list] = {}
    found = []
    for path in sorted(_walk(folder)):
        relative = path.relative_to(folder).as_posix()
        info = path.stat()
        stamp = [info.st_size, info.st_mtime_ns, info.st_ino]
        known = cache.get(relative)
        if isinstance(known, list) and known[:3] == stamp and len(known) == 5:
            sha256, md5 = known[3], known[4]
        else:
            sha256, md5 = _digests(path)
        fresh[relative] = [*stamp, sha256, md5]
        found.append(LocalFile(relative, path, info.st_size, sha256, md5))
    if fresh != cache:
        from pipeline.files import save_json
        try:
            save_json(cache_path, fresh)
        except OSError:
            pass  # only a cache: the next sync hashes again
    return found


def _walk(folder: Path):
    for entry in os.scandir(folder):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


# ---------------------------------------------------------------- the bucket edge


def client(endpoint_url: str | None = None):
    """A boto3 S3 client from the standard AWS_* variables (AWS_ENDPOINT_URL included).

    boto3 1.36+ sends CRC checksums that some S3-compatible servers reject: only when required.
    """
    import boto3
    from botocore.config import Config

    config = Config(request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    retries={"max_attempts": 3, "mode": "standard"},
                    max_pool_connections=WORKERS * 2)
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _failure(err: Exception, target: Target, doing: str, rerun: str) -> PublishError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return PublishError(f"{target.url}: no S3 credentials: set AWS_ACCESS_KEY_ID and "
                            f"AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for S3-compatible "
                            f"storage), then {rerun}")
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        why = f"{error.get('Code', '?')}: {error.get('Message') or 'no message'}"
        if error.get("Code") == "NoSuchBucket":
            return PublishError(f"{target.url}: bucket {target.bucket!r} does not exist: "
                                f"create it, then {rerun}")
    elif isinstance(err, OSError):
        why = f"{err.strerror or err}" + (f" ({err.filename})" if err.filename else "")
    else:
        why = str(err)
    return PublishError(f"{target.url}: {doing} failed ({why}); the live feed.xml is "
                        f"unchanged: {rerun}")


def listing(s3, target: Target) -> dict[str, Remote]:
    """Every object under the prefix: key → size and ETag, from list_objects_v2 pages."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.bucket,
                                                             Prefix=target.prefix):
        for item in page.get("Contents", ()):
            found[item["Key"]] = Remote(item["Key"], int(item["Size"]),
                                        item.get("ETag", "").strip('"'))
    return found


def _get(s3, bucket: str, key: str) -> bytes | None:
    from botocore.exceptions import ClientError

    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def previous_feed(target: Target | str, s3=None) -> bytes | None:
    """The feed.xml the bucket serves now, or None before the first publish (the shrink guard)."""
    target = parse_target(target) if isinstance(target, str) else target
    s3 = s3 or client()
    try:
        return _get(s3, target.bucket, target.key("feed.xml"))
    except Exception as err:
        raise _failure(err, target, "reading the live feed.xml",
                       "check the endpoint and credentials and publish again") from None


def _put(s3, target: Target, item: LocalFile) -> str:
    """Upload one file with its headers and digests, then HEAD it to verify what landed."""
    key = target.key(item.relative)
    with open(item.path, "rb") as body:
        s3.put_object(Bucket=target.bucket, Key=key, Body=body,
                      ContentType=content_type(item.relative), CacheControl=item.cache_control,
                      ContentLength=item.size,
                      ContentMD5=base64.b64encode(bytes.fromhex(item.md5)).decode(),
                      Metadata={"sha256": item.sha256})
    head = s3.head_object(Bucket=target.bucket, Key=key)
    etag = head.get("ETag", "").strip('"')
    if head.get("ContentLength") != item.size or (
            etag != item.md5 and head.get("Metadata", {}).get("sha256") != item.sha256):
        raise PublishError(f"{target.url}: {key} did not land intact (the bucket reports "
                           f"{head.get('ContentLength')} bytes, ETag {etag}; expected "
                           f"{item.size} bytes, MD5 {item.md5}); the live feed.xml is "
                           f"unchanged: publish again")
    return etag


def _upload_all(s3, target: Target, items: Sequence[LocalFile], progress: Progress,
                done: dict[str, str], total: int, sent: list[int], rerun: str) -> None:
    """Upload a batch concurrently; every one must land before the next batch starts."""
    if not items:
        return
    with concurrent.futures.ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
        futures = {pool.submit(_put, s3, target, item): item for item in items}
        failure = None
        for future in concurrent.futures.as_completed(futures):
            item = futures[future]
            try:
                etag = future.result()
            except PublishError as err:
                failure = failure or err
            except Exception as err:
                failure = failure or _failure(err, target, f"uploading {item.relative}", rerun)
            else:
                done[target.key(item.relative)] = etag
                sent[0] += item.size
                progress.update(sent[0] / total if total else 1.0)
            if failure:
                for other in futures:
                    other.cancel()
    if failure:
        raise failure


class _Lock:
    """A lock object in the bucket, written before a sync and removed after; stale after a while.

    Written with If-None-Match so two publishers cannot both take it where the server supports
    conditional writes (AWS S3, SeaweedFS, MinIO, R2); elsewhere a HEAD checks first.
    """

    def __init__(self, s3, target: Target, now: dt.datetime, stale: dt.timedelta):
        self.s3, self.target, self.now, self.stale = s3, target, now, stale

    def __enter__(self) -> _Lock:
        from botocore.exceptions import ClientError

        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                           "since": self.now.isoformat()}).encode()
        for attempt in range(2):
            try:
                self.s3.put_object(Bucket=self.target.bucket, Key=self.target.lock_key,
                                   Body=body, IfNoneMatch="*", ContentType="application/json")
                return self
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code")
                if code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    raise
            data = _get(self.s3, self.target.bucket, self.target.lock_key) or b"{}"
            try:
                holder = json.loads(data)
            except ValueError:
                holder = {}
            since = _parse_time(holder.get("since", ""), self.now - self.stale)
            if attempt == 0 and self.now - since >= self.stale:
                self.s3.delete_object(Bucket=self.target.bucket, Key=self.target.lock_key)
                continue
            raise PublishError(
                f"{self.target.url}: another publish holds the lock since {since:%Y-%m-%d %H:%M} "
                f"UTC ({holder.get('host', '?')}, pid {holder.get('pid', '?')}); wait for it, "
                f"or if it crashed, delete s3://{self.target.bucket}/{self.target.lock_key} "
                f"(it is taken over after {int(self.stale.total_seconds() // 60)} minutes)")
        raise AssertionError("unreachable")

    def __exit__(self, *exc) -> None:
        try:
            self.s3.delete_object(Bucket=self.target.bucket, Key=self.target.lock_key)
        except Exception:
            pass  # a lock left behind goes stale; the sync's own outcome matters more


def sync(folder: Path | str, target: Target | str, *, s3=None, prune: bool = False,
         grace: dt.timedelta = GRACE, lock_stale: dt.timedelta = LOCK_STALE,
         now: dt.datetime | None = None, progress: Progress | None = None,
         rerun: str | None = None, verify: bool = False) -> SyncResult:
    """Upload the published `folder` to `target`: media and pages first, verified; feed.xml last.

    Unchanged objects are not sent again: the bucket's state object says what it holds, or,
    when there is none or `verify` is set, a listing does (objects removed behind podforge's
    back are then uploaded again). Objects no longer in the folder are recorded as
    unreferenced and, with `prune`, deleted once `grace` has passed since then. Any failure
    raises PublishError before feed.xml is touched, saying what to rerun.
    """
    target = parse_target(target) if isinstance(target, str) else target
    now = now or dt.datetime.now(dt.timezone.utc)
    progress = progress or Progress(quiet=True)
    rerun = rerun or f"rerun `podforge publish --to {target.url}`"
    files = scan(Path(folder))
    s3 = s3 or client()
    label = target.url
    try:
        with _Lock(s3, target, now, lock_stale):
            progress.stage(label, "compare with the bucket")
            state = State.from_json(_get(s3, target.bucket, target.state_key))
            if verify or not state.objects:
                remote = listing(s3, target)
            else:
                remote = remembered(state)
            plan = plan_sync(target, files, remote, state, now, prune, grace)
            done: dict[str, str] = {}  # key → ETag, in upload order
            total = sum(f.size for f in plan.uploads)
            if plan.uploads:
                progress.stage(label, f"upload {len(plan.uploads)} file(s), "
                                      f"{total / 1e6:.1f} MB")
            sent = [0]
            for batch in ("media", "page", "feed"):  # media with companions, then pages, feed
                items = [f for f in plan.uploads if ORDER[f.kind] == ORDER[batch]]
                _upload_all(s3, target, items, progress, done, total, sent, rerun)
            for key in plan.prune:
                s3.delete_object(Bucket=target.bucket, Key=key)
            objects = {key: state.objects[key] for key in plan.unreferenced
                       if key in state.objects}
            for f in files:
                key = target.key(f.relative)
                etag = done.get(key) or remote[key].etag
                objects[key] = {"sha256": f.sha256, "etag": etag, "size": f.size}
            new_state = State(objects, plan.unreferenced)
            if new_state != state:
                s3.put_object(Bucket=target.bucket, Key=target.state_key,
                              Body=new_state.as_json(), ContentType="application/json",
                              CacheControl="no-store")
            progress.close()
    except PublishError:
        progress.close()
        raise
    except Exception as err:
        progress.close()
        raise _failure(err, target, "the sync", rerun) from None
    return SyncResult(target.url, tuple(done), plan.unchanged, tuple(plan.unreferenced),
                      plan.prune)

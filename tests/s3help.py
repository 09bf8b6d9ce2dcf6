"""A real S3 API on loopback for tests and benchmarks: moto's threaded server, and uploads."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: credentials moto accepts (it checks none unless auth is switched on)
TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    endpoint: str
    client: Any  # boto3 S3 client

    def env(self) -> dict[str, str]:
        return {**TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint}

    def storage_options(self) -> dict[str, str]:
        """What polars' cloud reader needs for the same server."""
        return {
            "aws_endpoint_url": self.endpoint,
            "aws_access_key_id": TEST_ENV["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": TEST_ENV["AWS_SECRET_ACCESS_KEY"],
            "aws_region": TEST_ENV["AWS_REGION"],
            "aws_allow_http": "true",
        }

    def bucket(self, name: str) -> None:
        self.client.create_bucket(Bucket=name)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def upload_tree(self, folder: Path, bucket: str, prefix: str) -> int:
        """Every file under ``folder`` to ``s3://bucket/prefix/...``; returns the count."""
        n = 0
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                key = prefix.rstrip("/") + "/" + path.relative_to(folder).as_posix()
                self.put(bucket, key.lstrip("/"), path.read_bytes())
                n += 1
        return n

    def require_auth(self, on: bool) -> None:
        """Make the server check credentials (moto's reset-auth switch)."""
        import urllib.request

        body = b"0" if on else b"inf"
        req = urllib.request.Request(
            self.endpoint + "/moto-api/reset-auth",
            data=body,
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=10).read()


@contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 at a free port, with the test credentials in the env."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*TEST_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**TEST_ENV, "AWS_ENDPOINT_URL": endpoint})
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        yield S3Server(endpoint, client)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()

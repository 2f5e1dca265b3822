"""Damage is loud on every read path of an S3 store too (issue 16): with one
object of `files/` or `values/` deleted or changed behind the
store's back, every API read and every CLI read command (configured by the
AWS_* environment) returns exactly what it did before, or names the object."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from docetl_checkpoint import CheckpointManager
from helpers.damage import fill
from helpers.read_paths import api_outcomes, cli_commands, cli_outcomes, problems
from helpers.s3objects import delete_objects, split_url, store_objects


def damage_object(endpoint: str, url: str, key: str, kind: str) -> None:
    """Delete, truncate or flip one bit of the object `key` (relative to the store)."""
    bucket, prefix = split_url(url)
    address = f"{endpoint}/{bucket}/{prefix}/{key}"
    if kind == "delete":
        delete_objects(endpoint, url, [key])
        return
    with urllib.request.urlopen(address, timeout=30) as response:
        data = bytearray(response.read())
    if kind == "truncate_half":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    urllib.request.urlopen(
        urllib.request.Request(address, data=bytes(data), method="PUT"), timeout=30
    ).close()


@pytest.mark.parametrize("kind", ["delete", "flip_middle"])  # truncations: the local matrix
@pytest.mark.parametrize("which", ["files", "values"])
@pytest.mark.usefixtures("s3_env")
def test_every_read_path_of_an_s3_store_is_exact_or_names_the_damage(
    s3_url: str, s3_endpoint: str, tmp_path: Path, which: str, kind: str
) -> None:
    fill(CheckpointManager(s3_url))
    mgr = CheckpointManager(s3_url)
    keys = sorted((e["step"], e["op"]) for e in mgr.entries())
    columns = {k: e["column_names"][1] for k in keys if (e := mgr.info(*k))}
    # the CLI on two checkpoints (one with large values): each command is a few
    # requests, and the local matrix runs it on all
    cli_keys = [("map_batches", "batch_0"), ("s1", "map")]
    commands = cli_commands(cli_keys, columns, s3_url)
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    before_api = api_outcomes(s3_url, keys, columns)
    before_cli = cli_outcomes(s3_url, tmp_path / "before", commands)
    assert all(o.error is None for o in before_api.values())

    target = sorted(store_objects(s3_endpoint, s3_url, which))[0]
    damage_object(s3_endpoint, s3_url, target, kind)
    name = target.rsplit("/", 1)[1]
    found = problems(api_outcomes(s3_url, keys, columns), before_api, [name], cli=False)
    after_cli = cli_outcomes(s3_url, tmp_path / "after", commands)
    found += problems(after_cli, before_cli, [name], cli=True)
    assert not found, "\n".join(found)

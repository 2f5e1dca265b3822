"""Importing the package: the allocator option it sets for the extension's load
reaches mimalloc, and the environment is left as it was."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

OPTION = "MIMALLOC_ARENA_EAGER_COMMIT"
PROBE = f"import os, docetl_checkpoint; print(repr(os.environ.get({OPTION!r})))"


def _import(env_value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != OPTION}
    env["MIMALLOC_VERBOSE"] = "1"  # mimalloc prints its options as it starts
    if env_value is not None:
        env[OPTION] = env_value
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("user_value", "allocator_sees", "left_in_environ"),
    [(None, "0", "None"), ("1", "1", "'1'")],
)
def test_eager_commit_is_off_for_the_extension_unless_the_user_chose(
    user_value: str | None, allocator_sees: str, left_in_environ: str
) -> None:
    out = _import(user_value)
    assert out.returncode == 0, out.stderr
    assert f"option 'arena_eager_commit': {allocator_sees}" in out.stderr, out.stderr
    assert out.stdout.strip() == left_in_environ

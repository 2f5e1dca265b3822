"""What the CLI prints for people: values and sizes that read as what they are."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.cli import main
from docetl_checkpoint.cli.render import one_line
from docetl_checkpoint.cli.stats import saved_text


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return code, out


# -- stats: what was saved -----------------------------------------------------


def test_saved_when_the_files_outweigh_the_records() -> None:
    text = saved_text(logical=1_000, on_disk=4_200)
    assert text == "nothing: the files take 3.2 kB more than the records (4.2x the logical size)"
    assert saved_text(1_000, 25_000).endswith("(25x the logical size)")


def test_saved_when_dedup_pays() -> None:
    assert saved_text(1_000_000, 250_000) == "750.0 kB, 75% of the logical size (4.0x smaller)"
    assert saved_text(1_000, 900) == "100 B, 10% of the logical size", "no '1.1x smaller'"
    assert saved_text(1_000, 999) == "nothing: the files take about the logical size"
    assert saved_text(1_000, 1_000) == "nothing: the files take about the logical size"
    assert "99.9% of" in saved_text(100_000, 40), "never rounds up to 100%"


def test_stats_of_a_store_larger_than_its_records(tmp_path: Path, capsys: Any) -> None:
    CheckpointManager(tmp_path).save("s", "o", [{"a": 1}])
    _, out = run(capsys, "stats", tmp_path)
    saved = next(line for line in out.splitlines() if line.startswith("saved"))
    assert "nothing: the files take" in saved and "more than the records" in saved
    assert "%" not in saved and "smaller" not in saved


# -- show: a value reads as what it is -------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1, "1"),
        ("1", '"1"'),
        (1.0, "1.0"),
        ("1.0", '"1.0"'),
        (None, "null"),
        ("null", '"null"'),
        (True, "true"),
        ("true", '"true"'),
        ([1, 2], "[1, 2]"),
        ("[1, 2]", '"[1, 2]"'),
        ({"a": 1}, '{"a": 1}'),
        ('{"a": 1}', '"{\\"a\\": 1}"'),
        ("", '""'),
        ("  ", '"  "'),
        (" padded ", " padded "),
        ('"quoted"', '"\\"quoted\\""'),
        (math.nan, "NaN"),
        ("NaN", '"NaN"'),
        (-math.inf, "-Infinity"),
        ("-Infinity", '"-Infinity"'),
        ("plain words", "plain words"),
        ("nan", "nan"),
        ("12 apples", "12 apples"),
        ("日本語", "日本語"),
    ],
)
def test_one_line_tells_strings_from_other_values(value: Any, shown: str) -> None:
    assert one_line(value) == shown


def test_show_prints_a_string_and_a_number_differently(tmp_path: Path, capsys: Any) -> None:
    records = [{"v": 1}, {"v": "1"}, {"v": None}, {"v": "null"}, {"v": ""}, {}]
    CheckpointManager(tmp_path).save("s", "o", records)
    _, out = run(capsys, "show", tmp_path, "s", "o")
    cells = [line.split(maxsplit=1)[1:] for line in out.splitlines()[2:8]]
    assert cells == [["1"], ['"1"'], ["null"], ['"null"'], ['""'], []]
    _, out = run(capsys, "show", tmp_path, "s", "o", "--vertical")
    assert 'v  "1"' in out and "v  1\n" in out

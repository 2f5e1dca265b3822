"""Inspection of a store folder on disk (layout described in the suite's brief)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

META = ".docetl_checkpoint"
PYTHON = sys.executable
HELPERS = Path(__file__).resolve().parent


def meta_dir(store: Path) -> Path:
    return Path(store) / META


def manifest(store: Path) -> Path:
    return meta_dir(store) / "manifest.json"


def data_files(store: Path) -> list[Path]:
    d = meta_dir(store) / "files"
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


def value_files(store: Path) -> list[Path]:
    """The value segments (not their dedup index files, `*.idx`)."""
    d = meta_dir(store) / "values"
    files = (p for p in d.iterdir() if p.is_file() and p.suffix != ".idx") if d.is_dir() else ()
    return sorted(files)


def index_files(store: Path) -> list[Path]:
    """The persisted dedup indexes of the value segments (derived data)."""
    d = meta_dir(store) / "values"
    return sorted(d.glob("*.idx")) if d.is_dir() else []


def link_path(store: Path, key: tuple[str, str]) -> Path:
    """`<dir>/<step>/<op>.parquet` (batches: `<dir>/<op>_batches/batch_<i>.parquet`)."""
    return Path(store) / key[0] / f"{key[1]}.parquet"


def all_files(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out += [Path(dirpath) / f for f in files]
    return sorted(out)


def disk_usage(root: Path) -> int:
    """Sum of file sizes under `root`, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in all_files(root):
        st = p.lstat()
        if (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def tmp_names(root: Path) -> list[str]:
    """Relative paths under `root` whose name contains 'tmp' (temp leftovers)."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            if "tmp" in name.lower():
                out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of content, for every file under `root`."""
    return {
        os.path.relpath(p, root): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in all_files(root)
    }


def inode(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_dev, st.st_ino


def history_files(store: Path) -> set[str]:
    """Names (in files/) of the earlier versions the manifest keeps."""
    path = manifest(store)
    if not path.exists():
        return set()
    body = path.read_text(encoding="utf-8").rsplit("\n", 2)[0]
    return {Path(e["file"]).name for e in json.loads(body).get("history", [])}


def check_collected(
    store: Path, live: list[tuple[str, str]], universe: list[tuple[str, str]]
) -> list[str]:
    """Problems with a store right after gc(): temp leftovers, unreferenced data files,
    stale or missing `<step>/<op>.parquet` links. Empty list when clean."""
    problems = []
    store = Path(store)
    if tmp_names(store):
        problems.append(f"temp leftovers after gc: {tmp_names(store)}")
    data_inodes = {inode(p): p.name for p in data_files(store)}
    live_inodes = set()
    for key in live:
        lp = link_path(store, key)
        if not lp.exists():
            problems.append(f"live checkpoint {key}: {lp} missing")
            continue
        live_inodes.add(inode(lp))
        if inode(lp) not in data_inodes:
            problems.append(f"live checkpoint {key}: {lp} is not a link to any file in files/")
    kept = history_files(store)
    for ino, name in data_inodes.items():
        if ino not in live_inodes and name not in kept:
            problems.append(f"files/{name} is referenced by no checkpoint or kept version after gc")
    for key in universe:
        if key not in live and link_path(store, key).exists():
            problems.append(f"deleted checkpoint {key} still has {link_path(store, key)}")
    return problems

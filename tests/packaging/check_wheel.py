"""Install the built wheel into fresh virtualenvs and run the smoke test in each.

    python tests/packaging/check_wheel.py --dist dist --work .wheel-test PYTHON...

Each PYTHON (an interpreter path) gets a new virtualenv holding only the wheel and
what it declares (plus pandas); smoke.py then runs there with a PATH that has no
Rust toolchain, from a folder outside the repository. Exits non-zero on the first
failure. `--requirements` pins extra packages (test-min-deps uses it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke.py")


def cargo_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return str(tomllib.load(f)["package"]["version"])


def the_wheel(dist: Path) -> Path:
    """The one abi3 wheel in `dist`: one wheel serves every Python from 3.10 on."""
    wheels = sorted(dist.glob("*.whl"))
    version = cargo_version()
    if len(wheels) != 1:
        sys.exit(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    name = wheels[0].name
    if not name.startswith(f"docetl_checkpoint-{version}-cp310-abi3-"):
        sys.exit(f"{name} is not a cp310-abi3 wheel of version {version}")
    return wheels[0]


def check_sdist(dist: Path) -> None:
    """The sdist holds every tracked file a build reads (a wheel built from it needs them)."""
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(sdists) != 1:
        sys.exit(f"expected one sdist in {dist}, found {[s.name for s in sdists]}")
    with tarfile.open(sdists[0]) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    tracked = subprocess.run(
        ["git", "ls-files", "src", "python", "Cargo.toml", "Cargo.lock", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    missing = sorted(set(tracked + ["LICENSE", "README.md"]) - members)
    if missing:
        sys.exit(f"{sdists[0].name} lacks {missing}")
    print(f"{sdists[0].name}: all {len(tracked)} tracked source files")


def no_rust_path(venv: Path) -> str:
    """PATH without the folders that hold cargo or rustc (rustup, ~/.cargo/bin)."""
    keep = [str(venv / "bin")]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and not any(os.path.exists(os.path.join(folder, t)) for t in ("cargo", "rustc")):
            keep.append(folder)
    return os.pathsep.join(keep)


def run(argv: list[str | Path], **kwargs: object) -> None:
    print("+", " ".join(map(str, argv)), flush=True)
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]


def check(python: str, wheel: Path, work: Path, requirements: list[str]) -> None:
    version = subprocess.check_output(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], text=True
    )
    venv = work / f"py{version.strip()}"
    shutil.rmtree(venv, ignore_errors=True)
    run([python, "-m", "venv", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check"]
    # binaries only: a wheel that needed building from source would need Rust
    run([*pip, "install", "--quiet", "--only-binary", ":all:", wheel, *requirements])
    env = dict(os.environ, PATH=no_rust_path(venv))
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="docetl-checkpoint-wheel-") as outside:
        run([venv / "bin" / "python", SMOKE, cargo_version()], env=env, cwd=outside)
    shutil.rmtree(venv)  # ~400 MB each; a failing one stays for a look


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dist", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--requirements", nargs="*", default=["pandas"])
    parser.add_argument("--sdist", action="store_true", help="check the sdist's files too")
    parser.add_argument("pythons", nargs="*")
    args = parser.parse_args()
    if not args.pythons:
        sys.exit("no Python interpreters to test the wheel on: set WHEEL_PYTHONS")
    wheel = the_wheel(args.dist).resolve()
    work = args.work.resolve()
    if args.sdist:
        check_sdist(args.dist)
    work.mkdir(parents=True, exist_ok=True)
    for python in args.pythons:
        if not shutil.which(python):
            sys.exit(f"no Python interpreter at {python}: set WHEEL_PYTHONS")
        try:
            check(python, wheel, work, args.requirements)
        except subprocess.CalledProcessError as error:
            sys.exit(f"wheel check failed with {python}: {error}")


if __name__ == "__main__":
    main()

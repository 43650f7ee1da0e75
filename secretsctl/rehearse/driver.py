"""The rehearsal's handle on workerd: `workers/local/rehearsal_driver.mjs` over JSON lines.

One Node process runs one workerd for the whole rehearsal, so stages are deploys
(`update()`), not restarts, and KV contents survive them as on Cloudflare. The
fake upstream API lives in the same process; Python only ever sends it SHA-256
digests of the keys a tenant accepts.

Cleanup: given a `workdir`, the driver runs in its own process group with TMPDIR set
to it, so workerd's local store (which holds the secret values, stand-ins included)
lives there, and an owner file records who runs it. `reap_stale()`, called when a
rehearsal starts, removes the workdirs of rehearsals whose process is gone and kills
what is left of their driver group (an orphaned workerd), by recorded id only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from secretsctl.errors import InvalidInput
from secretsctl.offline.stackfile import SOURCE_ROOT

# The driver and the workers it loads belong to this checkout, not to the user's project;
# Node resolves `miniflare` from the driver's own folder up, so it must be installed here.
DRIVER = SOURCE_ROOT / "workers" / "local" / "rehearsal_driver.mjs"
MINIFLARE = "miniflare@4.20251118.0"  # package.json's pin
WORKDIR_PREFIX = "rehearsal-"
OWNER_FILE = ".secretsctl-rehearsal.json"


class DriverError(InvalidInput):
    """The Node driver is missing, died, or refused a request."""


@dataclass(frozen=True)
class Request:
    """One HTTP request to one worker (by script name)."""

    worker: str
    method: str = "GET"
    path: str = "/"
    body: str | None = None
    headers: Mapping[str, str] | None = None

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"worker": self.worker, "method": self.method, "path": self.path}
        if self.body is not None:
            out["body"] = self.body
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


@dataclass(frozen=True)
class Response:
    """What came back: status 0 means no answer (timeout or runtime error)."""

    status: int
    ms: float
    fallback: bool
    body: str

    def error_code(self) -> str:
        """The `error` code of a JSON error body (never a value), else a status summary."""
        if self.status == 0:
            return self.body or "no_answer"
        try:
            data = json.loads(self.body)
        except ValueError:
            return f"http_{self.status}"
        code = data.get("error") if isinstance(data, dict) else None
        return str(code) if isinstance(code, str) and code else f"http_{self.status}"


def digest(key: str) -> str:
    """What the fake upstream stores for an accepted key."""
    return hashlib.sha256(key.encode()).hexdigest()


class Driver:
    """A running `rehearsal_driver.mjs`. Use as a context manager."""

    def __init__(
        self, node: str | None = None, stderr: IO[str] | None = None, workdir: Path | None = None
    ) -> None:
        node = node or shutil.which("node")
        if not node:
            raise DriverError("node not found on PATH (install Node 20, then run `npm ci`)")
        if not DRIVER.is_file():
            raise DriverError(
                f"{DRIVER}: the rehearsal's Node driver ships with a clone of the project, not "
                "with the installed package, got no such file (run `secretsctl rehearse` from a "
                f"clone, after `npm ci` or `npm i -D {MINIFLARE}` there)"
            )
        if not (SOURCE_ROOT / "node_modules" / "miniflare").is_dir():
            raise DriverError(
                f"{SOURCE_ROOT}: miniflare is not installed next to the rehearsal's driver, got "
                f"no node_modules/miniflare (run `npm ci` or `npm i -D {MINIFLARE}` there, or "
                "`make setup`)"
            )
        env = None
        if workdir is not None:
            # workerd's store (secret values) and miniflare's temp files go under workdir
            env = {**os.environ, "TMPDIR": str(workdir), "TMP": str(workdir), "TEMP": str(workdir)}
        self._proc = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=SOURCE_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
            start_new_session=hasattr(os, "killpg"),  # workerd joins this group: found by id later
        )
        if workdir is not None:
            owner = {"owner": os.getpid(), "driver": self._proc.pid}
            (workdir / OWNER_FILE).write_text(json.dumps(owner))
        self.log: list[str] = []
        self.restarted = False
        """Whether the last deploy restarted workerd (versions not loaded up front)."""
        self.in_flight = 0
        """Requests that were running when the last deploy began."""
        # Answers to ops, in order; `None` marks the end of stdout (the driver died).
        self._answers: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._on_result: Callable[[dict[str, Any]], None] | None = None
        self._stdout_closed = False
        self._write_lock = threading.Lock()
        self._call_lock = threading.Lock()
        # Drain workerd's console so a chatty worker can never block the pipe.
        self._stderr = threading.Thread(target=self._drain, args=(stderr,), daemon=True)
        self._stderr.start()
        self._stdout = threading.Thread(target=self._read, daemon=True)
        self._stdout.start()

    def _drain(self, sink: IO[str] | None) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self.log.append(line.rstrip("\n"))
            if sink is not None:
                sink.write(line)

    def _read(self) -> None:
        """Split stdout: load results go to the result handler, the rest are op answers."""
        assert self._proc.stdout is not None
        try:
            for line in self._proc.stdout:
                message = json.loads(line)
                if message.get("event") == "result":
                    handler = self._on_result
                    if handler is not None:
                        handler(message)
                else:
                    self._answers.put(message)
        except ValueError:  # not JSON: the driver is broken; callers see it as died
            self.log.append("rehearsal driver wrote a line that is not JSON")
        finally:
            self._stdout_closed = True
            self._answers.put(None)

    def _write(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        try:
            with self._write_lock:
                self._proc.stdin.write(json.dumps(message) + "\n")
                self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise DriverError(self._died()) from None

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._call_lock:  # one op at a time: answers come back in order
            self._write(message)
            while True:
                try:
                    answer = self._answers.get(timeout=1.0)
                    break
                except queue.Empty:
                    if self._stdout_closed:  # its end-of-output mark went to an earlier call
                        answer = None
                        break
        if answer is None:
            raise DriverError(self._died())
        if "error" in answer:
            raise DriverError(f"rehearsal driver refused {message['op']}: {answer['error']}")
        return answer

    def _died(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)
        tail = "; ".join(self.log[-3:])
        return f"rehearsal driver exited with code {self._proc.returncode} ({tail})"

    def deploy(
        self,
        description: Mapping[str, Any],
        versions: Iterable[Mapping[str, Any]] = (),
        drain_ms: int = 30_000,
    ) -> float:
        """Make workerd run exactly `description`; returns how long it took, in ms.

        `versions`: descriptions later deploys will use, loaded now, so that those deploys
        switch versions under traffic instead of restarting workerd. A deploy answers once
        no request runs on a version it replaced (at most `drain_ms`).
        """
        answer = self._call(
            {
                "op": "deploy",
                "description": description,
                "versions": list(versions),
                "drain_ms": drain_ms,
            }
        )
        self.restarted = bool(answer.get("restarted"))
        self.in_flight = int(answer.get("in_flight") or 0)
        return float(answer["ms"])

    # -- continuous load (`rehearse --load`)

    def load_start(
        self,
        on_result: Callable[[dict[str, Any]], None],
        concurrency: int = 32,
        timeout_ms: int = 5000,
    ) -> None:
        """Start `concurrency` lanes; each result of `enqueue`d requests goes to `on_result`
        (called on the reader thread) as {"id", "status", "ms", "fallback", "body"}."""
        self._on_result = on_result
        self._call({"op": "load_start", "concurrency": concurrency, "timeout_ms": timeout_ms})

    def enqueue(self, requests: Iterable[tuple[str, Request]]) -> None:
        """Queue (id, request) pairs for the load lanes; returns at once, even mid-deploy."""
        wire = [{"id": rid, **request.wire()} for rid, request in requests]
        if wire:
            self._write({"op": "enqueue", "requests": wire})

    def load_stop(self) -> None:
        """Wait until every queued request has been answered, then stop the lanes."""
        self._call({"op": "load_stop"})
        self._on_result = None

    def accept(self, tenants: Mapping[str, Iterable[str]]) -> None:
        """Set the keys each upstream tenant accepts (plain keys in, digests on the wire)."""
        self._call(
            {"op": "upstream", "tenants": {t: sorted(map(digest, ks)) for t, ks in tenants.items()}}
        )

    def traffic(
        self, requests: list[Request], concurrency: int = 8, timeout_ms: int = 5000
    ) -> list[Response]:
        answer = self._call(
            {
                "op": "traffic",
                "requests": [r.wire() for r in requests],
                "concurrency": concurrency,
                "timeout_ms": timeout_ms,
            }
        )
        return [
            Response(int(r["status"]), float(r["ms"]), r.get("fallback") == "1", r.get("body", ""))
            for r in answer["results"]
        ]

    def upstream_calls(self) -> dict[str, dict[str, int]]:
        return dict(self._call({"op": "upstream_calls"})["calls"])

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(DriverError, OSError, ValueError):
                self._call({"op": "dispose"})
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        # A driver that died (or was killed) leaves its workerd behind: end it.
        kill_driver_group(self._proc.pid)

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _driver_group(pgid: int) -> list[int]:
    """Pids in process group `pgid` that are a rehearsal driver or its workerd."""
    found: list[int] = []
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("latin-1")
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()  # state, ppid, pgrp, ...
            if fields[0] != "Z" and int(fields[2]) == pgid and _ours(cmdline):
                found.append(int(entry.name))
        return found
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,pgid=,args="], capture_output=True, text=True, timeout=10
        ).stdout
        for line in out.splitlines():
            pid, group, args = [*line.split(None, 2), "", "", ""][:3]
            if group.isdigit() and int(group) == pgid and _ours(args):
                found.append(int(pid))
    return found


def _ours(cmdline: str) -> bool:
    return "workerd" in cmdline or DRIVER.name in cmdline


def kill_driver_group(pgid: int) -> list[int]:
    """SIGKILL what is left of a driver's process group (only driver/workerd processes)."""
    if not hasattr(os, "killpg"):
        return []
    killed = []
    for pid in _driver_group(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(root: Path | None = None) -> list[str]:
    """Remove the workdirs (and orphaned workerd) of rehearsals whose process is gone.

    Only this user's `rehearsal-*` folders that hold an owner file are considered; one
    whose owner is still running is left alone. Returns what was removed (no values).
    """
    base = Path(root or tempfile.gettempdir())
    removed = []
    for marker in sorted(base.glob(f"{WORKDIR_PREFIX}*/{OWNER_FILE}")):
        workdir = marker.parent
        try:
            if workdir.stat().st_uid != getattr(os, "getuid", lambda: -1)():
                continue
            owner = json.loads(marker.read_text())
            if _alive(int(owner["owner"])):
                continue
            killed = kill_driver_group(int(owner["driver"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        shutil.rmtree(workdir, ignore_errors=True)
        ended = f" (ended {len(killed)} orphaned processes)" if killed else ""
        removed.append(f"{workdir.name}{ended}")
    return removed


def write_modules(directory: Path, inputs: Mapping[str, Any]) -> Path:
    """Write one WorkersScript's modules (`content` + `files`) under `directory`.

    Returns the folder to use as `modules_root`: workerd loads the uploaded
    modules themselves, not the files in workers/.
    """
    import base64

    directory.mkdir(parents=True, exist_ok=True)
    main = directory / str(inputs["mainModule"])
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(str(inputs["content"]))
    for name, part in (inputs.get("files") or {}).items():
        path = (directory / name).resolve()
        if directory.resolve() not in path.parents:
            raise DriverError(f"script {inputs.get('scriptName')}: part {name!r} leaves its folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(part["contentBase64"]))
    return directory

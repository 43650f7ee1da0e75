"""`secretsctl` in a real separate process, forked from the test process.

Concurrency and kill tests need separate processes (their own locks, a SIGKILL that ends
only the rotate). A fork starts with everything this process already imported, so a rotate
process costs its own work, not another second of `import pulumi, pulumi_cloudflare`.
Output goes to files, not pipes: a child never blocks on a full pipe nobody reads.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

_FORK = multiprocessing.get_context("fork")


class CliProcess:
    """One `secretsctl ARGS` process; `prepare` runs in the child first (to plant a fault)."""

    def __init__(
        self, args: list[str], folder: Path, prepare: Callable[[], None] | None = None
    ) -> None:
        name = uuid.uuid4().hex
        self._out, self._err = folder / f"{name}.out", folder / f"{name}.err"
        self._process = _FORK.Process(
            target=_run, args=(args, str(self._out), str(self._err), prepare)
        )
        self._process.start()

    def wait(self, timeout: float) -> int:
        """The exit code; fails the test if the process is still running after `timeout` s."""
        self._process.join(timeout)
        code = self._process.exitcode
        assert code is not None, f"still running after {timeout} s"
        return code

    def poll(self) -> int | None:
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()
        self._process.join()

    @property
    def stdout(self) -> str:
        return self._out.read_text() if self._out.exists() else ""

    @property
    def stderr(self) -> str:
        return self._err.read_text() if self._err.exists() else ""


def _run(args: list[str], out: str, err: str, prepare: Callable[[], None] | None) -> None:
    for fd, path in ((1, out), (2, err)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(file, fd)
        os.close(file)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - flushed below, fd closed by _exit
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    code = 1
    try:
        if prepare is not None:
            prepare()
        from secretsctl.cli import main

        sys.argv = ["secretsctl", *args]
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # reported on the child's stderr, as a crash would be
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # no cleanup of what the test process owns (its fixtures, its threads)

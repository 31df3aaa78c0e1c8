"""Where cells run: in a worker process that can be killed at a timeout, or in-process.

The worker is a spawned Python process (never forked: JAX's runtime threads do not
survive a fork) that imports jaxreg once and runs cells one after another, keeping its
compiled solvers and the current problem's data between cells. That costs one process
start and one import of JAX (a few seconds) per sweep, and again after each timeout or
crash, when the worker is killed and a fresh one is started for the next cell.

If the parent dies (even by SIGKILL), the worker notices within half a second and exits.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback

__all__ = ["InProcess", "WorkerProcess", "CellFailed"]

_START_TIMEOUT = 600.0  # seconds for a fresh worker to import jax (a loaded machine is slow)


class CellFailed(Exception):
    """A cell that did not finish: ``outcome`` is "timeout" or "error"."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome = outcome


def _execute(cell, settings, cache):
    from jaxreg.experiment.measure import run_cell

    try:
        return run_cell(cell, settings, cache)
    except Exception as exc:  # recorded as the cell's outcome; the sweep goes on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
        return {"outcome": "error", "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}"}


def _exit_with_parent(parent_pid):  # pragma: no cover - runs in the child process
    """Exit as soon as the parent is gone, even in the middle of a long cell."""
    import os
    import time

    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _worker_main(conn, parent_pid):  # pragma: no cover - runs in the child process
    import threading

    from jaxreg.experiment.measure import ProblemCache

    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    import jax  # noqa: F401 - imported before "ready", so no cell's timeout pays for it
    import sklearn.linear_model  # noqa: F401

    import jaxreg  # noqa: F401

    cache = ProblemCache()
    conn.send("ready")
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        conn.send(_execute(*msg, cache))


class InProcess:
    """Cells run in this process: no timeout, no process start (tests, debugging)."""

    def __init__(self):
        from jaxreg.experiment.measure import ProblemCache

        self._cache = ProblemCache()

    def run(self, cell: dict, settings: dict, timeout=None) -> dict:
        result = _execute(cell, settings, self._cache)
        if result.get("outcome") == "error":
            raise CellFailed("error", result["error"])
        return result

    def close(self):
        pass


class WorkerProcess:
    """Cells run in a spawned worker; a cell past ``timeout`` seconds kills it."""

    def __init__(self):
        self._ctx = mp.get_context("spawn")
        self._proc = self._conn = None

    def _start(self):
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_worker_main, args=(child, os.getpid()), daemon=True, name="jaxreg-sweep-worker"
        )
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(_START_TIMEOUT):
            self._kill()
            raise RuntimeError(f"the sweep worker did not start within {_START_TIMEOUT:.0f} s")
        try:
            parent.recv()
        except EOFError:
            code = self._proc.exitcode
            self._kill()
            raise RuntimeError(f"the sweep worker exited while starting (exit code {code})") from None

    def run(self, cell: dict, settings: dict, timeout=None) -> dict:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        self._conn.send((cell, settings))
        try:
            ready = self._conn.poll(timeout)
        except (EOFError, OSError):
            ready = True
        if not ready:
            self._kill()
            raise CellFailed("timeout", f"cell exceeded the timeout of {timeout:g} s (worker killed)")
        try:
            result = self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)
            code = self._proc.exitcode
            self._kill()
            raise CellFailed("error", f"the worker process died (exit code {code}; out of memory?)") from None
        if result.get("outcome") == "error":
            raise CellFailed("error", result["error"])
        return result

    def _kill(self):
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def close(self):
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._proc.join(10)
        self._kill()

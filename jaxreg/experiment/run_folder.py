"""The folder of one ``jaxreg run``: one writer at a time, one run per folder, and a status
file that says whether the run finished.

- A lock (``.run.lock``, :func:`jaxreg.experiment.files.lock_folder`) is held for the whole
  run: a second ``jaxreg run`` into the same folder is refused at once.
- A folder that already holds files is refused, so two runs never mix. With
  ``overwrite=True`` (``--overwrite``) the files an earlier run wrote are deleted first;
  files no run writes are never deleted (the run is refused instead). With
  ``resume=True`` (``--resume``) an unfinished run of the same resolved config is
  continued: the fits already in ``metrics.jsonl`` (with their coefficients) are kept,
  the others run.
- ``run.json`` is written first with ``"complete": false, "status": "running"`` and
  rewritten at the end: ``complete`` (with the list of files), ``interrupted`` (Ctrl-C) or
  ``failed``. A run killed outright leaves ``running`` behind with no process holding the
  lock. ``metrics.jsonl`` gets one line per fit as it ends (O(1) per fit); ``metrics.json``
  is written once, at the end, or when the run stops early (then ``"complete": false``).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from jaxreg.errors import UsageError
from jaxreg.experiment.files import lock_folder, open_append, replace_text, write_line

__all__ = ["RunFolder", "STATUS", "LOG", "RUN_FILES"]

STATUS = "run.json"
LOG = "metrics.jsonl"
LOCK = ".run.lock"
# what every run writes besides its figures (PNG files, listed in run.json)
RUN_FILES = (
    STATUS,
    "config.yaml",
    "env.json",
    "metrics.json",
    LOG,
    "coefficients.csv",
    "coefficients.npz",
    "coef_table.md",
)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class RunFolder:
    """The run folder at ``path``; :meth:`open` claims it, :meth:`close` says how it ended.

    Parameters
    ----------
    path : str or Path
    overwrite : bool
        Delete an earlier run's files instead of refusing the folder.
    resume : bool
        Continue an unfinished run of the same config (:attr:`done` holds its fits).
    """

    def __init__(self, path, overwrite=False, resume=False):
        if overwrite and resume:
            raise UsageError("give --overwrite (start again) or --resume (continue), not both")
        self.path = Path(path)
        self.overwrite, self.resume = overwrite, resume
        self.status: dict = {}
        self.done: dict[int, dict] = {}  # resumed fits: id -> their line of metrics.jsonl
        self._lock = None
        self._log_fd = None  # metrics.jsonl, opened by the first log_fit, closed with the lock

    # ------------------------------------------------------------------ claim

    def open(self, name: str, n_fits: int, config_text: str = "") -> RunFolder:
        """Lock the folder, make sure it holds no other run (or, resuming, an unfinished run
        whose ``config.yaml`` is ``config_text``), and write ``run.json`` (``complete: false``).

        Raises
        ------
        UsageError
            Another process is writing the folder; it holds an earlier run (and no
            ``overwrite``); or it holds files no run writes.
        """
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"--out {str(self.path)!r} is a file, not a folder; give a folder for the run")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = lock_folder(self.path, LOCK, "jaxreg run")
        try:
            if self.resume and (self.path / STATUS).exists():
                self._take_over(config_text)
            else:
                self._claim()
            self.status = {
                "name": name,
                "complete": False,
                "status": "running",
                "started_at": _now(),
                "pid": os.getpid(),
                "fits_planned": n_fits,
            }
            if self.done:
                self.status["fits_resumed"] = len(self.done)
            self._write_status()
        except BaseException:
            self._release()
            raise
        return self

    def _previous(self) -> dict | None:
        try:
            doc = json.loads((self.path / STATUS).read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def _claim(self):
        present = sorted(p.name for p in self.path.iterdir() if p.name != LOCK)
        if not present:
            return
        previous = self._previous()
        if previous is not None:
            status, name = previous.get("status", "unknown"), previous.get("name", "?")
            what = f"the {status} run {name!r} of {previous.get('started_at', '?')}"
        else:
            what = f"{len(present)} file(s): {', '.join(present[:5])}{', ...' if len(present) > 5 else ''}"
        if not self.overwrite:
            raise UsageError(
                f"--out {self.path} is not empty (it holds {what}); give --overwrite to replace that run's files, "
                "or another --out"
            )
        listed = set(previous.get("files", ())) if previous else set()
        ours = set(RUN_FILES) | listed
        if previous is None or not listed:  # an older or unfinished run: its figures are its PNGs
            ours |= {n for n in present if n.endswith(".png")}
        foreign = [n for n in present if n not in ours and not (n.startswith(".") and n.endswith(".tmp"))]
        if foreign:
            raise UsageError(
                f"--out {self.path}: --overwrite deletes only the files a run writes, and the folder also holds "
                f"{', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}; move them or give another --out"
            )
        for n in present:
            target = self.path / n
            if target.is_dir():
                raise UsageError(f"--out {self.path}: holds the folder {n!r}, which no run writes; give another --out")
            target.unlink()

    def _take_over(self, config_text):
        previous = self._previous() or {}
        if previous.get("complete"):
            raise UsageError(
                f"--out {self.path}: its run {previous.get('name', '?')!r} is complete; nothing to resume "
                "(give --overwrite to run it again)"
            )
        if (self.path / "config.yaml").exists() and (self.path / "config.yaml").read_text() != config_text:
            raise UsageError(
                f"--out {self.path}: the unfinished run there has another config (its config.yaml differs); "
                "--resume continues the same config only (give --overwrite to start again)"
            )
        self.done = {}
        if (self.path / LOG).exists():
            for line in (self.path / LOG).read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:  # a torn last line: that fit runs again
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("id"), int):
                    self.done[rec["id"]] = rec

    # ------------------------------------------------------------------ writing

    def log_fit(self, info: dict, coef=None, intercept=None):
        """One JSON line for a finished fit in ``metrics.jsonl``: its metrics and, under
        ``arrays``, its coefficients (what ``--resume`` needs). Not fsync-ed: it is the
        record of progress, ``metrics.json`` at the end is the result."""
        from jaxreg.experiment.run_output import dumps

        line = info if coef is None else {**info, "arrays": {"coef": coef, "intercept": intercept}}
        if self._log_fd is None:
            self._log_fd = open_append(self.path / LOG)
        write_line(self._log_fd, dumps(line) + "\n", sync=False)

    def _write_status(self):
        replace_text(self.path / STATUS, json.dumps(self.status, indent=2) + "\n")

    def close(self, status: str, fits_done: int, files=(), error: str | None = None):
        """Rewrite ``run.json`` with how the run ended (``complete``, ``interrupted`` or
        ``failed``) and release the lock."""
        try:
            self.status.update(complete=status == "complete", status=status, finished_at=_now(), fits_done=fits_done)
            if files:
                self.status["files"] = sorted(files)
            if error:
                self.status["error"] = error
            self._write_status()
        finally:
            self._release()

    def _release(self):
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

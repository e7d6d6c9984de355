"""Warm workers: a zygote per slot forks each student's worker with its imports done.

A fresh sandboxed worker spends a fifth of a second of CPU starting (a Python that imports
NumPy and IPython), a third of all the CPU a chapter-01 notebook costs to grade. When the
grader runs as root, each slot gets a zygote (:mod:`autograder.zygote`) in a sandbox built as
a worker's is; a judge asks it for a worker through a socket in a folder only the grader can
reach, and gets one forked from it in namespaces of its own (PID, mount, IPC) with an empty
``/tmp``, ``/dev/shm`` and working directory, which gives up root before it reads any code:
what a fresh worker is, minus the start. When the judge hangs up, the student's whole PID
namespace is killed before the slot's next worker is forked.

Used only where a fresh worker would show nothing of its own in its working directory (no
data files, no extra files of the student's: those are bound per student), when the grader
is root (the zygote needs its capabilities to make the namespaces), and on this machine (a
Dask worker starts fresh workers). Everywhere else, and if a zygote cannot be reached, the
worker starts fresh: same verdicts, slower. Random states are a fresh worker's too: the
zygote never imports ``numpy.random``, and Python seeds ``random`` again in each child.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from autograder.sandbox import (
    STARTUP_SECONDS,
    Limits,
    SandboxUnavailable,
    Worker,
    WorkerDied,
    WorkerTimeout,
    worker_command,
)


def usable(sandboxed: bool) -> bool:
    """Whether zygotes can serve this grader: sandboxed, as root."""
    return sandboxed and os.getuid() == 0 and shutil.which("bwrap") is not None


def shows_nothing(files: Path | None) -> bool:
    """Whether a worker for ``files`` has nothing of its own to show (a zygote can serve it)."""
    return files is None or not Path(files).is_dir() or not any(Path(files).iterdir())


class Zygote:
    """One slot's zygote: started at once (its imports go on meanwhile), stopped by
    :meth:`stop`; ``address`` is the socket a judge connects to."""

    def __init__(self, slot: int, limits: Limits, log: Path):
        self.folder = Path(tempfile.mkdtemp(prefix="descent-zygote-"))  # 0700: the grader's
        self.address = str(self.folder / "socket")
        (self.folder / "files").mkdir()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.address)
            listener.listen(8)
            command, env = worker_command(slot, limits, True, self.folder / "files",
                                          zygote_fd=listener.fileno())
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as stderr:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr, env=env, start_new_session=True,
                    pass_fds=(listener.fileno(),))
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            listener.close()  # the zygote's copy is the one that listens

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def start(slots: int, limits: Limits, logs: Path) -> list[Zygote]:
    """A zygote for each slot (none when one cannot start: every worker then starts fresh)."""
    zygotes = []
    try:
        for slot in range(slots):
            zygotes.append(Zygote(slot, limits, logs / f"zygote-{slot}.log"))
    except (OSError, SandboxUnavailable):
        stop(zygotes)
        return []
    return zygotes


def stop(zygotes: list[Zygote]) -> None:
    for zygote in zygotes:
        zygote.stop()


class ForkedWorker(Worker):
    """A worker from the slot's zygote at ``address``, spoken to over its socket; a fresh
    worker (:class:`~autograder.sandbox.Worker`) when the zygote cannot be reached."""

    def __init__(self, address: str, slot: int, limits: Limits, log=None,
                 files: Path | None = None):
        super().__init__(slot, limits, True, log, files)  # (``files``: for a fresh start)
        self.address = address
        self.connection: socket.socket | None = None
        self.status: int | None = None  # the read end of the pipe the exit status comes on
        self.fresh = False

    @property
    def alive(self) -> bool:
        if self.fresh:
            return super().alive
        return self.connection is not None and not select.select([self.status], [], [], 0)[0]

    def start(self) -> None:
        if not self._forked():  # the zygote is gone, or could not make it (its log says why)
            self.kill()
            self.fresh = True
            super().start()

    def _forked(self) -> bool:
        """Ask the zygote for the worker; whether it came up."""
        self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        status, status_in = os.pipe()
        self.status = status
        log = self.log.fileno() if self.log is not None else os.open(os.devnull, os.O_WRONLY)
        try:
            self.connection.connect(self.address)
            socket.send_fds(self.connection, [b"w"], [log, status_in])
        except OSError:
            return False
        finally:
            os.close(status_in)
            if self.log is None:
                os.close(log)
        self.connection.setblocking(False)
        try:
            return self._receive(time.monotonic() + STARTUP_SECONDS).get("op") == "ready"
        except (WorkerDied, WorkerTimeout):
            return False

    def kill(self) -> None:
        if self.fresh:
            return super().kill()
        if self.connection is not None:  # hanging up ends the worker and all it started
            self.connection.close()
            self.connection = None
        if self.status is not None:
            os.close(self.status)
            self.status = None

    def _write_fd(self) -> int:
        return super()._write_fd() if self.fresh else self.connection.fileno()

    def _read_fd(self) -> int:
        return super()._read_fd() if self.fresh else self.connection.fileno()

    def _exit_code(self) -> int | None:
        if self.fresh:
            return super()._exit_code()
        if self.status is None or not select.select([self.status], [], [], 2)[0]:
            return None
        data = os.read(self.status, 4)
        return struct.unpack("!i", data)[0] if len(data) == 4 else None

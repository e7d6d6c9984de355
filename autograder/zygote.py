"""A slot's zygote, inside its sandbox: forks each student's worker with its imports done.

Started by :class:`autograder.warm.Zygote` as root in a bubblewrap sandbox built like a
worker's (same binds, limits, network and PID namespace), with a listening socket that only
the grader can reach. It imports what every worker imports (NumPy, IPython) once, then, for
each connection (a judge asking for a worker; with it, the student's log and a pipe for the
exit status), forks:

* a **keeper**, which gives the student new mount, PID and IPC namespaces, with their own
  empty tmpfs on ``/tmp``, ``/dev/shm`` and the working directory (nothing a student left
  there is seen by the next), and kills everything in them when the judge hangs up;
* in them, an **init** (PID 1), which mounts a ``/proc`` that shows only the student's
  processes, reaps orphans and reports the worker's exit status;
* the **worker** (PID 2): the connection on its stdin and stdout, the log on stderr, every
  other descriptor closed; it then gives up root, as a fresh worker does, and serves.

When the worker ends, the init ends, and the kernel kills whatever the student's code left
running in its PID namespace; the zygote accepts the next connection only once the keeper
has seen all of it gone. Only the zygote, the keeper and the init hold capabilities, and
none of them runs any student code.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import struct
from pathlib import Path

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
MS_REC, MS_PRIVATE = 1 << 14, 1 << 18
#: Where the student's code may write: each a new tmpfs (mode) for every student.
FRESH = (("/tmp", "1777"), ("/dev/shm", "1777"), ("/assignment", "0777"))
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount(source: bytes | None, target: str, kind: bytes | None, flags: int,
           options: str | None = None) -> None:
    _check(_libc.mount(source, target.encode(), kind, flags,
                       options.encode() if options else None), f"mount {target}")


def main() -> None:
    listener = socket.socket(fileno=int(os.environ.pop("DESCENT_ZYGOTE_FD")))
    tmp_bytes = int(os.environ.pop("DESCENT_TMP_BYTES"))
    import IPython.core.displaypub  # noqa: F401 - (make_shell's own imports)
    import IPython.core.interactiveshell  # noqa: F401

    import autograder.worker  # noqa: F401 - what every worker imports, once for all of them

    while True:
        connection, _ = listener.accept()
        try:
            _, fds, _, _ = socket.recv_fds(connection, 1, 2)
        except OSError:
            fds = []
        if len(fds) != 2:  # not a judge's request: nothing to serve
            for fd in fds:
                os.close(fd)
            connection.close()
            continue
        log_fd, status_fd = fds
        keeper = os.fork()
        if keeper == 0:
            try:
                listener.close()
                _keep(connection, log_fd, status_fd, tmp_bytes)
            except BaseException as error:  # noqa: BLE001 - told in the student's log
                os.write(log_fd, f"zygote: could not start a worker: {error}\n".encode())
            finally:
                os._exit(70)
        connection.close()
        os.close(log_fd)
        os.close(status_fd)
        os.waitpid(keeper, 0)  # one student at a time: the next once this one is all gone


def _mounts_under(folder: str) -> list[str]:
    """The mount points below ``folder``, parents first (from /proc/self/mountinfo)."""
    points = []
    for line in open("/proc/self/mountinfo", encoding="utf-8"):
        point = line.split()[4]
        for escaped in ("\\040", "\\011", "\\012", "\\134"):  # mountinfo's octal escapes
            point = point.replace(escaped, chr(int(escaped[1:], 8)))
        if point.startswith(folder + "/"):
            points.append(point)
    return points


def _fresh(tmp_bytes: int) -> None:
    """A new empty tmpfs on each of :data:`FRESH`; what the sandbox shows below them (a
    virtual environment that lives under /tmp) is bound again, read-only, on top."""
    kept = {point: os.open(point, os.O_PATH) for target, _ in FRESH
            for point in _mounts_under(target)}
    for target, mode in FRESH:
        _mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_bytes},mode={mode}")
    for point, held in kept.items():
        for parent in reversed(Path(point).parents):
            if not parent.exists():
                parent.mkdir(mode=0o755)
        if os.path.isdir(f"/proc/self/fd/{held}"):
            os.makedirs(point, mode=0o755, exist_ok=True)
        else:
            open(point, "a").close()
        _mount(f"/proc/self/fd/{held}".encode(), point, None, MS_BIND)
        _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(held)


def _keep(connection: socket.socket, log_fd: int, status_fd: int, tmp_bytes: int) -> None:
    """The keeper: the student's namespaces; kills them all when the judge hangs up."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here is seen outside
    _fresh(tmp_bytes)
    init = os.fork()
    if init == 0:
        try:
            _init(connection, log_fd, status_fd)
        finally:
            os._exit(70)
    os.close(log_fd)
    os.close(status_fd)
    watch = select.poll()
    watch.register(connection.fileno(), select.POLLRDHUP)
    try:
        ended = os.pidfd_open(init)
        watch.register(ended, select.POLLIN)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3): look every 50 ms
        ended = None
    while not os.waitpid(init, os.WNOHANG)[0]:
        events = watch.poll(None if ended is not None else 50)
        if any(fd == connection.fileno() for fd, _ in events):  # the judge hung up
            os.kill(init, signal.SIGKILL)
            os.waitpid(init, 0)
            break
    os._exit(0)


def _init(connection: socket.socket, log_fd: int, status_fd: int) -> None:
    """PID 1 of the student's namespace: its /proc, the worker, the orphans, the exit status."""
    _mount(b"proc", "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    worker = os.fork()
    if worker == 0:
        try:
            _worker(connection, log_fd)
        finally:
            os._exit(70)
    connection.close()
    os.close(log_fd)
    while True:
        pid, status = os.wait()
        if pid == worker:
            break
    os.write(status_fd, struct.pack("!i", os.waitstatus_to_exitcode(status)))
    os._exit(0)


def _worker(connection: socket.socket, log_fd: int) -> None:
    """PID 2: the worker, on the judge's connection, with nothing else of the zygote's open."""
    channel = connection.detach()
    os.dup2(channel, 0)
    os.dup2(channel, 1)
    os.dup2(log_fd, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.chdir("/assignment")
    from autograder import worker

    worker.main()
    os._exit(0)


if __name__ == "__main__":
    main()

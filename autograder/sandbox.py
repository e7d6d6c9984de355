"""Start and talk to a sandboxed worker (``autograder/worker.py``).

The worker runs under bubblewrap with:

* a filesystem of the Python runtime, the virtual environment and the ``descent``
  library, all read-only, plus an empty private ``/tmp`` of bounded size: no
  ``solutions/``, no gradebook, no other student's files, not even the
  student's own notebook (its code arrives over a pipe);
* no network (its own empty network namespace), its own PID namespace (it can
  neither see nor signal the grader), a new session (no terminal);
* limits set with ``prlimit``: address space (memory), processes, file size,
  open files, CPU seconds; and the grader's wall-clock limit on every request;
* when the grader runs as root, an unprivileged uid of its own (``60000 +
  slot``), taken by the worker before it reads any student code, so that the
  process limit counts only that worker's processes.

As root, a slot's workers are forked by its zygote instead, already started, each in PID,
mount and IPC namespaces of its own inside the slot's sandbox (:mod:`autograder.warm`).

Without bubblewrap the grader refuses to run unless told ``--unsafe``; the
worker then runs as a plain child process (verdicts are still decided on the
grader's side, but the student's code can read and write what the grader can).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from autograder import wire

HERE = Path(__file__).resolve().parent
IN_SANDBOX = Path("/opt/grader")
DESCENT_IN_SANDBOX = Path("/opt/descent")
#: The worker's working directory, where the assignment's files (data beside the notebook, the
#: student's extra files) are seen, read-only.
FILES_IN_SANDBOX = Path("/assignment")
#: The grader's modules the worker runs (only these: the sandbox shows nothing else of it).
WORKER_MODULES = ("__init__.py", "worker.py", "wire.py", "codecs.py", "figures.py",
                  "mpl_backend.py", "rules.py", "zygote.py")
FIRST_UID = 60000
STARTUP_SECONDS = 60.0


@dataclass(frozen=True)
class Limits:
    """What one student's code may use. Times are wall-clock seconds."""

    call_seconds: float = 20.0  # one cell, or one call of a student's function
    submission_seconds: float = 300.0  # everything for one student
    memory_bytes: int = 4 << 30  # address space of the worker (RLIMIT_AS)
    processes: int = 64  # processes and threads of the worker's uid
    tmp_bytes: int = 64 << 20  # the private /tmp
    file_bytes: int = 64 << 20  # largest file it may write
    open_files: int = 256


class SandboxUnavailable(Exception):
    """No usable bubblewrap here; the message says why and what to do."""


class WorkerTimeout(Exception):
    """The worker did not answer in time; it has been killed."""


class WorkerDied(Exception):
    """The worker process ended, or sent something that is not a message; it is gone."""


def _bind_args(paths: list[Path]) -> list[str]:
    """Read-only binds at the same paths, their parents traversable by the worker's uid."""
    args, made = [], set()
    for path in sorted(set(paths)):
        for parent in reversed(path.parents[:-1]):  # e.g. /root, /root/.pyenv, ...
            if parent not in made and parent != Path("/tmp"):  # /tmp: the private tmpfs
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += ["--ro-bind", str(path), str(path)]
    return args


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime", "/etc/ssl/certs"):
        args += ["--ro-bind-try", path, path]
    return args


def _python_paths() -> list[Path]:
    """Where this Python and its packages live (to bind read-only), repository excluded."""
    import descent

    repo = Path(descent.__file__).resolve().parents[2]
    paths = []
    for prefix in {sys.base_prefix, sys.prefix, sys.exec_prefix}:
        path = Path(prefix).resolve()
        if path == repo or path in repo.parents:
            raise SandboxUnavailable(f"Python is installed at {path}, which holds the course "
                                     "repository: the sandbox cannot show one without the other")
        paths.append(path)  # a venv inside the repository (.venv) shows only itself
    return paths


def _files_args(files: Path | None, limits: Limits) -> list[str]:
    """The working directory: a small writable tmpfs (a notebook may save a file), with each of
    the assignment's and the student's files in it, read-only."""
    if files is None:
        return []
    args = ["--perms", "0777", "--size", str(limits.tmp_bytes), "--tmpfs", str(FILES_IN_SANDBOX)]
    for path in sorted(files.rglob("*")):
        target = FILES_IN_SANDBOX / path.relative_to(files)
        if path.is_symlink():
            continue
        if path.is_dir():
            args += ["--perms", "0777", "--dir", str(target)]
        elif path.is_file():
            args += ["--ro-bind", str(path), str(target)]
    return args


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def worker_command(slot: int, limits: Limits, sandboxed: bool = True,
                   files: Path | None = None, zygote_fd: int | None = None
                   ) -> tuple[list, dict]:
    """The command line and environment that start worker number ``slot``.

    ``files``: a folder shown read-only as the worker's working directory (the
    assignment's data files and the student's extra files), or None for an empty one.
    ``zygote_fd``: start the slot's zygote instead, listening on this inherited socket
    (:mod:`autograder.warm`; as root only)."""
    zygote = zygote_fd is not None
    import descent

    descent_dir = Path(descent.__file__).resolve().parent
    python = Path(sys.prefix) / "bin" / "python"
    threads = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLBACKEND": "module://autograder.mpl_backend"}
    if not sandboxed:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
               "PYTHONPATH": os.pathsep.join([str(descent_dir.parent), str(HERE.parent)]),
               **threads}
        if files is not None:
            env["DESCENT_WORKER_CWD"] = str(files)
        return [str(python), "-B", "-m", "autograder.worker"], env
    bwrap = shutil.which("bwrap")
    is_root = os.getuid() == 0
    uid = FIRST_UID + slot
    nproc = limits.processes if is_root else _processes_of(os.getuid()) + limits.processes
    command = [
        "prlimit", f"--as={limits.memory_bytes}", f"--nproc={nproc}",
        f"--fsize={limits.file_bytes}", f"--nofile={limits.open_files}", "--core=0",
        f"--cpu={int(limits.submission_seconds) + 60}", "--",
        bwrap, *_system_args(),
        # The private /tmp first: a venv that lives under /tmp is bound on top of it.
        "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        *_bind_args(_python_paths()),
        *[arg for folder in ("/opt", IN_SANDBOX, IN_SANDBOX / "autograder", DESCENT_IN_SANDBOX)
          for arg in ("--perms", "0755", "--dir", str(folder))],
        "--ro-bind", str(descent_dir), str(DESCENT_IN_SANDBOX / "descent"),
        *[arg for name in WORKER_MODULES
          for arg in ("--ro-bind", str(HERE / name), str(IN_SANDBOX / "autograder" / name))],
        *_files_args(files, limits),
        "--proc", "/proc", "--dev", "/dev",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session",
        "--clearenv", "--chdir", str(FILES_IN_SANDBOX) if files is not None else "/tmp",
    ]
    env = {"HOME": "/tmp", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "PYTHONPATH": f"{DESCENT_IN_SANDBOX}:{IN_SANDBOX}", "PYTHONHASHSEED": "0", **threads}
    if is_root:
        # bubblewrap keeps these two capabilities only so the worker can give up root; a
        # zygote also makes each worker's namespaces and mounts (CAP_SYS_ADMIN).
        command += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        command += ["--cap-add", "CAP_SYS_ADMIN"] if zygote else []
        env["DESCENT_SANDBOX_UID"] = str(uid)
    elif zygote:
        raise SandboxUnavailable("a zygote needs root (it gives each worker its namespaces)")
    else:
        command += ["--unshare-user"]
    if zygote:
        env.update(DESCENT_TMP_BYTES=str(limits.tmp_bytes), DESCENT_ZYGOTE_FD=str(zygote_fd))
    for name, value in env.items():
        command += ["--setenv", name, value]
    module = "autograder.zygote" if zygote else "autograder.worker"
    command += [str(python), "-B", "-s", "-m", module]
    return command, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def check_sandbox() -> str:
    """Describe the sandbox this machine gives, or raise :class:`SandboxUnavailable`."""
    if not shutil.which("bwrap"):
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so students' code cannot be isolated. "
            "Install it (Debian/Ubuntu: apt-get install bubblewrap) or, only for code you "
            "trust, pass --unsafe")
    if not shutil.which("prlimit"):
        raise SandboxUnavailable("prlimit (util-linux) is missing; it sets the worker's limits")
    worker = Worker(0, Limits(call_seconds=STARTUP_SECONDS))
    try:
        worker.start()
        reply = worker.request({"op": "exec", "source": "import os; print(os.getuid())"},
                               time.monotonic() + STARTUP_SECONDS)
    except (WorkerDied, WorkerTimeout) as error:
        raise SandboxUnavailable(f"bubblewrap is installed but a sandboxed worker could not "
                                 f"start here: {error}") from None
    finally:
        worker.kill()
    uid = reply.get("stdout", "").strip()
    if os.getuid() == 0 and uid == "0":
        raise SandboxUnavailable("the sandboxed worker kept root privileges")
    version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout
    return f"{version.strip()}, worker uid {uid}, no network, limits {Limits()}"


class Worker:
    """One worker process and its pipes, on the grader's side."""

    def __init__(self, slot: int, limits: Limits, sandboxed: bool = True, log=None,
                 files: Path | None = None):
        self.slot, self.limits, self.sandboxed, self.files = slot, limits, sandboxed, files
        self.log = log  # an open binary file for the worker's stderr, or None
        self.process: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        command, env = worker_command(self.slot, self.limits, self.sandboxed, self.files)
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log or subprocess.DEVNULL, env=env, start_new_session=True,
        )
        os.set_blocking(self.process.stdin.fileno(), False)
        reply = self._receive(time.monotonic() + STARTUP_SECONDS)
        if reply.get("op") != "ready":
            self.kill()
            raise WorkerDied(f"the worker did not start (said {reply.get('op')!r})")

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.process.wait()

    def _exit_code(self) -> int | None:
        """How the worker ended (negative: the signal), or None when it is not known."""
        try:
            return self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def _death(self) -> WorkerDied:
        code = self._exit_code()
        self.kill()
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        elif code is not None:
            how = f"exited with code {code} (exit(), os._exit() or a crash)"
        else:
            how = "closed its channel to the grader"
        return WorkerDied(f"the worker process ended: {how}")

    def _write_fd(self) -> int:
        return self.process.stdin.fileno()

    def _read_fd(self) -> int:
        return self.process.stdout.fileno()

    def send(self, message: dict, deadline: float) -> None:
        data = wire.pack(message)
        fd = self._write_fd()
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([], [fd], [], remaining)[1]:
                self.kill()
                raise WorkerTimeout("the worker stopped reading")
            try:
                data = data[os.write(fd, data):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError):
                raise self._death() from None

    def _read(self, size: int, deadline: float) -> bytes:
        fd, chunks = self._read_fd(), []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.kill()
                raise WorkerTimeout("the worker did not answer in time")
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                raise self._death()
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _receive(self, deadline: float) -> dict:
        try:
            size = wire.body_size(self._read(wire.header_size(), deadline))
            return wire.unpack(self._read(size, deadline))
        except wire.WireError as error:
            self.kill()
            raise WorkerDied(f"the worker sent something that is not a message ({error})") from None

    def request(self, message: dict, deadline: float, on_callback=None) -> dict:
        """Send ``message``; answer the worker's callbacks until its reply comes.

        ``on_callback(request) -> reply`` runs one of the judge's functions for the
        worker's code (:meth:`autograder.session.Session.run_callback`)."""
        self.send(message, deadline)
        while True:
            reply = self._receive(deadline)
            if reply.get("op") != "callback":
                return reply
            answer = on_callback(reply) if on_callback else {
                "op": "callback_error", "error": {"ename": "RuntimeError",
                                                  "evalue": "no function of the grader's here"}}
            self.send(answer, deadline)

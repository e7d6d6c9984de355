"""A PostgreSQL server of our own: a throwaway one for tests, or the hub's gradebook.

    with running_postgres(tmp_dir) as url:   # "postgresql+psycopg2://descent@127.0.0.1:PORT/descent"
        ...                                  # a fresh cluster on 127.0.0.1, removed afterwards
    with gradebook_server(folder, owner="descent-grader") as url:
        ...   # kept in folder between runs; reachable only through a socket only `owner` can open

Needs the server binaries (Debian: `apt-get install postgresql`) and psycopg2. PostgreSQL refuses
to run as root, so under root the cluster belongs to, and runs as, the `postgres` system user (else
`nobody`). Whatever goes wrong is raised as PostgresUnavailable with a reason a person can act on.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUPERUSER = "descent"  # the cluster's superuser; loopback connections are trusted
DATABASE = "descent"
START_TIMEOUT_S = 60
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes on Linux, NUL included
TOOLS = ("initdb", "pg_ctl", "postgres")

# A test cluster needs no durability: skipping fsync makes initdb and every commit much faster.
SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
"""
# The hub's gradebook: durable, and no TCP port at all, since `trust` on loopback would let any
# local user (a student) in. The socket's folder (mode 0700) is the only door, and only the
# server's own user (the grader's account) can pass it.
GRADEBOOK_SETTINGS = """
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
unix_socket_permissions = 0700
"""


class PostgresUnavailable(Exception):
    """No test server could be had; the message says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def find_postgres_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then the newest
    /usr/lib/postgresql/<version>/bin (Debian keeps the server binaries off PATH)."""
    on_path = shutil.which("initdb")
    # A symlink on PATH is followed: initdb needs `postgres` beside its real location.
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=_version_key, reverse=True)
    for directory in candidates:
        if all(os.access(directory / tool, os.X_OK) for tool in TOOLS):
            return directory
    return None


def _server_bin() -> Path:
    """find_postgres_bin, or PostgresUnavailable saying what to install."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise PostgresUnavailable(
            "no initdb/pg_ctl/postgres on PATH or in /usr/lib/postgresql/*/bin "
            "(Debian: apt-get install postgresql)")
    return bin_dir


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


@contextmanager
def running_postgres(base: Path) -> Iterator[str]:
    """Start a fresh cluster under `base`, yield its SQLAlchemy URL; always stop and delete it."""
    try:
        import psycopg2
    except ImportError as error:
        raise PostgresUnavailable(
            f"psycopg2 is not importable ({error}); pip install psycopg2-binary") from None
    bin_dir = _server_bin()
    owner = _unprivileged_user() if os.geteuid() == 0 else None
    _as_user(owner)  # fails now, before any directory exists, if we cannot switch users

    root = _cluster_dir(Path(base), owner)
    data, socket_dir, log = root / "data", root / "sock", root / "server.log"
    try:
        socket_dir.mkdir()
        if len(str(socket_dir / ".s.PGSQL.65535")) > SOCKET_PATH_MAX:
            raise PostgresUnavailable(f"path too long for a unix socket: {socket_dir}")
        if owner:
            _chown_tree(root, owner)
        _run(owner, root, bin_dir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", what="initdb")
        port = _free_port()
        with open(data / "postgresql.conf", "a") as conf:  # keeps the owner initdb gave it
            conf.write(SETTINGS.format(port=port, socket_dir=socket_dir))
        _run(owner, root, bin_dir / "pg_ctl", "start", "-D", data, "-l", log, "-w",
             "-t", str(START_TIMEOUT_S), what="pg_ctl start", log=log)

        connection = psycopg2.connect(host="127.0.0.1", port=port, user=SUPERUSER,
                                      dbname="postgres", connect_timeout=10)
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            connection.close()

        yield f"postgresql+psycopg2://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        _stop(owner, root, bin_dir, data)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def gradebook_server(folder: Path, owner: str) -> Iterator[str]:
    """Run the cluster kept in ``folder`` (made on first use) as ``owner``; yield its URL.

    Stops the server on exit and keeps its data. Only ``owner`` (and root) can connect."""
    bin_dir = _server_bin()
    owner = owner if os.geteuid() == 0 else None
    folder = Path(folder)
    data, socket_dir, log = folder / "data", folder / "sock", folder / "server.log"
    folder.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(exist_ok=True)
    os.chmod(folder, 0o700)
    os.chmod(socket_dir, 0o700)
    if owner:
        _chown_tree(folder, owner, top_only=(data / "PG_VERSION").exists())
    if not (data / "PG_VERSION").exists():
        _run(owner, folder, bin_dir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", what="initdb")
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(GRADEBOOK_SETTINGS.format(socket_dir=socket_dir))
        fresh = True
    else:
        fresh = False
    running = subprocess.run(_as_user(owner, bin_dir / "pg_ctl", "status", "-D", data),
                             cwd=folder, capture_output=True).returncode == 0
    if running:  # left by a hub that was killed: restart it, so this run owns it
        _stop(owner, folder, bin_dir, data, mode="fast")
    _run(owner, folder, bin_dir / "pg_ctl", "start", "-D", data, "-l", log, "-w",
         "-t", str(START_TIMEOUT_S), what="pg_ctl start", log=log)
    try:
        if fresh:
            _run(owner, folder, bin_dir / "createdb", "-h", socket_dir, "-U", SUPERUSER,
                 DATABASE, what="createdb")
        yield f"postgresql+psycopg2://{SUPERUSER}@/{DATABASE}?host={socket_dir}"
    finally:
        _stop(owner, folder, bin_dir, data, mode="fast")


def _unprivileged_user() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise PostgresUnavailable("running as root, and neither a 'postgres' nor a 'nobody' user "
                              "exists to run the server as (PostgreSQL refuses root)")


def _as_user(owner: str | None, *command) -> list[str]:
    """`command`, run as `owner` when we are root (PostgreSQL refuses to run as root)."""
    command = [str(part) for part in command]
    if owner is None:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", owner, "--", *command]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid", owner, "--regid", owner, "--init-groups", "--", *command]
    raise PostgresUnavailable("running as root, but neither runuser nor setpriv is installed "
                              f"to run the server as '{owner}'")


def _cluster_dir(base: Path, owner: str | None) -> Path:
    """A new directory for the cluster, under `base` if `owner` can reach it there.

    pytest's temporary directories live in /tmp/pytest-of-root (mode 0700) when we are root, so
    the server's user could not enter them; the system temp dir is used instead then."""
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="pg-", dir=base))
    if owner is None:
        return root
    _chown_tree(root, owner)
    reachable = _as_user(owner, "test", "-w", root, "-a", "-x", root)
    if subprocess.run(reachable, capture_output=True).returncode == 0:
        return root
    root.rmdir()
    return Path(tempfile.mkdtemp(prefix="pg-"))


def _chown_tree(root: Path, owner: str, top_only: bool = False) -> None:
    user = pwd.getpwnam(owner)
    if top_only:
        os.chown(root, user.pw_uid, user.pw_gid)
        return
    for directory, _, files in os.walk(root):
        for path in [directory, *(os.path.join(directory, name) for name in files)]:
            os.chown(path, user.pw_uid, user.pw_gid)


def _free_port() -> int:
    """A port free on 127.0.0.1 right now (another process could take it before the server does:
    then the start fails with "could not bind" in the log)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(owner, cwd: Path, *command, what: str, log: Path | None = None) -> None:
    # cwd: the server's user may not be allowed into the directory pytest runs from.
    try:
        done = subprocess.run(_as_user(owner, *command), cwd=cwd, capture_output=True,
                              text=True, timeout=START_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        raise PostgresUnavailable(f"{what} did not finish in {START_TIMEOUT_S + 30} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        if log is not None and log.exists():
            output += "\n--- server log ---\n" + log.read_text(errors="replace")
        tail = "\n".join(output.splitlines()[-20:])
        raise PostgresUnavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


def _stop(owner, cwd: Path, bin_dir: Path, data: Path, mode: str = "immediate") -> None:
    """Stop the server if it runs; kill it by its pid if pg_ctl cannot."""
    pid_file = data / "postmaster.pid"
    if not pid_file.exists():
        return
    try:
        stopped = subprocess.run(
            _as_user(owner, bin_dir / "pg_ctl", "stop", "-D", data, "-m", mode, "-w"),
            cwd=cwd, capture_output=True, timeout=30).returncode == 0
    except (subprocess.TimeoutExpired, PostgresUnavailable):
        stopped = False
    if not stopped and pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            pass

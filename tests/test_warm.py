"""Warm workers: forked by a slot's zygote, each is what a fresh sandboxed worker is."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from autograder import warm
from autograder.sandbox import Limits, Worker, WorkerDied, WorkerTimeout

LIMITS = Limits(call_seconds=30)
SLOT = 7  # a uid of its own (60007): no other test's worker shares it

#: What a worker sees of itself: its uid, its capabilities, the processes and files around it.
LOOK = """
import json, os, sys
runtime = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}  # a venv under /tmp
fds = {}
for fd in sorted(os.listdir('/proc/self/fd'), key=int):
    try:
        fds[fd] = os.readlink('/proc/self/fd/' + fd).split(':')[0]
    except OSError:
        pass
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(json.dumps({
    'uid': os.getuid(), 'pid': os.getpid(),
    'processes': sorted(p for p in os.listdir('/proc') if p.isdigit()),
    'tmp': sorted(name for name in os.listdir('/tmp') if name != '.ipython' and not any(
        path.startswith('/tmp/' + name + '/') for path in runtime)),
    'shm': os.listdir('/dev/shm'),
    'cwd': os.getcwd(), 'here': os.listdir('.'), 'fds': fds,
    'runtime_writable': [p for p in runtime for top, _, _ in os.walk(p) if os.access(top, os.W_OK)],
    'caps': [status[k].strip() for k in ('CapPrm', 'CapEff', 'CapAmb')],
    'no_new_privs': status['NoNewPrivs'].strip()}))
"""

#: A student who leaves things behind: files in every writable place, a System V shared
#: memory segment, and a process that escapes into a session of its own and lives on.
LEAVE = """
import ctypes, os, subprocess
for path in ('/tmp/left', '/dev/shm/left', 'left'):
    open(path, 'w').write('from the last student')
libc = ctypes.CDLL(None)
print(libc.shmget(4242, 4096, 0o1000 | 0o666))
subprocess.Popen(['sleep', '600'], start_new_session=True)
"""


#: Every place outside /proc and /sys the worker may write to (devices aside).
WRITABLE = r"""
import os, stat
found = []
for top, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if os.path.join(top, d) not in ('/proc', '/sys')]
    for path in [top] + [os.path.join(top, name) for name in files]:
        try:
            device = stat.S_ISCHR(os.stat(path).st_mode)  # /dev/null and links to it
        except OSError:
            continue
        if os.access(path, os.W_OK) and not device:
            found.append(path)
fresh = ('/assignment', '/dev/shm', '/tmp')
print(sorted(path for path in found if not path.startswith(tuple(f + '/' for f in fresh))))
"""


@pytest.fixture
def zygote(sandbox, tmp_path):
    if os.getuid() != 0:
        pytest.skip("zygotes serve a grader that runs as root")
    zygote = warm.Zygote(SLOT, LIMITS, tmp_path / "zygote.log")
    yield zygote
    zygote.stop()


def _run(worker, source: str) -> dict:
    return worker.request({"op": "exec", "source": source}, time.monotonic() + 30)


def _look(worker) -> dict:
    reply = _run(worker, LOOK)
    assert reply["error"] is None, reply["error"]
    return json.loads(reply["stdout"])


def _forked(zygote) -> warm.ForkedWorker:
    worker = warm.ForkedWorker(zygote.address, SLOT, LIMITS)
    worker.start()
    assert not worker.fresh, "the zygote did not serve the worker"
    return worker


def _processes_of(uid: int) -> list[str]:
    ps = subprocess.run(["ps", "-o", "pid=,comm=", "-u", str(uid)], capture_output=True,
                        text=True)
    return ps.stdout.split("\n")[:-1]


def test_a_forked_worker_sees_what_a_fresh_one_sees(zygote, tmp_path):
    (tmp_path / "files").mkdir()
    fresh = Worker(SLOT, LIMITS, True, None, tmp_path / "files")
    fresh.start()
    try:
        expected = _look(fresh)
    finally:
        fresh.kill()
    forked = _forked(zygote)
    try:
        seen = _look(forked)
    finally:
        forked.kill()
    assert seen["uid"] == expected["uid"] == 60000 + SLOT
    assert seen["caps"] == ["0000000000000000"] * 3 and seen["no_new_privs"] == "1"
    assert seen["runtime_writable"] == []  # Python and its packages, read-only (under /tmp too)
    for key in ("processes", "tmp", "shm", "cwd", "here"):
        assert seen[key] == expected[key], key
    # The judge's channel on 3 and 4 (a socket here, pipes there), nothing of the zygote's.
    assert seen["fds"].keys() == expected["fds"].keys()
    assert [seen["fds"][fd] for fd in ("0", "1", "2", "5")] == ["/dev/null"] * 4


def test_nothing_a_student_leaves_reaches_the_next(zygote):
    first = _forked(zygote)
    try:
        # Where it can write at all: the three places made afresh for each student (and in
        # them: none is the zygote's, or the last student's).
        writable = _run(first, WRITABLE)["stdout"].strip()
        assert writable == "['/assignment', '/dev/shm', '/tmp']", writable
        assert _run(first, LEAVE)["error"] is None
        assert len(_processes_of(60000 + SLOT)) == 2  # the worker and its escaped sleep
    finally:
        first.kill()
    second = _forked(zygote)
    try:
        seen = _look(second)
        assert seen["tmp"] == seen["shm"] == seen["here"] == []
        assert seen["processes"] == ["1", "2"]
        # No process of the last student's is left, anywhere on the machine.
        assert [line.split()[1] for line in _processes_of(60000 + SLOT)] == ["python"]
        segment = _run(second, "import ctypes\nprint(ctypes.CDLL(None).shmget(4242, 0, 0))")
        assert segment["stdout"].strip() == "-1"  # the segment went with its namespace
    finally:
        second.kill()


def test_a_worker_cannot_touch_its_keepers(zygote):
    worker = _forked(zygote)
    try:
        reply = _run(worker, "import os\ntry:\n    os.kill(1, 9)\nexcept OSError as e:\n"
                             "    print(type(e).__name__)")
        assert reply["stdout"].strip() == "PermissionError"
    finally:
        worker.kill()


def test_a_worker_that_ends_or_hangs_costs_only_itself(zygote):
    worker = _forked(zygote)
    with pytest.raises(WorkerDied, match="exited with code 3"):
        _run(worker, "import os\nos._exit(3)")
    worker = _forked(zygote)
    with pytest.raises(WorkerDied, match="killed by SIGKILL"):
        _run(worker, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    worker = _forked(zygote)
    with pytest.raises(WorkerTimeout):
        worker.request({"op": "exec", "source": "while True:\n    pass"}, time.monotonic() + 1)
    worker = _forked(zygote)  # the hung one was killed with its namespace: the slot serves
    try:
        assert _run(worker, "print(6 * 7)")["stdout"].strip() == "42"
        assert [line.split()[1] for line in _processes_of(60000 + SLOT)] == ["python"]
    finally:
        worker.kill()


def test_without_its_zygote_a_worker_starts_fresh(zygote, tmp_path):
    zygote.stop()
    (tmp_path / "files").mkdir()
    worker = warm.ForkedWorker(zygote.address, SLOT, LIMITS, None, tmp_path / "files")
    worker.start()
    try:  # as the zygote's would have been: in the (empty) working directory
        assert worker.fresh
        assert _run(worker, "import os\nprint(os.getcwd())")["stdout"].strip() == "/assignment"
    finally:
        worker.kill()


def test_only_a_worker_with_nothing_to_show_is_forked(tmp_path):
    assert warm.shows_nothing(None) and warm.shows_nothing(tmp_path / "absent")
    assert warm.shows_nothing(tmp_path)
    (tmp_path / "data.csv").write_text("1,2\n")
    assert not warm.shows_nothing(tmp_path)


def test_each_forked_worker_draws_its_own_random_numbers(zygote):
    """As fresh workers do: nothing random is seeded in the zygote, once for all."""
    draws = []
    for _ in range(2):
        worker = _forked(zygote)
        try:
            draws.append(_run(worker, "import numpy as np, random\n"
                                      "print(np.random.rand(), random.random())")["stdout"])
        finally:
            worker.kill()
    first, second = (line.split() for line in draws)
    assert first[0] != second[0] and first[1] != second[1]

"""The sandboxed worker sees nothing of the course, reaches nothing, and has limits."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from nbtools import ROOT

from autograder import wire
from autograder.sandbox import Limits, Worker

pytestmark = pytest.mark.usefixtures("sandbox")

PROBE = f"""
import os, socket
seen = {{}}
seen['uid'] = os.getuid()
seen['repo'] = os.path.exists({str(ROOT / 'solutions')!r})
seen['home_listing'] = sorted(os.listdir('/'))
try:
    socket.create_connection(('127.0.0.1', 22), timeout=1)
    seen['network'] = True
except OSError:
    seen['network'] = False
try:
    open('/usr/pwned', 'w')
    seen['writes_usr'] = True
except OSError:
    seen['writes_usr'] = False
seen['pids'] = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
"""


@pytest.fixture
def worker():
    worker = Worker(3, Limits(call_seconds=10, memory_bytes=1 << 30, processes=16))
    worker.start()
    yield worker
    worker.kill()


def run(worker, source: str) -> dict:
    return worker.request({"op": "exec", "source": source}, time.monotonic() + 10)


def value(worker, name: str):
    reply = worker.request({"op": "get", "name": name}, time.monotonic() + 10)
    return wire.decode(reply["value"])


def test_the_worker_is_isolated(worker):
    assert run(worker, PROBE)["error"] is None
    seen = value(worker, "seen")
    if os.getuid() == 0:
        assert seen["uid"] != 0
    assert seen["repo"] is False, "the course repository must not be visible"
    assert seen["network"] is False
    assert seen["writes_usr"] is False
    assert len(seen["pids"]) <= 3, f"sees other processes: {seen['pids']}"


def test_limits_turn_into_errors_not_harm(worker):
    hog = run(worker, "x = bytearray(2 << 30)")
    assert hog["error"]["ename"] == "MemoryError"
    forks = run(worker, "import os, time\npids = []\nfor _ in range(100):\n"
                        "    pid = os.fork()\n    if pid == 0:\n        time.sleep(30)\n"
                        "    pids.append(pid)\n")
    assert forks["error"]["ename"] == "BlockingIOError"
    # Forked children never answer for the worker: the next request still works.
    assert run(worker, "y = 41 + 1")["error"] is None
    assert value(worker, "y") == 42


def test_a_call_round_trip_with_a_callback(worker):
    run(worker, "def f(z, g):\n    z[0] = -1.0\n    return g(z) * 2\n")
    callbacks: list = []
    z = np.array([1.0, 2.0])
    message = {"op": "call", "target": {"name": "f"},
               "args": wire.encode([z, np.square], callbacks), "kwargs": wire.encode({}, callbacks)}

    def answer(request):  # the judge's side of a callback (autograder.session.Session)
        args = wire.decode(request["args"])
        return {"op": "callback_result", "value": wire.encode(callbacks[request["id"]](*args))}

    reply = worker.request(message, time.monotonic() + 10, answer)
    assert reply["op"] == "returned"
    np.testing.assert_array_equal(wire.decode(reply["value"]), [2.0, 8.0])
    np.testing.assert_array_equal(wire.decode(reply["args"])[0], [-1.0, 2.0])
    np.testing.assert_array_equal(z, [1.0, 2.0])  # the grader's own array is untouched


def test_the_graders_setup_is_not_held_to_a_students_call_limit():
    """Guarding the forbidden APIs imports torch in the worker: on a loaded machine that takes
    longer than a tight per-call limit, and it once crashed whole submissions. Set-up requests
    get a worker's start-up time (within the submission's budget); student code does not."""
    from autograder.sandbox import STARTUP_SECONDS
    from autograder.session import Session

    session = Session(make_worker=None, limits=Limits(call_seconds=3),
                      deadline=time.monotonic() + 120)
    now = time.monotonic()
    assert session._deadline({"op": "exec"}) - now < 3.5
    assert session._deadline({"op": "forbid"}) - now > min(STARTUP_SECONDS, 119) - 1

"""Grade on a Dask distributed cluster: ``python -m autograder grade … --cluster ADDRESS``.

Each student is one Dask task: a worker runs the same judge and sandboxed engine as the local
path (:func:`autograder.grade._grade_student`) and sends the verdicts back as JSON text. What
a task needs travels with it as plain data — the staged notebook's cells, the instructor's
reference cells, the limits, the bytes of the files the student's code may read — and the
assignment's folder (what tests read from disk) is sent once for the whole batch; a worker needs
no ``.grading/`` folder, only the course installed (this repository and its virtual
environment, the same version: the worker refuses a different ``ENGINE_VERSION``) and
bubblewrap. Everything else stays on this machine: the resume cache (a verdict is saved here,
keyed as locally, before it is recorded; a saved one is never sent out again), and the
recording, in the one recorder thread that is the gradebook's only writer.

A worker that dies mid-task (killed, out of memory, its machine gone) loses nothing: the
scheduler runs the task again on another worker, and a student is accepted once, whatever
reaches this side twice. A task that fails for another reason gives that student the status
``crashed``, as locally.

ADDRESS is what the cluster prints as its scheduler's address:

* a local cluster: ``dask scheduler`` and ``dask worker tcp://HOST:8786`` (one worker process
  per core: ``--nworkers N --nthreads 1``), or ``distributed.LocalCluster().scheduler_address``;
* SLURM (dask-jobqueue): in a Python session on the login node that stays open,
  ``cluster = SLURMCluster(cores=1, processes=1, memory="8GB", walltime="02:00:00");
  cluster.scale(jobs=20); print(cluster.scheduler_address)``; or, with no Python session,
  ``dask scheduler --scheduler-file ~/sched.json`` and ``srun dask worker --scheduler-file
  ~/sched.json``, then ``--cluster ~/sched.json`` (a scheduler file is accepted too);
* Kubernetes beside Zero to JupyterHub (Dask Gateway): ``cluster = Gateway().new_cluster();
  cluster.scale(20); print(cluster.scheduler_address)`` gives ``gateway://HOST:PORT/NAME``;
  the grader connects to NAME through ``dask_gateway.Gateway()`` configured as on the hub
  (``DASK_GATEWAY__ADDRESS`` …), which supplies the cluster's TLS credentials. The workers'
  image must be the course's single-user image (with bubblewrap). Untested here: no gateway.

A ``tls://`` scheduler takes its certificates from Dask's configuration
(``distributed.comm.tls``), as every Dask client does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path, PurePosixPath

from autograder.grade import (
    ENGINE_VERSION,
    GraderError,
    _in_notebook_order,
    _judge_request,
    _save_verdict,
    _to_judge,
)
from autograder.inputs import regular_files
from autograder.sandbox import Limits

CONNECT_SECONDS = 10  # a scheduler answers at once; a wrong address should not keep you waiting
#: How much of a worker's log (the sandboxed worker's stderr) comes back with a verdict.
LOG_BYTES = 1 << 20
#: The sandbox slots (uid 60000 + slot, as root) of Dask tasks, apart from a local grader's.
FIRST_SLOT, SLOTS = 1000, 1000


def connect(address: str, sandboxed: bool = True):
    """A ``distributed.Client`` of the cluster at ``address``, and what sandbox its workers
    give; :class:`GraderError` (what is wrong, what to do) when it cannot be used."""
    try:
        import distributed
    except ImportError:
        raise GraderError("--cluster needs Dask's `distributed` package, which is not "
                          "installed here: pip install distributed (the version in "
                          "constraints.txt), or grade without --cluster") from None
    try:
        if address.startswith("gateway://"):
            client = _gateway_client(address)
        elif address.endswith(".json") and Path(address).expanduser().is_file():
            client = distributed.Client(scheduler_file=str(Path(address).expanduser()),
                                        timeout=CONNECT_SECONDS, set_as_default=False)
        else:
            client = distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except GraderError:
        raise
    except (OSError, TimeoutError, ValueError) as error:
        raise GraderError(
            f"cannot reach the Dask scheduler at {address} ({type(error).__name__}: {error}). "
            "Start the cluster first and give the address its scheduler prints (e.g. "
            "tcp://10.0.0.5:8786, a scheduler file, or a Dask Gateway cluster's gateway://…); "
            "see `python -m autograder grade --help`") from None
    try:
        reports = client.run(_worker_report, sandboxed, ENGINE_VERSION)
    except Exception as error:  # noqa: BLE001 - a worker without the course, for one
        client.close()
        raise GraderError(f"the Dask workers at {address} cannot grade: {error}; install "
                          "this course (same repository and virtual environment) on them"
                          ) from None
    unusable = {worker: report["problem"] for worker, report in reports.items()
                if report["problem"]}
    if unusable:
        client.close()
        listed = "; ".join(f"{worker}: {problem}" for worker, problem in sorted(unusable.items()))
        raise GraderError(f"{len(unusable)} of the {len(reports)} Dask workers at {address} "
                          f"cannot grade: {listed}. Fix them, or take them out of the cluster")
    if not reports:
        print(f"autograder: the Dask cluster at {address} has no workers yet; the "
              "submissions wait until it starts some", file=sys.stderr)
    sandbox = next(iter(reports.values()))["sandbox"] if reports else "checked on each worker"
    return client, f"on the Dask workers of {address}: {sandbox}"


def _gateway_client(address: str):
    """A client of the Dask Gateway cluster named in a ``gateway://HOST:PORT/NAME`` address."""
    try:
        from dask_gateway import Gateway
    except ImportError:
        raise GraderError("a gateway:// address needs the dask-gateway package (pip install "
                          "dask-gateway, the version of the hub's gateway)") from None
    name = PurePosixPath(address.split("://", 1)[1]).name
    try:
        return Gateway().connect(name).get_client(set_as_default=False)
    except Exception as error:  # noqa: BLE001 - the gateway says why (auth, no such cluster)
        raise GraderError(f"Dask Gateway could not connect to the cluster {name!r}: {error}. "
                          "Check DASK_GATEWAY__ADDRESS and that the cluster is running "
                          "(Gateway().list_clusters())") from None


def grade_on_cluster(client, task, students: list[str], limits: Limits, sandboxed: bool,
                     accept) -> None:
    """Grade ``students`` on the cluster; ``accept(student_id, verdicts, reused, seconds,
    error=...)`` is called exactly once for each, here, as their task finishes."""
    import distributed

    jobs, futures, shared = {}, {}, []
    try:
        for student_id in students:
            saved, pending = _to_judge(task, student_id)
            if not pending:
                accept(student_id, _in_notebook_order(task, saved), True, 0.0)
                continue
            jobs[student_id] = (saved, pending)
        if not jobs:
            return
        # The assignment's folder travels once, as a task's result each worker fetches when
        # it first needs it (not scattered: that would wait for workers, which an adaptive
        # cluster only starts once tasks are waiting).
        folder = client.submit(_as_is, _folder_bytes(task.folder), pure=False,
                               key=f"assignment-{task.name}-{uuid.uuid4().hex[:8]}")
        shared.append(folder)
        for student_id, (_, pending) in jobs.items():
            job = {
                "engine": ENGINE_VERSION, "digest": task.digest, "preload": task.preload,
                "limits": asdict(limits), "sandboxed": sandboxed,
                "files": _folder_bytes(task.work / "files" / student_id),
                "notebooks": {name: _plain_request(task, name, cells, limits, sandboxed)
                              for name, (_, cells) in pending.items()},
            }
            future = client.submit(grade_student, folder, job, pure=False,
                                   key=f"grade-{student_id}-{uuid.uuid4().hex[:8]}")
            futures[future] = student_id
        accepted: set[str] = set()
        for future in distributed.as_completed(futures, loop=client.loop):
            student_id = futures[future]
            if student_id in accepted:
                continue  # the same result twice: it was recorded the first time
            accepted.add(student_id)
            saved, pending = jobs[student_id]
            try:
                answer = json.loads(future.result())
                if set(answer["verdicts"]) != set(pending):
                    raise RuntimeError(f"the worker sent verdicts on {sorted(answer['verdicts'])}"
                                       f", not on {sorted(pending)}")
            except Exception as error:  # noqa: BLE001 - one student, never the batch
                accept(student_id, error=error)
                continue
            _keep_log(task.work / "logs" / f"{student_id}.log", answer["log"])
            verdicts = dict(saved)
            for name, verdict in answer["verdicts"].items():
                verdicts[name] = _save_verdict(task, student_id, name, verdict, pending[name][0])
            accept(student_id, _in_notebook_order(task, verdicts), False, answer["seconds"])
    finally:
        # Ctrl-C or done: nothing is left running for this grader (saved verdicts resume).
        client.cancel([*futures, *shared])
        client.close()


def _plain_request(task, name: str, cells: list, limits: Limits, sandboxed: bool) -> dict:
    """The judge's request for one notebook, but the limits (sent once per task, as data)."""
    request = _judge_request(task, name, cells, limits, sandboxed)
    del request["limits"]
    return request


def _as_is(value):
    return value


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    """The regular files under ``folder`` (no link followed), by path relative to it."""
    if not folder.is_dir():
        return {}
    return {str(path.relative_to(folder)): path.read_bytes() for path in regular_files(folder)}


def _keep_log(path: Path, text: str) -> None:
    if text:
        path.parent.mkdir(exist_ok=True)
        with open(path, "a", encoding="utf-8") as log:
            log.write(text)


# On the worker ---------------------------------------------------------------------------

_checked: dict[bool, str] = {}  # sandboxed -> this worker's sandbox, once checked
_folders: dict[str, Path] = {}  # assignment digest -> its folder on this worker
_lock = threading.Lock()


def _worker_report(sandboxed: bool, engine: str) -> dict:
    """Whether this worker can grade: its sandbox (when asked for) and engine version."""
    try:
        _same_engine(engine)
        return {"sandbox": _sandbox_here(sandboxed), "problem": ""}
    except Exception as error:  # noqa: BLE001 - reported to the grader, worker by worker
        return {"sandbox": "", "problem": str(error)}


def _same_engine(engine: str) -> None:
    if engine != ENGINE_VERSION:
        raise RuntimeError(f"this worker runs the grader's engine version {ENGINE_VERSION}, "
                           f"the grader {engine}: install the same version of the course on both")


def _sandbox_here(sandboxed: bool) -> str:
    from autograder.sandbox import check_sandbox

    with _lock:
        if sandboxed not in _checked:
            _checked[sandboxed] = check_sandbox() if sandboxed else "none (--unsafe)"
        return _checked[sandboxed]


def grade_student(folder: dict[str, bytes], job: dict) -> str:
    """One student's notebooks graded on this worker: JSON text of ``{"verdicts": {notebook:
    verdict}, "log": text, "seconds": s}``."""
    from distributed import get_worker

    from autograder import judge

    _same_engine(job["engine"])
    began = time.monotonic()
    _sandbox_here(job["sandboxed"])
    _allow_children()
    # In the worker's own folder, which Dask removes with the worker (even one killed).
    space = get_worker().local_directory
    cwd = _assignment_folder(space, job["digest"], folder)
    judge.preload(job["preload"])
    limits = Limits(**job["limits"])
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="task-", dir=space) as scratch, \
            _sandbox_slot() as slot:
        files, log = Path(scratch) / "files", Path(scratch) / "log"
        _write_files(files, job["files"])
        for name, request in job["notebooks"].items():
            started = time.monotonic()
            verdict = judge.judge({**request, "limits": limits, "slot": slot,
                                   "files": str(files), "log": str(log), "cwd": str(cwd)},
                                  timeout=limits.submission_seconds + 60)
            verdict["judge_seconds"] = round(time.monotonic() - started, 3)
            verdicts[name] = verdict
        text = log.read_bytes()[-LOG_BYTES:].decode("utf-8", "replace") if log.is_file() else ""
    return json.dumps({"verdicts": verdicts, "log": text,
                       "seconds": round(time.monotonic() - began, 3)})


def _allow_children() -> None:
    """Let this task start judge processes: Dask starts its worker processes as daemons,
    which multiprocessing forbids to have children. The judge is killed and joined by
    :func:`autograder.judge.judge` itself, so nothing outlives the task."""
    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False


def _assignment_folder(space: str, digest: str, files: dict[str, bytes]) -> Path:
    """The assignment's folder (the judge's working directory), written once per worker."""
    with _lock:
        if digest not in _folders:
            folder = Path(tempfile.mkdtemp(prefix=f"assignment-{digest[:12]}-", dir=space))
            _write_files(folder, files)
            _folders[digest] = folder
        return _folders[digest]


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for relative, data in files.items():
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise ValueError(f"not a path inside the folder: {relative!r}")
        path = folder.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@contextlib.contextmanager
def _sandbox_slot():
    """A sandbox slot no other task on this machine holds: as root, each slot is a uid of its
    own, whose process limit must count one student's processes only."""
    if os.getuid() != 0:
        yield FIRST_SLOT  # (the sandbox uses the slot only as root)
        return
    locks = Path(tempfile.gettempdir()) / "autograder-slots"
    locks.mkdir(mode=0o700, exist_ok=True)
    for slot in range(FIRST_SLOT, FIRST_SLOT + SLOTS):
        handle = open(locks / str(slot), "a")  # noqa: SIM115 - held for the task, closed below
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield slot
        finally:
            handle.close()  # (the lock goes with it; and with the process, if it dies)
        return
    raise RuntimeError(f"all {SLOTS} sandbox slots of this machine are in use")

"""Grading on a Dask cluster (``--cluster``): two worker processes on loopback.

The same class gets the same grades on the cluster as on the local path, and a worker killed
in the middle of a student's grading loses no student and records none twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import distributed
import nbformat
import pytest
from corpus import CHAPTER, WRONG_RELU
from nbtools import (
    ROOT,
    fill_in,
    grade_command,
    read,
    read_grades,
    run_tool,
    solution_sources,
    tool_env,
)

pytestmark = pytest.mark.usefixtures("sandbox")

RELEASE = read(ROOT / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb")
ANSWERS = solution_sources(read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"))
FAST = ["--timeout", "5", "--submission-timeout", "120", "--memory", "2048"]
SLEEP = "import time\ntime.sleep({seconds})"


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded worker processes on 127.0.0.1; a client of it."""
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address="127.0.0.1:0") as local, \
            distributed.Client(local) as client:
        yield local, client


def write(folder: Path, student: str, answers: dict | None = None, extra_cells=()) -> None:
    """A student's notebook: the release with ``answers`` filled in (None: left a stub)."""
    notebook = fill_in(RELEASE, answers or {})
    notebook.cells = [*notebook.cells, *map(nbformat.v4.new_code_cell, extra_cells)]
    (folder / student).mkdir(parents=True)
    nbformat.write(notebook, folder / student / f"{CHAPTER}.ipynb")


def gradebook_rows(work: Path) -> list[tuple[str, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{work / 'gradebook.db'}", "descent") as gradebook:
        return sorted((s.student.id, float(s.score))
                      for s in gradebook.find_assignment(CHAPTER).submissions)


def test_the_cluster_grades_as_the_local_path(cluster, tmp_path):
    local_cluster, _ = cluster
    subs = tmp_path / "subs"
    write(subs, "correct", ANSWERS)
    write(subs, "stub")
    write(subs, "wrong_relu", {**ANSWERS, "relu": WRONG_RELU})

    def grade(name: str, *options: str) -> dict[str, dict]:
        began = time.monotonic()
        result = run_tool(grade_command(CHAPTER, subs, tmp_path / name / "out",
                                        tmp_path / name / "work", *FAST, *options))
        assert result.returncode == 0, result.stdout + result.stderr
        print(f"{name}: {time.monotonic() - began:.1f} s")
        return {student: (row["score"], row["status"])
                for student, row in read_grades(tmp_path / name / "out").items()}

    local = grade("local", "--workers", "1")
    on_cluster = grade("cluster", "--cluster", local_cluster.scheduler_address)
    assert on_cluster == local
    full = read_grades(tmp_path / "local" / "out")["correct"]["max_score"]
    assert on_cluster["correct"] == (full, "graded") and on_cluster["stub"] == ("0", "graded")
    assert float(on_cluster["wrong_relu"][0]) < float(full)
    assert gradebook_rows(tmp_path / "cluster" / "work") == gradebook_rows(
        tmp_path / "local" / "work")


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(cluster, tmp_path):
    local_cluster, client = cluster
    subs = tmp_path / "subs"
    students = ["s0", "s1"]
    for student in students:  # each keeps a worker busy for a while
        write(subs, student, ANSWERS, [SLEEP.format(seconds=3)])
    work = tmp_path / "work"
    grader = subprocess.Popen(
        grade_command(CHAPTER, subs, tmp_path / "out", work, *FAST,
                      "--cluster", local_cluster.scheduler_address),
        cwd=ROOT, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (busy := [worker for worker, keys in client.processing().items()
                            if any(str(key).startswith("grade-") for key in keys)]):
            assert time.monotonic() < deadline and grader.poll() is None, "no task started"
            time.sleep(0.1)
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        time.sleep(1.5)  # into the student's grading: the judge and the sandbox are running
        os.kill(pid, signal.SIGKILL)
        output, _ = grader.communicate(timeout=240)
    finally:
        if grader.poll() is None:
            grader.kill()
    assert grader.returncode == 0, output
    started = [key for key in client.run_on_scheduler(_started_tasks)
               if key.rsplit("-", 1)[0].removeprefix("grade-") in students]
    assert len(started) > len(set(started)) == len(students), "no task was run twice"
    rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()[1:]
    assert sorted(row.split(",")[0] for row in rows) == students  # each once, none lost
    grades = read_grades(tmp_path / "out")
    assert {s: grades[s]["status"] for s in students} == dict.fromkeys(students, "graded")
    assert all(grades[s]["score"] == grades[s]["max_score"] for s in students), grades
    assert gradebook_rows(work) == [(s, float(grades[s]["score"])) for s in students]
    assert len(list(work.glob("verdicts/*/*.json"))) == len(students)


def _started_tasks(dask_scheduler) -> list[str]:
    """The grading tasks the scheduler sent to a worker, once per time (run on it)."""
    return [str(key) for key, _, finish, *_ in dask_scheduler.transition_log
            if finish == "processing" and str(key).startswith("grade-")]


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch):
    from autograder import cluster
    from autograder.grade import GraderError

    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1)
    with pytest.raises(GraderError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0"
                                          r"\.1:1 .*Start the cluster first"):
        cluster.connect("tcp://127.0.0.1:1")


def test_workers_of_another_grader_version_are_refused(cluster, monkeypatch):
    from autograder import cluster as on_cluster
    from autograder.grade import GraderError

    monkeypatch.setattr(on_cluster, "ENGINE_VERSION", "an older one")
    with pytest.raises(GraderError, match=r"2 of the 2 Dask workers .* cannot grade: .*engine "
                                          r"version .*install the same version"):
        on_cluster.connect(cluster[0].scheduler_address)

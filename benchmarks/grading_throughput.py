"""Grading throughput, side by side in one run, on the same generated class, with feedback.

    .venv/bin/python benchmarks/grading_throughput.py [--students 40] [--chapter 01_activations]
                                                      [--no-plain] [--no-dask]

The class: a third correct, a third with one wrong function, a third stubs. Graded by
1. plain nbgrader: ``nbgrader autograde`` then ``nbgrader generate_feedback`` (every notebook
   run in a Jupyter kernel; generate_assignment, done first, is not counted);
2. ``python -m autograder grade --workers 1`` and ``--workers 2`` (the whole command:
   sandboxed workers, nbgrader's gradebook, feedback, the class report);
3. the same command with ``--cluster`` on a local Dask cluster (``distributed.LocalCluster``)
   of 1 and of 2 worker processes, one thread each, started here before the timing starts.
For each: submissions per minute, core-seconds per submission and the ratio to plain nbgrader.

Core-seconds are user + system CPU time, from ``getrusage`` of this process and of its waited-for
descendants: this process is made their "subreaper" (Linux), so that the processes that outlive
their parent (the grader's fork server and its judges, nbgrader's kernels, the Dask workers'
children) are reaped here and counted too. This process's own share includes the Dask
scheduler and nannies in the cluster rows. Run it on an otherwise idle machine
(``OMP_NUM_THREADS=1``): the wall-clock figures share the cores with whatever else runs.
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.nbcells import grade_id, nbgrader_meta

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
PR_SET_CHILD_SUBREAPER = 36


def make_class(chapter: str, students: int, folder: Path) -> None:
    """``students`` submissions of ``chapter``: correct, one function wrong, untouched."""
    source = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "notebooks" / chapter / f"{chapter}.ipynb", as_version=4)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    answers = {grade_id(cell): "\n".join(line for line in cell.source.splitlines()
                                         if line.strip() not in markers)
               for cell in source.cells
               if cell.cell_type == "code" and nbgrader_meta(cell).get("solution")}
    first = next(iter(answers))
    wrong = {**answers, first: answers[first].replace("return", "return 0 *", 1)}
    kinds = [_answered(release, answers), _answered(release, wrong), release]
    for index in range(students):
        student = folder / f"student{index:03d}"
        student.mkdir(parents=True)
        nbformat.write(kinds[index % 3], student / f"{chapter}.ipynb")


def _answered(release, answers: dict[str, str]):
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def _cpu_seconds() -> float:
    """User + system CPU of this process and of every descendant reaped so far."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _reap_orphans(patience: float = 30.0) -> None:
    """Wait for the descendants that were left to this process (see the module docstring)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid == 0:
            time.sleep(0.05)


class Measured:
    """Wall-clock and core-seconds of what runs inside the ``with``; ``reap``: wait for the
    orphaned descendants at the end (not while this process's own Dask workers run)."""

    def __init__(self, reap: bool = True):
        self.reap = reap

    def __enter__(self):
        self.cpu, self.started = _cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.started
        if self.reap:
            _reap_orphans()
        self.core_seconds = _cpu_seconds() - self.cpu


def plain_nbgrader(chapter: str, submissions: Path, work: Path) -> Measured:
    shutil.copytree(ROOT / "solutions" / chapter, work / "source" / chapter)
    for student in submissions.iterdir():
        shutil.copytree(student, work / "submitted" / student.name / chapter)
    config = [f"--CourseDirectory.root={work}",
              f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}"]
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", chapter, "--force", *config],
                   cwd=work, env=ENV, check=True, capture_output=True)
    with Measured() as measured:
        for step in ("autograde", "generate_feedback"):
            subprocess.run([*nbgrader, step, chapter, "--force", *config],
                           cwd=work, env=ENV, check=True, capture_output=True)
    return measured


def ours(chapter: str, submissions: Path, work: Path, *options: str,
         reap: bool = True) -> Measured:
    with Measured(reap) as measured:
        subprocess.run([sys.executable, "-m", "autograder", "grade", chapter, str(submissions),
                        "--out", str(work / "out"), "--work", str(work / "course"), *options],
                       cwd=ROOT, env=ENV, check=True, capture_output=True)
    pages = list((work / "out" / "feedback").glob("*.html"))
    if len(pages) != len(list(submissions.iterdir())):
        raise SystemExit(f"{work.name}: {len(pages)} feedback pages, not one per student")
    return measured


def on_local_dask(chapter: str, submissions: Path, work: Path, processes: int) -> Measured:
    """``--cluster`` on a local cluster of ``processes`` workers: the wall-clock time is the
    grading command's; the core-seconds add the workers' (this process's children, reaped
    once the cluster is closed), their start and stop included."""
    from distributed import LocalCluster

    cpu = _cpu_seconds()
    with LocalCluster(n_workers=processes, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        measured = ours(chapter, submissions, work, "--cluster", cluster.scheduler_address,
                        reap=False)
    _reap_orphans()
    measured.core_seconds = _cpu_seconds() - cpu
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--chapter", default="01_activations")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader (slow)")
    parser.add_argument("--no-dask", action="store_true", help="skip the local Dask clusters")
    args = parser.parse_args()
    subreaper = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    runs: dict[str, Measured] = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        submissions = scratch / "submissions"
        make_class(args.chapter, args.students, submissions)
        if not args.no_plain:
            runs["plain nbgrader"] = plain_nbgrader(args.chapter, submissions, scratch / "plain")
        for workers in (1, 2):
            runs[f"ours, --workers {workers}"] = ours(
                args.chapter, submissions, scratch / f"local{workers}", "--workers", str(workers))
        for processes in () if args.no_dask else (1, 2):
            runs[f"ours, Dask, {processes} worker(s)"] = on_local_dask(
                args.chapter, submissions, scratch / f"dask{processes}", processes)
    print(f"{args.students} submissions of {args.chapter} with feedback, "
          f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    plain = runs.get("plain nbgrader")
    for name, run in runs.items():
        ratio = f"  ×{plain.wall / run.wall:.2f} plain" if plain else ""
        print(f"  {name:26s} {run.wall:7.1f} s  {args.students / run.wall * 60:6.1f} "
              f"submissions/min  {run.core_seconds / args.students:5.2f} core-s/submission"
              f"{ratio}")
    if not subreaper:
        print("  (not a subreaper here: the CPU of processes that outlived their parent, the "
              "judges and the Dask workers' children, is missing from core-seconds)")


if __name__ == "__main__":
    main()

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

Core-seconds are the machine's busy CPU time during the run (user, system, interrupts, from
``/proc/stat``), which is the only count that sees the sandboxed workers: each runs in a PID
namespace whose first process dies with it, so no ``getrusage`` of ours ever collects their
CPU, and the kernel's own work for them (namespaces, mounts) is nobody's child either. It also
counts whatever else runs: use an otherwise idle machine (``OMP_NUM_THREADS=1``), where the
wall-clock figures are meaningful too.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Nothing heavy is imported at the top: the judges of a local Dask cluster's workers (whose
# main module this script is) import this module again, each of them.
from autograder.course import venv_first_path  # light: no nbgrader until a Course is made

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PATH": venv_first_path()}


def make_class(chapter: str, students: int, folder: Path) -> None:
    """``students`` submissions of ``chapter``: correct, one function wrong, untouched."""
    import nbformat

    from autograder.nbcells import grade_id, nbgrader_meta

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
    from autograder.nbcells import grade_id, nbgrader_meta

    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        if nbgrader_meta(cell).get("solution") and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def _busy_seconds() -> float:
    """CPU time the whole machine has spent busy since it started (every core, every state
    but idle and waiting for I/O), from the first line of ``/proc/stat``."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / os.sysconf("SC_CLK_TCK")


class Measured:
    """Wall-clock and busy core-seconds of what runs inside the ``with``."""

    def __enter__(self):
        self.cpu, self.started = _busy_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.started
        self.core_seconds = _busy_seconds() - self.cpu


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


def ours(chapter: str, submissions: Path, work: Path, *options: str) -> Measured:
    with Measured() as measured:
        subprocess.run([sys.executable, "-m", "autograder", "grade", chapter, str(submissions),
                        "--out", str(work / "out"), "--work", str(work / "course"), *options],
                       cwd=ROOT, env=ENV, check=True, capture_output=True)
    pages = list((work / "out" / "feedback").glob("*.html"))
    if len(pages) != len(list(submissions.iterdir())):
        raise SystemExit(f"{work.name}: {len(pages)} feedback pages, not one per student")
    return measured


def on_local_dask(chapter: str, submissions: Path, work: Path, processes: int) -> Measured:
    """``--cluster`` on a local cluster of ``processes`` workers: the wall-clock time is the
    grading command's; the core-seconds add the cluster's start and stop."""
    from distributed import LocalCluster

    cpu = _busy_seconds()
    with LocalCluster(n_workers=processes, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        measured = ours(chapter, submissions, work, "--cluster", cluster.scheduler_address)
    measured.core_seconds = _busy_seconds() - cpu
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--chapter", default="01_activations")
    parser.add_argument("--no-plain", action="store_true", help="skip plain nbgrader (slow)")
    parser.add_argument("--no-dask", action="store_true", help="skip the local Dask clusters")
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

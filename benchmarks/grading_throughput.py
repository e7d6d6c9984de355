"""Grading throughput, three ways in one run, on the same generated class.

    .venv/bin/python benchmarks/grading_throughput.py [--students 40] [--chapter 01_activations]

The class: a third correct, a third with one wrong function, a third stubs. Graded by
1. plain ``nbgrader autograde`` (every notebook run in a Jupyter kernel; timed alone,
   without generate_assignment or feedback);
2. ``python -m autograder grade --workers 1`` (whole command: sandboxed workers,
   nbgrader's gradebook, feedback);
3. the same with ``--workers`` = the number of cores.
Prints submissions per minute for each and the ratios to plain nbgrader.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from nbtools import fill_in, read, solution_sources  # noqa: E402

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def make_class(chapter: str, students: int, folder: Path) -> None:
    source = read(ROOT / "solutions" / chapter / f"{chapter}.ipynb")
    release = read(ROOT / "notebooks" / chapter / f"{chapter}.ipynb")
    answers = solution_sources(source)
    first = next(iter(answers))
    kinds = [
        fill_in(release, answers),
        fill_in(release, {**answers, first: answers[first].replace("return", "return 0 *", 1)}),
        release,
    ]
    for index in range(students):
        student = folder / f"student{index:03d}"
        student.mkdir(parents=True)
        nbformat.write(kinds[index % 3], student / f"{chapter}.ipynb")


def plain_nbgrader(chapter: str, submissions: Path, work: Path) -> float:
    shutil.copytree(ROOT / "solutions" / chapter, work / "source" / chapter)
    for student in submissions.iterdir():
        shutil.copytree(student, work / "submitted" / student.name / chapter)
    config = [f"--CourseDirectory.root={work}",
              f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}"]
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", chapter, "--force", *config],
                   cwd=work, env=ENV, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run([*nbgrader, "autograde", chapter, "--force", *config],
                   cwd=work, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def ours(chapter: str, submissions: Path, work: Path, workers: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", chapter, str(submissions),
                    "--out", str(work / "out"), "--work", str(work / "course"),
                    "--workers", str(workers)],
                   cwd=ROOT, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--chapter", default="01_activations")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_class(args.chapter, args.students, scratch / "submissions")
        seconds = {
            "plain nbgrader autograde": plain_nbgrader(
                args.chapter, scratch / "submissions", scratch / "plain"),
            "ours, --workers 1": ours(args.chapter, scratch / "submissions", scratch / "one", 1),
            f"ours, --workers {cores}": ours(
                args.chapter, scratch / "submissions", scratch / "all", cores),
        }
    print(f"{args.students} submissions of {args.chapter} on {cores} cores")
    plain = seconds["plain nbgrader autograde"]
    for name, taken in seconds.items():
        print(f"  {name:28s} {taken:7.1f} s  {args.students / taken * 60:6.1f} submissions/min"
              f"  ×{plain / taken:.2f} plain")


if __name__ == "__main__":
    main()

"""Grading throughput: plain `nbgrader autograde` vs `python -m autograder grade`, one run.

    .venv/bin/python benchmarks/grading_throughput.py [--students 12] [--chapter 01_activations]

Generates a class (a third correct, a third with one wrong function, a third stubs),
grades it both ways on the same machine, one after the other, and prints
submissions per minute and the ratio. Today's grader runs nbgrader once per student
(so one bad notebook cannot stop the batch), which costs an nbgrader start-up each.
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


def ours(chapter: str, submissions: Path, work: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "grade", chapter, str(submissions),
                    "--out", str(work / "out"), "--work", str(work / "course")],
                   cwd=ROOT, env=ENV, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--chapter", default="01_activations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        make_class(args.chapter, args.students, scratch / "submissions")
        plain = plain_nbgrader(args.chapter, scratch / "submissions", scratch / "plain")
        course = ours(args.chapter, scratch / "submissions", scratch / "ours")
    per_minute = {"plain nbgrader autograde": args.students / plain * 60,
                  "python -m autograder (1 worker, + feedback)": args.students / course * 60}
    print(f"{args.students} submissions of {args.chapter} on {os.cpu_count()} cores")
    for name, rate in per_minute.items():
        print(f"  {name:45s} {rate:6.1f} submissions/min")
    print(f"  ratio ours / plain: {plain / course:.2f}")


if __name__ == "__main__":
    main()

"""Command line: ``python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.grade import GraderError, grade


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade a class's submissions of one assignment with nbgrader.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    grade_cmd = commands.add_parser(
        "grade",
        help="autograde every submission and write grades.csv, report.json and feedback/",
        description=(
            "SUBMISSIONS is a folder holding one folder per student, named by student id, "
            "each with the student's notebook (e.g. alice/01_activations.ipynb)."
        ),
    )
    grade_cmd.add_argument(
        "assignment", help="assignment id, a folder of solutions/, e.g. 01_activations"
    )
    grade_cmd.add_argument("submissions", type=Path, help="folder of <student_id>/<notebook>.ipynb")
    grade_cmd.add_argument("--out", type=Path, required=True, help="where to write the results")
    grade_cmd.add_argument(
        "--work",
        type=Path,
        default=None,
        help="nbgrader working folder (default: .grading/<assignment> in the repository)",
    )
    grade_cmd.add_argument(
        "--db", default=None, help="gradebook SQLAlchemy URL (default: SQLite in --work)"
    )
    grade_cmd.add_argument("--timeout", type=int, default=300, help="seconds per notebook cell run")
    args = parser.parse_args(argv)

    try:
        results = grade(
            args.assignment, args.submissions, args.out,
            work=args.work, db_url=args.db, timeout=args.timeout,
        )
    except GraderError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    graded = sum(r.status == "graded" for r in results)
    print(f"autograder: {graded}/{len(results)} submissions graded; see {args.out}/grades.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())

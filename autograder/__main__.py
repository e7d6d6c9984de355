"""``python -m autograder grade ASSIGNMENT SUBMISSIONS --out DIR [--workers N] [--db URL]
[--cluster ADDRESS]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from autograder.lazy_imports import defer_iri_grammar

defer_iri_grammar()  # before anything imports jsonschema

from autograder import hubcourse, lms  # noqa: E402
from autograder import report as class_report  # noqa: E402
from autograder.grade import GraderError, grade  # noqa: E402
from autograder.history import SCORED  # noqa: E402
from autograder.inputs import __doc__ as SHAPES  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade a class's submissions of one assignment: students' code runs in "
                    "a sandbox, the tests run outside it, nbgrader keeps the gradebook.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    grade_cmd = commands.add_parser(
        "grade",
        help="grade every submission and write grades.csv, report.json and feedback/",
        description=SHAPES.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade_cmd.add_argument(
        "assignment", help="assignment id, a folder of solutions/, e.g. 01_activations")
    grade_cmd.add_argument("submissions", type=Path, nargs="?",
                           help="folder of <student_id>/ folders, <student_id>.zip or "
                                "<student_id>.ipynb files, or an LMS bulk .zip "
                                "(with --course: what nbgrader collected)")
    grade_cmd.add_argument(
        "--course", type=Path, default=None, metavar="DIR",
        help="an nbgrader course on a hub (make hub): grade DIR/submitted (what collect "
             "gathered) against DIR/source, record in the gradebook its nbgrader_config.py "
             "names, and release each student's feedback through nbgrader's exchange")
    grade_cmd.add_argument("--out", type=Path, required=True, help="where to write the results")
    grade_cmd.add_argument("--workers", type=int, default=None,
                           help="submissions graded at once (default: the number of cores)")
    grade_cmd.add_argument(
        "--cluster", default=None, metavar="ADDRESS",
        help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786 from `dask "
             "scheduler` or a LocalCluster; dask-jobqueue's SLURMCluster().scheduler_address "
             "or a --scheduler-file JSON; a Dask Gateway cluster's gateway://HOST:PORT/NAME). "
             "Its workers need this course installed and bubblewrap; the gradebook stays here "
             "(see autograder/cluster.py)")
    grade_cmd.add_argument("--db", default=None,
                           help="gradebook SQLAlchemy URL, e.g. postgresql://user@host/db "
                                "(default: SQLite in --work)")
    grade_cmd.add_argument("--source", type=Path, default=None,
                           help="the assignment's folder (its notebooks and the files beside "
                                "them), for an assignment outside solutions/")
    grade_cmd.add_argument("--site-url", default=None,
                           help="the course website's address (e.g. https://course.example.edu/"
                                "descent): feedback and the class report link to its sections")
    grade_cmd.add_argument("--work", type=Path, default=None,
                           help="grader's course folder (default: .grading/<assignment>)")
    defaults = Limits()
    grade_cmd.add_argument("--timeout", type=float, default=defaults.call_seconds,
                           help="seconds for one cell or one call of a student's function "
                                "(default %(default)g)")
    grade_cmd.add_argument("--submission-timeout", type=float,
                           default=defaults.submission_seconds,
                           help="seconds for all of one student's work (default %(default)g)")
    grade_cmd.add_argument("--memory", type=int, default=defaults.memory_bytes >> 20,
                           help="MiB of memory a student's code may use (default %(default)d)")
    lms.add_options(grade_cmd)
    grade_cmd.add_argument("--unsafe", action="store_true",
                           help="run students' code without a sandbox (only for code you "
                                "trust; refused otherwise when bubblewrap is missing)")
    check_cmd = commands.add_parser(
        "check", help="list the tests of an assignment a student could forge, and why",
        description="Read the assignment's notebooks (nothing is run) and report the tests "
                    "whose verdict the student's code could decide, with how to fix each.")
    check_cmd.add_argument("assignment", help="assignment id, a folder of solutions/")
    check_cmd.add_argument("--source", type=Path, default=None,
                           help="the assignment's folder, for one outside solutions/")
    report_cmd = commands.add_parser(
        "report", help="write OUT/report.html, the class report, from OUT/report.json",
        description="The class report: score distribution, per-task pass rates and "
                    "misconceptions, submissions that failed and why, similar pairs, earlier "
                    "runs. One self-contained HTML file (no network needed).")
    class_report.add_arguments(report_cmd)
    lms_cmd = commands.add_parser(
        "lms", help="write a results folder's grades again in Canvas's and Moodle's import "
                    "formats", description=lms.DESCRIPTION)
    lms.add_arguments(lms_cmd)
    args = parser.parse_args(argv)
    if args.command == "lms":
        return lms.run(args)
    if args.command == "report":
        return class_report.run(args)
    if args.command == "check":
        return _check(args.assignment, args.source)

    limits = Limits(call_seconds=args.timeout, submission_seconds=args.submission_timeout,
                    memory_bytes=args.memory << 20)
    course = None
    try:
        if args.course is not None:
            course = hubcourse.open_course(args.course)
            args.submissions = args.submissions or course.submitted
            args.source = args.source or course.root / "source" / args.assignment
            args.db = args.db or course.db_url
            args.work = args.work or course.root / ".autograder" / args.assignment
        elif args.submissions is None:
            parser.error("give SUBMISSIONS (or --course DIR)")
        results = grade(args.assignment, args.submissions, args.out, work=args.work,
                        db_url=args.db, workers=args.workers, limits=limits, unsafe=args.unsafe,
                        source=args.source, site_url=args.site_url,
                        canvas_gradebook=args.canvas_gradebook,
                        moodle_worksheet=args.moodle_worksheet, canvas_column=args.canvas_column,
                        cluster=args.cluster)
        if course is not None:
            notebooks = sorted(p.stem for p in args.source.glob("*.ipynb"))
            released = hubcourse.release_feedback(
                course, args.assignment, notebooks, args.out,
                [r.student_id for r in results if r.status in SCORED])
            print(f"autograder: feedback released through the exchange to {len(released)} "
                  "students (they fetch it in the Assignment List)", file=sys.stderr)
    except (GraderError, hubcourse.HubCourseError) as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autograder: interrupted; the verdicts reached are saved: run the same command "
              "again to resume", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)  # not waiting for grading threads; workers die with this process
    statuses = Counter(r.status for r in results)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    print(f"autograder: {len(results)} submissions: {counts}; see {args.out}/grades.csv "
          f"and {args.out}/report.html")
    return 0


def _check(assignment: str, source: Path | None) -> int:
    from autograder.check import check_assignment, format_findings
    from autograder.grade import find_source

    try:
        findings = check_assignment(find_source(assignment, source))
    except GraderError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - an unreadable notebook: say which, and why
        print(f"autograder: cannot read the assignment: {type(error).__name__}: {error}",
              file=sys.stderr)
        return 2
    print(format_findings(findings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Earlier runs of an assignment, kept in the gradebook's database: the class report compares
this run's scores, pass rates and misconceptions with them.

A summary of each finished run goes into a table of our own, ``autograder_runs`` (created
when missing, beside nbgrader's tables and never touching them), in the database the grader
already uses (``db_url``: SQLite or PostgreSQL, through SQLAlchemy)::

    autograder_runs(id, assignment, finished, summary)   summary: JSON, see summary()

The grader calls :func:`record` once a run's report.json is written: it returns the earlier
runs (for report.json's ``history``) and saves this one.
"""

from __future__ import annotations

import json
import statistics
import sys
from datetime import UTC, datetime

import sqlalchemy as sa

TABLE = "autograder_runs"
_metadata = sa.MetaData()
RUNS = sa.Table(
    TABLE, _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("assignment", sa.String(255), nullable=False, index=True),
    sa.Column("finished", sa.String(64), nullable=False),  # ISO 8601, as in report.json
    sa.Column("summary", sa.Text, nullable=False),  # JSON
)
#: Statuses whose score comes from the tests (the others score 0 without being graded).
SCORED = ("graded", "timeout", "forbidden")


def summary(report: dict) -> dict:
    """What is kept of a run (report.json's content): when it finished, how many students and
    in which status, the scores of the scored submissions, each test's pass counts, and how
    many students each misconception was found in."""
    students = list((report.get("students") or {}).values())
    tests: dict[str, dict] = {}
    misconceptions: dict[str, int] = {}
    for student in students:
        found = set()
        for test_id, test in (student.get("tests") or {}).items():
            counts = tests.setdefault(test_id, {"passed": 0, "failed": 0,
                                                "max_score": test.get("max_score", 0.0)})
            counts["passed" if test.get("passed") else "failed"] += 1
            found |= set(test.get("misconceptions") or [])
        for tag in found:
            misconceptions[tag] = misconceptions.get(tag, 0) + 1
    statuses: dict[str, int] = {}
    for student in students:
        statuses[student.get("status", "?")] = statuses.get(student.get("status", "?"), 0) + 1
    scores = [float(s.get("score") or 0.0) for s in students if s.get("status") in SCORED]
    return {
        "finished": (report.get("run") or {}).get("finished") or _now(),
        "students": len(students),
        "statuses": statuses,
        "max_score": float(report.get("max_score") or 0.0),
        "scores": sorted(scores),
        "mean": round(statistics.fmean(scores), 3) if scores else None,
        "tests": tests,
        "misconceptions": misconceptions,
    }


def save_run(db_url: str, assignment: str, summary: dict) -> None:
    """Keep one run's summary (see :func:`summary`) in the gradebook's database."""
    engine = _engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(RUNS.insert().values(
                assignment=assignment, finished=str(summary.get("finished") or _now()),
                summary=json.dumps(summary)))
    finally:
        engine.dispose()


def earlier_runs(db_url: str, assignment: str, limit: int = 5) -> list[dict]:
    """The summaries of the assignment's last ``limit`` runs, newest first (each with its
    ``id``); [] when there are none."""
    engine = _engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(RUNS.c.id, RUNS.c.summary).where(RUNS.c.assignment == assignment)
                .order_by(RUNS.c.finished.desc(), RUNS.c.id.desc()).limit(limit)).all()
    finally:
        engine.dispose()
    runs = []
    for run_id, text in rows:
        try:
            runs.append({**json.loads(text), "id": run_id})
        except ValueError:
            continue  # a summary someone edited by hand: left out, not fatal
    return runs


def record(db_url: str, report: dict, limit: int = 5) -> list[dict]:
    """The earlier runs of the report's assignment (newest first), then this run saved among
    them. A database that cannot be used costs the comparison, never the grades: it is said
    on stderr and [] returned."""
    assignment = str(report.get("assignment", ""))
    try:
        earlier = earlier_runs(db_url, assignment, limit)
        save_run(db_url, assignment, summary(report))
    except (sa.exc.SQLAlchemyError, OSError, TypeError, ValueError) as error:
        print(f"autograder: earlier runs not kept or read ({type(error).__name__}: "
              f"{str(error).splitlines()[0][:300]})", file=sys.stderr)
        return []
    return earlier


def _engine(db_url: str) -> sa.Engine:
    engine = sa.create_engine(db_url)
    try:
        _metadata.create_all(engine, tables=[RUNS], checkfirst=True)
    except sa.exc.SQLAlchemyError:
        # Two graders creating the table at once on PostgreSQL: the loser finds it made.
        _metadata.create_all(engine, tables=[RUNS], checkfirst=True)
    return engine


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

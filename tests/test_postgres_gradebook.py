"""The grader's gradebook (nbgrader, through SQLAlchemy) on a real PostgreSQL server.

The grader defaults to SQLite; these tests check that the same gradebook calls work on PostgreSQL.
The server comes from the `postgres_url` fixture (conftest.py): skipped where PostgreSQL cannot
start, failed under CI.
"""

import os
import threading

import pytest
from nbgrader.api import Gradebook
from nbtools import BIN

COURSE = "descent"


@pytest.fixture(scope="module")
def gradebook_url(postgres_url):
    """The server's database with the gradebook's tables and course, created once (a few
    seconds: nbgrader runs `alembic` from PATH then). Writers must not race to create them:
    two Gradebooks opened at once on an empty PostgreSQL database collide in CREATE TYPE."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(BIN), prepend=os.pathsep)
        Gradebook(postgres_url, COURSE).close()
    return postgres_url


def test_assignment_and_student_round_trip(gradebook_url):
    with Gradebook(gradebook_url, COURSE) as gradebook:
        gradebook.add_assignment("round_trip")
        gradebook.add_student("ada", first_name="Ada", last_name="Lovelace")

    with Gradebook(gradebook_url, COURSE) as gradebook:  # a new connection: it was committed
        assert gradebook.find_assignment("round_trip").course_id == COURSE
        student = gradebook.find_student("ada")
        assert (student.first_name, student.last_name) == ("Ada", "Lovelace")


def test_concurrent_writers_each_with_their_own_gradebook(gradebook_url):
    names = ["writer_a", "writer_b"]
    all_started = threading.Barrier(len(names))
    errors = []

    def write(student_id):
        try:
            with Gradebook(gradebook_url, COURSE) as gradebook:  # one per thread, never shared
                all_started.wait(timeout=10)
                gradebook.add_student(student_id)
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(f"{student_id}: {error!r}")

    threads = [threading.Thread(target=write, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    with Gradebook(gradebook_url, COURSE) as gradebook:
        assert set(names) <= {student.id for student in gradebook.students}

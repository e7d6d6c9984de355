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


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_graders_never_write_the_gradebook_at_once(database, tmp_path, request):
    """nbgrader's generate_assignment removes and re-adds a notebook that has no submission
    yet: run while another grader records a student, it would delete that student's work.
    The graders of one gradebook take turns (GradebookLock), on SQLite and PostgreSQL."""
    from autograder.course import GradebookLock

    url = (f"sqlite:///{tmp_path / 'gradebook.db'}" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    first, second = (GradebookLock(url, tmp_path / side, "01_activations") for side in "ab")
    order = []

    def other_grader():
        with second.held():
            order.append("second")

    try:
        with first.held():
            waiting = threading.Thread(target=other_grader)
            waiting.start()
            waiting.join(timeout=1.0)
            assert waiting.is_alive(), "the second grader wrote while the first held the lock"
            order.append("first")
        waiting.join(timeout=30)
        assert order == ["first", "second"]
    finally:
        first.close()
        second.close()

import os
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

# The tests import their shared helpers (tests/nbtools.py) as a plain module.
sys.path.insert(0, str(Path(__file__).parent))

from pgserver import PostgresUnavailable, running_postgres  # noqa: E402  (needs the line above)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """SQLAlchemy URL of a fresh PostgreSQL database on 127.0.0.1, shared by the session.

    Skips when no server can be started here, but fails under CI (CI set, non-empty): CI installs
    PostgreSQL, so a server that does not start there is a bug to see, never a silent skip."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(running_postgres(tmp_path_factory.mktemp("pg")))
        except PostgresUnavailable as error:
            reason = error.reason
        else:
            yield url
            return
    # Out of the except block, so that the report shows the reason once, not an exception chain.
    message = f"PostgreSQL server could not start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def sandbox():
    """The grader's sandbox (bubblewrap) works here; skipped where it cannot, failed under CI."""
    from autograder.sandbox import SandboxUnavailable, check_sandbox

    try:
        return check_sandbox()
    except SandboxUnavailable as error:
        reason = str(error)
    message = f"the grading sandbox is unavailable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)

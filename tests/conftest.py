import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

# The tests import their shared helpers (tests/nbtools.py) as a plain module.
sys.path.insert(0, str(Path(__file__).parent))

from autograder.pgserver import PostgresUnavailable, running_postgres  # noqa: E402


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


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The website, built once per session from scratch and strictly (``-W -n``, every page
    executed, an empty cache): the folder ``_build/html``. The book and browser tests share it.

    ``DESCENT_SITE=path/to/html`` tests a site already built instead (to iterate on the browser
    tests without building the book again); `make test` and CI never set it."""
    from nbtools import ROOT, run_tool

    if prebuilt := os.environ.get("DESCENT_SITE"):
        return Path(prebuilt).resolve()
    out = tmp_path_factory.mktemp("book")
    started = time.perf_counter()
    result = run_tool(
        [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", str(ROOT),
         "--path-output", str(out), "-W", "-n", "--keep-going"],
        DESCENT_STATIC="1",
    )
    elapsed = time.perf_counter() - started
    print(f"\nclean book build: {elapsed:.1f} s")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return out / "_build" / "html"


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium driven by Playwright (tests/browser.py), shared by the session.
    Skipped where no Chromium is found, failed under CI."""
    from browser import chromium

    with chromium() as launched:
        yield launched

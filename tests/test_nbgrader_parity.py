"""Our grader gives, for honest work, exactly the grade plain ``nbgrader autograde`` gives.

The assignments are tests/parity_cases.py's: small, ordinary nbgrader assignments
(not this course's), each with a correct, an untouched, wrong and cheating
submission. Plain nbgrader grades each case once per session (one
``generate_assignment`` and one ``autograde`` command per case), in the
background, as many cases at once as there are cores; each test waits for its
case. A cheat that fools plain nbgrader must get, from ours, what the honest
submission it names (``like=``) gets.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from parity import (
    TOTAL,
    ToolFailed,
    autograded_points,
    build_case,
    check_plain,
    compare,
    ours,
    ours_missing_output,
    plain_missing_output,
    plain_nbgrader,
    table,
)
from parity_cases import BY_ID, CASES, Case

pytestmark = pytest.mark.usefixtures("sandbox")

IDS = [case.id for case in CASES]


@pytest.fixture(scope="session")
def plain_grades(request, tmp_path_factory):
    """case id -> a future of (case folder, plain nbgrader's grades), for this session's cases.

    Two cases per core at once (PARITY_WORKERS=n to change): nbgrader waits on its
    kernels much of the time."""
    wanted = [param.id for item in request.session.items
              if isinstance(param := getattr(getattr(item, "callspec", None), "params", {})
                            .get("case"), Case)]
    folders = {case_id: tmp_path_factory.mktemp(case_id) for case_id in dict.fromkeys(wanted)}
    started = time.monotonic()

    def grade(case: Case):
        build_case(case, folders[case.id])
        return folders[case.id], plain_nbgrader(case, folders[case.id])

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = int(os.environ.get("PARITY_WORKERS", 2 * (cores or 1)))
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    futures = {case_id: pool.submit(grade, BY_ID[case_id]) for case_id in folders}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)
    print(f"\nplain nbgrader: {len(futures)} cases in {time.monotonic() - started:.0f} s")


def _plain(plain_grades, case: Case):
    return plain_grades[case.id].result()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plain_nbgrader_gives_correct_full_marks_and_untouched_nothing(case, plain_grades):
    _, plain = _plain(plain_grades, case)
    points = autograded_points(case)
    shown = table(case, ("plain nbgrader", plain))
    assert {k: plain["correct"].get(k) for k in points} == points, shown
    assert {k: plain["untouched"].get(k) for k in points} == dict.fromkeys(points, 0.0), shown
    assert plain["correct"][TOTAL] == sum(points.values()), shown


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plain_nbgrader_gives_the_declared_grades(case, plain_grades):
    """Each submission does what it was written to do (a cheat fools nbgrader or not)."""
    folder, plain = _plain(plain_grades, case)
    problems = check_plain(case, plain) + plain_missing_output(case, folder)
    assert not problems, "\n".join(problems) + "\n\n" + table(case, ("plain nbgrader", plain))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ours_grades_like_plain_nbgrader(case, plain_grades):
    folder, plain = _plain(plain_grades, case)
    try:
        mine = ours(case, folder)
    except ToolFailed as error:
        pytest.fail(f"{error}\n\n{table(case, ('plain nbgrader', plain))}", pytrace=False)
    problems = compare(case, plain, mine) + ours_missing_output(case, folder)
    assert not problems, "\n".join(problems) + "\n\n" + table(
        case, ("plain nbgrader", plain), ("ours", mine))

"""The course on a JupyterHub, used as a class uses it, in a real browser (`make hub`).

One test walks the whole path of an assignment on the hub that ``deploy/local/hub.py`` starts
(real local users, PAM, nbgrader's exchange, the formgrader as a hub service, a PostgreSQL
gradebook): the instructor generates and releases assignment 05 in the formgrader; two students
log in, fetch it in the Assignment List, one hands in correct answers and one a wrong one, each
validates and submits; one of them also forges a submission in the other's name; the instructor
collects and autogrades (our sandboxed grader, run by nbgrader's autograde); the gradebook holds
the right scores; feedback is generated and released; each student fetches and opens their own.
Then what a student must not reach: the formgrader, the other's server, the course's source,
the inbound folder, the gradebook.

Screenshots of each step go to ``docs/screenshots/hub/`` when DESCENT_SCREENSHOTS is set
(``make screenshots`` sets it), else to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from browser import free_port, running_server, unavailable
from nbtools import ROOT, fill_in, read, solution_sources

ASSIGNMENT = "05_optimizers"
INSTRUCTOR, TA = "descent-instructor", "descent-ta"
ALICE, BOB = "descent-alice", "descent-bob"
PROXY = ROOT / ".hub" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
LAB_SETTINGS = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
WAIT = 180_000  # ms: a step that grades or validates a notebook


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A running `make hub` in a folder of its own; yields (base_url, passwords, root)."""
    if os.geteuid() != 0:
        unavailable("the hub creates local users and runs servers as them: run as root")
    if not PROXY.exists() and not shutil.which("npm"):
        unavailable("no npm for JupyterHub's proxy (apt-get install nodejs npm)")
    # What `make hub` makes before it starts the hub: the proxy, JupyterLab's settings.
    subprocess.run(["make", str(PROXY.relative_to(ROOT)), str(LAB_SETTINGS.relative_to(ROOT))],
                   cwd=ROOT, check=True, capture_output=True)
    root = Path(tempfile.mkdtemp(prefix="descent-hub-"))
    os.chmod(root, 0o755)  # the students' servers run from here (mkdtemp makes it 0700)
    port = free_port()
    env = {**os.environ, "HUB_ROOT": str(root), "HUB_PORT": str(port),
           "HUB_STUDENTS": f"{ALICE} {BOB}"}
    try:
        with running_server([sys.executable, str(ROOT / "deploy" / "local" / "hub.py")],
                            f"http://127.0.0.1:{port}/hub/api/",
                            tmp_path_factory.mktemp("hub") / "hub.log", 120, env=env):
            base_url = f"http://127.0.0.1:{port}"
            yield base_url, json.loads((root / "passwords.json").read_text()), root
    finally:
        for user in (ALICE, BOB, INSTRUCTOR):  # fresh homes next time: no fetched copies
            home = Path(pwd.getpwnam(user).pw_dir)
            for item in home.glob(f"{ASSIGNMENT}*"):
                shutil.rmtree(item, ignore_errors=True)
            shutil.rmtree(home / ".local" / "share" / "jupyter" / "nbgrader_cache",
                          ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = (ROOT / "docs" / "screenshots" / "hub" if os.environ.get("DESCENT_SCREENSHOTS")
              else tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return lambda page, name: page.screenshot(path=str(folder / f"{name}.png"))


def login(browser, base_url: str, user: str, password: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base_url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/(user|hub/spawn-pending|hub/home).*"), timeout=60_000)
    return context, page


def formgrader_action(page, row: str, column: str, expect: str) -> None:
    """Click the formgrader's button in ``column`` of assignment ``row``; wait for its modal."""
    page.locator(f"tr:has(td.name:has-text('{row}')) td.{column} a").first.click()
    modal = page.locator(".modal-dialog")
    modal.wait_for(timeout=WAIT)
    page.wait_for_function(
        "() => !/Please wait/.test(document.querySelector('.modal-dialog')?.innerText || '')",
        timeout=WAIT)
    text = modal.inner_text()
    assert expect in text, text[-3000:]
    modal.locator("button", has_text="OK").first.click()
    page.wait_for_selector(".modal-dialog", state="detached", timeout=30_000)


def assignment_list(page, base_url: str, user: str):
    page.goto(f"{base_url}/user/{user}/lab")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click(
        timeout=120_000)
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    return page


def student_notebook(correct: bool):
    release = read(ROOT / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    answers = solution_sources(read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
    if not correct:  # momentum's velocity without η (PyTorch's buffer, half-remembered)
        wrong = answers["momentum_step"].replace("velocity + lr * grad", "velocity + grad")
        assert wrong != answers["momentum_step"], "the model answer changed: update this test"
        answers["momentum_step"] = wrong
    return fill_in(release, answers)


def as_user(user: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *command], capture_output=True, text=True)


@pytest.fixture
def browser_of(browser):
    """Opens a logged-in browser context per person (the session's Chromium); closes them."""
    opened = []

    def login_as(base_url: str, user: str, password: str):
        context, page = login(browser, base_url, user, password)
        opened.append(context)
        return context, page

    yield login_as
    for context in opened:
        context.close()


def test_a_class_on_the_hub(hub, shots, browser_of):
    base_url, passwords, root = hub
    # The instructor generates and releases the assignment from the formgrader.
    _, desk = browser_of(base_url, INSTRUCTOR, passwords[INSTRUCTOR])
    desk.goto(f"{base_url}/services/descent/formgrader/manage_assignments")
    desk.locator(f"td.name:has-text('{ASSIGNMENT}')").wait_for(timeout=60_000)
    formgrader_action(desk, ASSIGNMENT, "assign", "Successfully created the student version")
    formgrader_action(desk, ASSIGNMENT, "release", "Successfully released")
    shots(desk, "1-instructor-released")
    _, page = browser_of(base_url, TA, passwords[TA])  # the TA grades too
    answer = page.goto(f"{base_url}/services/descent/formgrader/manage_assignments")
    assert answer.status == 200, page.url
    page.locator(f"td.name:has-text('{ASSIGNMENT}')").wait_for(timeout=60_000)

    # Two students fetch it, answer (alice right, bob one function wrong), validate, submit.
    students = {}
    for user, correct in ((ALICE, True), (BOB, False)):
        context, page = browser_of(base_url, user, passwords[user])
        assignment_list(page, base_url, user)
        released = page.locator("#released_assignments_list .list_item",
                                has_text=ASSIGNMENT)
        released.first.wait_for(timeout=60_000)
        released.first.locator("button", has_text="Fetch").click()
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT)
        fetched.first.wait_for(timeout=60_000)
        home = Path(pwd.getpwnam(user).pw_dir)
        path = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert path.is_file(), f"{user}: Fetch wrote no notebook"
        nbformat.write(student_notebook(correct), path)  # what the student typed in
        owner = pwd.getpwnam(user)
        os.chown(path, owner.pw_uid, owner.pw_gid)
        fetched.first.locator(".assignment-notebooks-link").click()
        fetched.first.locator("button", has_text="Validate").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=WAIT)
        page.wait_for_function(
            "() => !/Validating/.test(document.querySelector('.jp-Dialog')?.innerText"
            " || 'Validating')", timeout=WAIT)
        verdict = dialog.inner_text()
        if correct:
            assert "Success! Your notebook passes all the tests." in verdict, verdict[:2000]
        else:
            assert "failed" in verdict.lower() or "error" in verdict.lower(), verdict[:2000]
        shots(page, f"2-{user}-validated")
        dialog.locator("button", has_text="OK").click()
        fetched.first.locator("button", has_text="Submit").click()
        submitted = page.locator("#submitted_assignments_list .list_item",
                                 has_text=ASSIGNMENT)
        submitted.first.wait_for(timeout=60_000)
        shots(page, f"3-{user}-submitted")
        students[user] = (context, page)

    # Bob forges a later submission in alice's name: collect must not take it.
    inbound = root / "exchange" / "descent" / "inbound"
    forged = inbound / f"{ALICE}+{ASSIGNMENT}+2099-01-01 00:00:00.000000 UTC+forged"
    made = as_user(BOB, "mkdir", str(forged))
    assert made.returncode == 0, made.stderr
    wrong = root / "wrong.ipynb"
    nbformat.write(student_notebook(False), wrong)
    os.chmod(wrong, 0o644)
    as_user(BOB, "cp", str(wrong), str(forged / f"{ASSIGNMENT}.ipynb"))
    as_user(BOB, "sh", "-c", f"echo '2099-01-01 00:00:00.000000 UTC' > "
                             f"'{forged}/timestamp.txt'")

    # The instructor collects and autogrades each student (in the sandbox).
    desk.goto(f"{base_url}/services/descent/formgrader/manage_assignments")
    formgrader_action(desk, ASSIGNMENT, "collect", "Successfully collected")
    desk.goto(f"{base_url}/services/descent/formgrader/manage_submissions/{ASSIGNMENT}")
    for user in (ALICE, BOB):
        row = desk.locator(f"tr:has(td.student-id:has-text('{user}'))")
        row.locator("td.autograde a").click()
        desk.locator(".modal-dialog").wait_for(timeout=WAIT)
        text = desk.locator(".modal-dialog").inner_text()
        assert "Successfully autograded" in text, text[-4000:]
        desk.locator(".modal-dialog button", has_text="OK").first.click()
        desk.wait_for_selector(".modal-dialog", state="detached", timeout=30_000)
    desk.reload()
    desk.locator("td.score", has_text="/").first.wait_for(timeout=60_000)
    shots(desk, "4-instructor-autograded")

    scores = _gradebook_scores(root)
    max_score = _max_score()
    assert scores[ALICE] == (max_score, max_score), scores  # the forgery was not collected
    assert 0 < scores[BOB][0] < max_score, scores

    # Feedback, generated and released; each student fetches and opens their own.
    desk.goto(f"{base_url}/services/descent/formgrader/manage_assignments")
    formgrader_action(desk, ASSIGNMENT, "generate-feedback",
                      "Successfully generated feedback of")
    formgrader_action(desk, ASSIGNMENT, "release-feedback",
                      "Successfully released feedback of")
    for user in (ALICE, BOB):
        context, page = students[user]
        assignment_list(page, base_url, user)
        item = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT)
        item.first.locator("button", has_text="Fetch Feedback").click(timeout=60_000)
        page.locator("#submitted_assignments_list a",
                     has_text="view feedback").first.wait_for(timeout=60_000)
        pages = list((Path(pwd.getpwnam(user).pw_dir) / ASSIGNMENT / "feedback")
                     .rglob(f"{ASSIGNMENT}.html"))
        assert len(pages) == 1, pages
        relative = pages[0].relative_to(pwd.getpwnam(user).pw_dir)
        page.goto(f"{base_url}/user/{user}/files/{relative}")
        body = page.locator("body").inner_text()
        score, total = scores[user]  # as nbgrader's feedback writes them (round(2))
        heading = f"{ASSIGNMENT} (Score: {round(score, 2)} / {round(total, 2)})"
        assert heading in body, body[:1500]
        shots(page, f"5-{user}-feedback")

    # What a student must not reach.
    context, page = students[BOB]
    answer = page.goto(f"{base_url}/services/descent/formgrader")
    assert answer.status in (403, 404) or "formgrader" not in page.url, page.url
    answer = page.goto(f"{base_url}/user/{ALICE}/api/contents")
    assert answer.status in (403, 404) or f"/user/{ALICE}/" not in page.url, page.url

    for command in (["ls", str(inbound)], ["cat", str(root / "course" / "nbgrader_config.py")],
                    ["ls", str(root / "course" / "source" / ASSIGNMENT)],
                    ["ls", str(root / "pg" / "sock")],
                    ["ls", pwd.getpwnam(ALICE).pw_dir]):
        done = as_user(BOB, *command)
        assert done.returncode != 0 and "Permission denied" in done.stderr, (command, done)


def _gradebook_scores(root: Path) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    url = f"postgresql+psycopg2://descent@/descent?host={root / 'pg' / 'sock'}"
    with Gradebook(url, "descent") as gradebook:
        return {s.student.id: (float(s.score), float(s.max_score))
                for s in gradebook.assignment_submissions(ASSIGNMENT)}


def _max_score() -> float:
    source = read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return sum(float(c.metadata.get("nbgrader", {}).get("points", 0) or 0) for c in source.cells
               if c.metadata.get("nbgrader", {}).get("grade"))

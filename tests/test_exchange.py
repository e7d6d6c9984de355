"""Collecting from nbgrader's exchange reads only each submitter's own bytes (autograder.exchange).

Runs ``nbgrader collect`` with ``SafeCollect`` on an inbound folder that students could have
filled: a submission in another student's name, links to the course's secrets, a named pipe,
a huge file, names with control characters, a folder whose name is not a submission's. Each
case is a student's own doing (files chowned to them), which needs root; CI runs as root.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
from browser import unavailable

from autograder.course import venv_first_path

ASSIGNMENT = "ps1"
ALICE, BOB = "nobody", "daemon"  # two users every Debian system has
SECRET = b"MODEL ANSWER: only the instructor may read this"


def _own(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _submission(inbound: Path, user: str, stamp: str, files: dict[str, bytes],
                owner: str | None = None) -> Path:
    folder = inbound / f"{user}+{ASSIGNMENT}+{stamp} UTC"
    folder.mkdir()
    (folder / "timestamp.txt").write_text(f"{stamp} UTC")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    for path in [folder, *folder.iterdir()]:
        _own(path, owner or user)
    return folder


@pytest.fixture
def course(tmp_path):
    if os.geteuid() != 0:
        unavailable("the exchange's owners are other users: run as root")
    root, exchange = tmp_path / "course", tmp_path / "exchange"
    inbound = exchange / "descent" / "inbound"
    inbound.mkdir(parents=True)
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    (root / "source" / ASSIGNMENT / "secret.txt").write_bytes(SECRET)
    return root, exchange, inbound


def collect(root: Path, exchange: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / "nbgrader"), "collect", ASSIGNMENT, "--update",
         f"--CourseDirectory.root={root}", "--CourseDirectory.course_id=descent",
         f"--CourseDirectory.db_url=sqlite:///{root / 'gradebook.db'}",
         f"--Exchange.root={exchange}",
         "--ExchangeFactory.collect=autograder.exchange.SafeCollect",
         "--CourseDirectory.max_file_size=100"],  # kB: a "huge" file is 200 kB here
        cwd=root, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PATH": venv_first_path()})


def collected(root: Path, user: str) -> dict[str, bytes]:
    folder = root / "submitted" / user / ASSIGNMENT
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_submission_in_anothers_name_is_not_collected(course):
    root, exchange, inbound = course
    _submission(inbound, ALICE, "2026-01-01 10:00:00.000000", {"ps1.ipynb": b"alice's own"})
    _submission(inbound, ALICE, "2026-01-02 10:00:00.000000", {"ps1.ipynb": b"bob's forgery"},
                owner=BOB)  # later, so nbgrader's own collect would take it
    done = collect(root, exchange)
    assert done.returncode == 0, done.stderr
    assert collected(root, ALICE)["ps1.ipynb"] == b"alice's own"
    assert "belongs to daemon" in done.stderr


def test_links_pipes_huge_files_and_odd_names_are_skipped(course):
    root, exchange, inbound = course
    folder = _submission(inbound, BOB, "2026-01-01 10:00:00.000000",
                         {"ps1.ipynb": b"bob's notebook", "data.csv": b"1,2\n"})
    (folder / "answer.ipynb").symlink_to(root / "source" / ASSIGNMENT / "secret.txt")
    (folder / "linked_folder").symlink_to(root / "source" / ASSIGNMENT)
    os.mkfifo(folder / "pipe")
    (folder / "huge.bin").write_bytes(b"x" * 200_000)
    (folder / "line\nbreak.txt").write_bytes(b"odd")
    (folder / "sub").mkdir()
    (folder / "sub" / "notes.txt").write_bytes(b"kept")
    os.link(root / "source" / ASSIGNMENT / "secret.txt", folder / "hardlink.txt")  # root's
    for path in folder.rglob("*"):
        _own(path, BOB) if path.name != "hardlink.txt" else None
    done = collect(root, exchange)  # a pipe must not block it (the timeout would fail this)
    assert done.returncode == 0, done.stderr
    files = collected(root, BOB)
    assert files == {"ps1.ipynb": b"bob's notebook", "data.csv": b"1,2\n",
                     "sub/notes.txt": b"kept", "timestamp.txt": b"2026-01-01 10:00:00.000000 UTC"}
    assert not any(SECRET in data for data in files.values())
    for skipped in ("answer.ipynb", "linked_folder", "pipe", "huge.bin", "line\\nbreak",
                    "hardlink.txt"):
        assert skipped in done.stderr, (skipped, done.stderr)


def test_one_bad_submission_never_stops_the_others(course):
    root, exchange, inbound = course
    bad = inbound / f"{BOB}+{ASSIGNMENT}+not a time"
    bad.mkdir()
    _own(bad, BOB)
    _submission(inbound, ALICE, "2026-01-01 10:00:00.000000", {"ps1.ipynb": b"alice's own"})
    done = collect(root, exchange)
    assert done.returncode == 0, done.stderr
    assert collected(root, ALICE)["ps1.ipynb"] == b"alice's own"
    assert "is not a submission's name" in done.stderr

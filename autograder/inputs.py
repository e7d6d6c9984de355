"""Find each student's submission in what an instructor hands the grader.

Accepted shapes of SUBMISSIONS (mixed freely in one folder):

* ``alice/01_activations.ipynb`` — a folder per student id (nbgrader's
  ``alice/01_activations/01_activations.ipynb`` layout works too);
* ``alice.zip`` — a zip per student, the notebook anywhere inside;
* ``alice.ipynb`` — a single notebook named by the student id;
* a bulk zip (from an LMS) given as SUBMISSIONS itself, ``class.zip``, holding
  any of the above, or the shapes LMSs export:
  Canvas (``login_12345_67890_notebook.ipynb``, ``login_LATE_…``: the id is the
  login, ``login_12345`` when two Canvas users share it; the notebooks of one user are one
  submission, each known by the name the student gave it) and Moodle
  (``Full Name_123456_assignsubmission_file_/…``: the id is ``p`` and the participant number,
  since Moodle's export carries no login; without a folder per student,
  ``Full Name_123456_assignsubmission_file_notebook.ipynb`` files).

Each entry keeps the LMS's own ids read from those names (:attr:`Entry.origin`), which
:mod:`autograder.lms` needs to write the grades back in the LMS's import formats. Canvas
names a file ``<name>_[LATE_]<user id>_<attachment id>_<file name>``, where ``<name>`` is
the student's sortable name in lower case with only letters and digits left ("Doe, Jane":
``doejane``); Moodle names a folder ``<full name>_<participant number>_assignsubmission_…``,
the participant number being the one of its grading worksheet ("Participant 123456").

A student id seen twice (``alice/`` and ``alice.zip``, or two Canvas submissions)
is not guessed at: that student gets the status ``duplicate`` and the sources
are named, for the instructor to keep one. Zips are read with limits (size,
number of files, no paths outside their folder); the students' files are only
ever read.

:func:`intake` then decides, for each entry, whether it can be graded: a usable id, one
submission, this assignment's notebooks (readable, not too large) — and stages it into the
grader's course folder, or says why not (``malformed``, ``duplicate``).
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import nbformat

from autograder.course import restore_test_cells
from autograder.nbcells import grade_id

if TYPE_CHECKING:
    from autograder.grade import Assignment

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
CANVAS = re.compile(
    r"^(?P<login>[A-Za-z0-9.@+-]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>.+)_(?P<participant>\d+)_assign(?:submission|feedback)_\w+_?$")
#: Moodle's download without a folder per student: each file prefixed as the folder would be.
MOODLE_FILE = re.compile(
    r"^(?P<name>.+)_(?P<participant>\d+)_assignsubmission_file_(?P<file>.+\.(?:ipynb|zip))$")
MAX_ZIP_BYTES = 512 << 20  # uncompressed, per zip
MAX_ZIP_FILES = 5000
IGNORED = ("__MACOSX", ".DS_Store", "Thumbs.db", ".ipynb_checkpoints")
MAX_NOTEBOOK_BYTES = 100 << 20
#: A student's extra files (beside their notebook) that their code may read: at most.
MAX_EXTRA_FILES, MAX_EXTRA_BYTES = 500, 100 << 20


@dataclass
class Entry:
    """Where one student's files are (a folder or a list of files), and where they came from."""

    student_id: str
    sources: list[str] = field(default_factory=list)
    folder: Path | None = None
    files: list[Path] = field(default_factory=list)
    problem: str = ""
    lms: str | None = None  # "canvas" | "moodle" | None (a plain folder, zip or notebook)
    lms_ids: dict = field(default_factory=dict)  # the LMS's ids in the name (lms_origin)

    @property
    def origin(self) -> dict:
        """Where the submission came from, as JSON data (``{}`` when not from an LMS)."""
        return {"lms": self.lms, **self.lms_ids} if self.lms else {}

    def notebooks(self) -> list[Path]:
        """The regular .ipynb files of this submission (a link is never followed: a student's
        tree could point at another student's work or at the solutions)."""
        if self.folder is not None:
            found = list(self.folder.glob("*.ipynb"))
            inner = [p for p in self.folder.iterdir()
                     if p.is_dir() and not p.is_symlink() and p.name not in IGNORED]
            if not found and len(inner) == 1:  # nbgrader's <student>/<assignment>/ layout
                found = list(inner[0].glob("*.ipynb"))
            if not found:  # a zip that wraps everything in one more folder
                found = [p for p in regular_files(self.folder)
                         if p.name.endswith(".ipynb") and not any(part in IGNORED
                                                                  for part in p.parts)]
        else:
            found = self.files
        return sorted(p for p in found if not p.name.startswith(".") and _regular(p, self.folder))


def _regular(path: Path, root: Path | None) -> bool:
    """A regular file reached from ``root`` without following any link."""
    inside = path.parents[:len(path.relative_to(root).parts) - 1] if root is not None else []
    return not path.is_symlink() and path.is_file() and not any(p.is_symlink() for p in inside)


def regular_files(folder: Path):
    """Every regular file under ``folder``: links neither followed nor listed (a student's
    tree could point at another student's work or at the solutions)."""
    for root, subfolders, names in os.walk(folder, followlinks=False):
        subfolders[:] = [d for d in subfolders if not (Path(root) / d).is_symlink()]
        for name in names:
            path = Path(root) / name
            if not path.is_symlink() and path.is_file():
                yield path


def shown(name: str) -> str:
    """A printable form of a file name that may not even be UTF-8."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _safe_extract(archive: Path, target: Path) -> str:
    """Unpack a zip under ``target``; an explanation when it cannot be done safely."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if len(members) > MAX_ZIP_FILES:
                return f"{archive.name} holds {len(members)} files (limit {MAX_ZIP_FILES})"
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                return f"{archive.name} unpacks to over {MAX_ZIP_BYTES >> 20} MiB"
            for member in members:
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if not parts or member.filename.startswith("/") or ".." in parts:
                    return f"{archive.name} holds a path outside its folder: {member.filename!r}"
                if any(part in IGNORED for part in parts):
                    continue
                destination = target.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as error:
        return f"{archive.name} is not a readable zip ({type(error).__name__}: {error})"
    return ""


def _student_of(name: str, shared_names: frozenset[str] = frozenset()) -> tuple[str, str]:
    """(student id, kind) for one entry's name; kind is canvas:<user id>/moodle/plain.

    A Canvas name part that two users share (``shared_names``) gets the user id appended:
    ``smithjohn_1234`` and ``smithjohn_5678`` are two students, not one duplicate."""
    if (match := MOODLE.match(name)) is not None:
        return f"p{match['participant']}", "moodle"
    if (match := MOODLE_FILE.match(name)) is not None:
        return f"p{match['participant']}", f"moodle:{match['participant']}"
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    stem = stem[:-len(".zip")] if stem.endswith(".zip") else stem
    if (match := CANVAS.match(name)) is not None and name.endswith((".ipynb", ".zip")):
        login = match["login"].lower()
        student = f"{login}_{match['user']}" if login in shared_names else login
        return student, f"canvas:{match['user']}"
    return stem, "plain"


def submitted_name(path: Path) -> str:
    """The name the student gave a notebook: Canvas's bulk download prefixes it with
    ``login_[LATE_]user_attachment_`` and marks a resubmitted file ``name-1.ipynb``; Moodle's,
    without folders, with ``Full Name_participant_assignsubmission_file_``."""
    if (match := MOODLE_FILE.match(path.name)) is not None:
        return match["file"]
    if (match := CANVAS.match(path.name)) is not None and path.name.endswith(".ipynb"):
        return re.sub(r"-\d+(\.ipynb)$", r"\1", match["file"])
    return path.name


def _shared_canvas_names(names) -> frozenset[str]:
    """The Canvas name parts that more than one Canvas user id carries."""
    users: dict[str, set[str]] = {}
    for name in names:
        if name.endswith((".ipynb", ".zip")) and (match := CANVAS.match(name)) is not None:
            users.setdefault(match["login"].lower(), set()).add(match["user"])
    return frozenset(login for login, ids in users.items() if len(ids) > 1)


def lms_origin(name: str) -> tuple[str | None, dict]:
    """The LMS that named an entry of a bulk download, and its ids in the name: Canvas's user
    id (what its gradebook import matches students by), name, attachment id and late flag;
    Moodle's participant number (what its grading worksheet matches rows by) and full name.
    ``(None, {})`` for any other name. Read exactly as :func:`_student_of` reads the id; a
    name part that is not UTF-8 is kept printable (:func:`shown`)."""
    if (match := MOODLE.match(name) or MOODLE_FILE.match(name)) is not None:
        return "moodle", {"participant": match["participant"], "full_name": shown(match["name"])}
    if name.endswith((".ipynb", ".zip")) and (match := CANVAS.match(name)) is not None:
        return "canvas", {"user_id": match["user"], "name": match["login"],
                          "attachment_id": match["sub"], "late": match["late"] is not None}
    return None, {}


def gather(submissions: Path, inbox: Path) -> list[Entry]:
    """One :class:`Entry` per student id found, problems (bad zip, duplicate, ...) included."""
    shutil.rmtree(inbox, ignore_errors=True)
    inbox.mkdir(parents=True)
    entries: dict[str, Entry] = {}
    problems: list[Entry] = []

    def add(student_id: str, source: str, folder=None, file=None, key: str = "",
            name: str = "") -> None:
        entry = entries.get(student_id)
        if (entry is not None and key.startswith(("canvas:", "moodle:")) and key in entry.sources
                and file):
            entry.files.append(file)  # another notebook of the same LMS user's submission
            return
        if entry is None:
            lms, ids = lms_origin(name)
            entries[student_id] = entry = Entry(student_id, lms=lms, lms_ids=ids)
        entry.sources.append(key or source)
        entry.folder = folder if folder is not None else entry.folder
        if file is not None:
            entry.files.append(file)

    def scan(folder: Path) -> None:
        shared_names = _shared_canvas_names(path.name for path in folder.iterdir())
        for path in sorted(folder.iterdir()):
            name = path.name
            if name.startswith(".") or name.startswith("__") or name in IGNORED:
                continue
            lms, ids = lms_origin(name)
            if path.is_symlink():
                problems.append(Entry(_student_of(name, shared_names)[0], [shown(name)], problem=(
                    f"{shown(name)} is a link, which the grader never follows; hand in the "
                    "file itself"), lms=lms, lms_ids=ids))
                continue
            student_id, kind = _student_of(name, shared_names)
            if path.is_dir():
                add(student_id, f"{shown(name)}/", folder=path, name=name)
            elif name.endswith(".zip"):
                target = inbox / f"{len(list(inbox.iterdir())):04d}"
                problem = _safe_extract(path, target)
                if problem:
                    problems.append(Entry(student_id, [shown(name)], problem=problem, lms=lms,
                                          lms_ids=ids))
                else:
                    add(student_id, shown(name), folder=target, name=name,
                        key=f"{kind}:{shown(name)}" if kind.startswith("canvas") else "")
            elif name.endswith(".ipynb"):
                add(student_id, shown(name), file=path, name=name,
                    key=kind if kind != "plain" else "")

    if submissions.is_file() and submissions.name.endswith(".zip"):
        problem = _safe_extract(submissions, inbox / "bulk")
        if problem:
            raise ValueError(problem)
        scan(inbox / "bulk")
    else:
        scan(submissions)

    for entry in entries.values():
        if len(entry.sources) > 1:
            entry.problem = ("duplicate: this student id has several submissions ("
                             + ", ".join(entry.sources) + "); keep one and grade again")
    return sorted([*entries.values(), *problems], key=lambda e: e.student_id)



def intake(entries: list[Entry], assignment: Assignment
           ) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Stage every gradable entry into the assignment's course folder.

    Returns ``staged`` (student id -> a note about their notebooks, "" when none) and
    ``refused``: (student id, status, message) for each entry that cannot be graded, status
    ``malformed`` or ``duplicate``, in the order of ``entries``."""
    staged: dict[str, str] = {}
    refused: list[tuple[str, str, str]] = []
    cell_ids = assignment.cell_ids()
    for entry in entries:
        student_id = entry.student_id
        if not STUDENT_ID.match(student_id):
            refused.append((shown(student_id), "malformed",
                            "not a usable student id (letters, digits and _ . @ + - only); "
                            "rename it and grade again"))
            continue
        if entry.problem:
            status = "duplicate" if entry.problem.startswith("duplicate") else "malformed"
            refused.append((student_id, status, entry.problem))
            continue
        chosen, problem = _collect(entry.notebooks(), cell_ids, ", ".join(entry.sources))
        if problem:
            refused.append((student_id, "malformed", problem))
            continue
        try:
            staged[student_id] = _stage(assignment, student_id, chosen)
        except Exception as error:  # noqa: BLE001 - one student's file, not the batch
            refused.append((student_id, "malformed", f"could not be read: {error}"))
    return staged, refused


def _collect(found: list[Path], cell_ids: dict[str, set[str]], label: str):
    """Map each expected notebook name to the student's notebook (read and validated) and
    its path, or explain what is wrong."""
    notebooks = sorted(cell_ids)
    if not found:
        return {}, f"no .ipynb file in {label} (expected {', '.join(notebooks)})"
    by_name = {submitted_name(p): p for p in found}
    if len(by_name) < len(found):  # two files the same once Canvas's prefixes are read
        by_name = {p.name: p for p in found}
    if any(name in by_name for name in notebooks):
        # (a notebook left out scores 0, as in nbgrader: _stage says which)
        chosen = {name: by_name[name] for name in notebooks if name in by_name}
    elif len(notebooks) == 1 and len(found) == 1:
        chosen = {notebooks[0]: found[0]}  # renamed by the student or the LMS: still theirs
    else:
        return {}, (f"expected {', '.join(notebooks)} in {label}, "
                    f"found {', '.join(shown(n) for n in by_name)}")
    read = {}
    for name, path in chosen.items():
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return {}, (f"{shown(path.name)} is {size >> 20} MiB, over the "
                        f"{MAX_NOTEBOOK_BYTES >> 20} MiB limit; clear its outputs and submit again")
        try:
            notebook = nbformat.read(path, as_version=4)
            nbformat.validate(notebook)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the same verdict
            return {}, (f"{shown(path.name)} is not a valid notebook "
                        f"({type(error).__name__}: {str(error)[:300]})")
        ids = {grade_id(cell) for cell in notebook.cells}
        if cell_ids[name] and not ids & cell_ids[name]:
            return {}, (f"{shown(path.name)} has none of the graded cells of {name} "
                        "(a notebook of another assignment, or one rebuilt from scratch?)")
        read[name] = (notebook, path)
    return read, ""


def _stage(assignment: Assignment, student_id: str, notebooks: dict) -> str:
    """Write a student's notebooks into the course, outputs dropped, and the files their code
    may read (their extra files, then the assignment's own on top); note restored tests."""
    target = assignment.work / "submitted" / student_id / assignment.name
    target.mkdir(parents=True)
    files = assignment.work / "files" / student_id
    shutil.rmtree(files, ignore_errors=True)
    files.mkdir(parents=True)
    restored = []
    missing = sorted(set(assignment.sources) - set(notebooks))
    notes = [f"not handed in (scores 0): {', '.join(missing)}"] if missing else []
    for name, (notebook, path) in notebooks.items():
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        restored += restore_test_cells(notebook, assignment.sources[name])
        nbformat.write(notebook, target / name)
        if path.parent.is_dir() and path.parent != assignment.work / "inbox":
            notes += copy_regular_files(path.parent, files)
    copy_regular_files(assignment.folder, files, overwrite=True)
    if restored:
        notes.append("restored deleted test cells: " + ", ".join(restored))
    return "; ".join(notes)


def copy_regular_files(source: Path, target: Path, overwrite: bool = False) -> list[str]:
    """Copy the regular files under ``source`` (no links followed, no notebooks) into
    ``target``; limits on count and size. Students' trees are untrusted: nothing outside
    ``source`` is ever read."""
    count = size = 0
    for path in sorted(regular_files(source)):
        relative = path.relative_to(source)
        if path.name.endswith(".ipynb") or any(part.startswith(".") or part == "__pycache__"
                                               for part in relative.parts):
            continue
        size += path.lstat().st_size
        count += 1
        if count > MAX_EXTRA_FILES or size > MAX_EXTRA_BYTES:
            return [f"files beyond {MAX_EXTRA_FILES} or {MAX_EXTRA_BYTES >> 20} MiB "
                    "beside the notebook were left out"]
        destination = target / relative
        if destination.exists() and not overwrite:
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination, follow_symlinks=False)
    return []

"""The grades, in files the gradebook import of Canvas and of Moodle takes as they are.

``python -m autograder grade`` writes them beside ``grades.csv`` when submissions came from an
LMS bulk download (:mod:`autograder.inputs` keeps each one's LMS ids); ``python -m autograder
lms OUT`` writes them again from ``OUT/report.json``, e.g. with an export from the LMS.

**Canvas** (Grades > Import): ``canvas_gradebook.csv``. Canvas's importer
(``app/models/gradebook_importer.rb``) wants a header row whose first columns are ``Student``,
``ID``, then optionally ``SIS User ID`` and ``SIS Login ID``, and ``Section`` (present, its
values unread); a column ``Title (assignment id)`` per assignment (a bare title matches an
assignment of that title, or creates one); an optional row whose first cell holds ``Points
Possible``. It matches a student by ``ID``, Canvas's user id (which the bulk download's file
names carry), then by SIS ids, then by name. A blank cell where Canvas has a grade counts as
a change, so a student is never written with a blank grade. With ``--canvas-gradebook
export.csv`` (Grades > Export) the assignment's column is filled for the students graded here
and every other cell, row and column is left as exported (the Points Possible row, the other
assignments, students with no submission here), in the export's separator (``,`` or ``;``)
and byte order mark. Without one: only the students graded, the column named by
``--canvas-column`` ("Title (id)", as Canvas's export names it) or else the assignment's id
(Canvas then matches an assignment of that title or creates one), worth the assignment's
maximum in its Points Possible row.

**Moodle** (assignment > View all submissions > Upload grading worksheet, with the assignment's
"Offline grading worksheet" feedback enabled): ``moodle_worksheet.csv``. Moodle's importer
(``mod/assign/feedback/offline``) reads only the columns ``Identifier`` ("Participant 123456":
the participant number, as in the bulk download's folder names), ``Grade`` and ``Last
modified (grade)``, plus any feedback column present (a blank one erases that feedback, so
none is written); it skips a blank grade, one above the assignment's maximum, and one changed
in Moodle after the worksheet's "Last modified (grade)" (unless "Allow updating records that
have been modified more recently in Moodle than in the spreadsheet" is ticked). With
``--moodle-worksheet worksheet.csv`` (Download grading worksheet) its Grade column is filled for
the students graded here, everything else left as downloaded; the column names must then be
the English ones Moodle writes for an English-speaking user. Without one: ``Identifier``,
``Full name``, ``Grade``, ``Maximum Grade``, ``Last modified (grade)`` (the time the file is
written, so a grade entered in Moodle afterwards is not overwritten).

Which students get a grade: those whose status is ``graded``, ``timeout`` or ``forbidden``
(nbgrader's score; ``forbidden`` ones are named for review). ``malformed``, ``duplicate`` and
``crashed`` submissions were given no grade by anyone (the file may be the LMS's, the
student's or the grader's fault), so none is invented: they are left out of a new file and
their cell is left as exported, the LMS keeps its current grade, and a note names them.
Students that came from elsewhere (a plain folder) are in neither file, also with a note.
Names we take from file names are written with a leading ``'`` when they start with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return, so that a spreadsheet opening the file never
runs them as a formula (both LMSs match by id, never by this text); cells of an export are
never changed, except the grades filled.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

GRADED = ("graded", "timeout", "forbidden")  # the statuses whose score is a grade
CANVAS_FILE, MOODLE_FILE = "canvas_gradebook.csv", "moodle_worksheet.csv"
CANVAS_STUDENT = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS = "    Points Possible"  # as Canvas's export writes it; the importer looks it up
# Columns Canvas's importer never takes for an assignment (it drops any header holding these).
CANVAS_NOT_ASSIGNMENT = re.compile("Current Score|Current Points|Current Grade|Final Score|"
                                   "Final Points|Final Grade|Override Score|Override Grade|"
                                   "Override Status")
CANVAS_TITLE_AND_ID = re.compile(r"\A(.*)\s\((\d+)\)\Z", re.S)  # Assignment.title_and_id
CANVAS_POSTING_ROW = re.compile(r"^\s*(Muted|Manual Posting.*)?\s*$", re.I)
MOODLE_ID, MOODLE_NAME, MOODLE_GRADE = "Identifier", "Full name", "Grade"
MOODLE_MAX, MOODLE_MODIFIED = "Maximum Grade", "Last modified (grade)"
MOODLE_CHANGEABLE = "Grade can be changed"
MOODLE_PARTICIPANT = "Participant "  # Moodle's prefix of the participant number
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class LmsError(ValueError):
    """An LMS file given (an export, a worksheet, a report) cannot be used; the message says
    why and what to do."""


@dataclass
class LmsFiles:
    """What :func:`write_lms_files` wrote, and what the instructor should know about it."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Student:
    student_id: str
    status: str
    score: float
    max_score: float
    origin: dict


@dataclass
class _Table:
    """A CSV file as read, and how to write it back the same way."""

    path: Path
    rows: list[list[str]]
    delimiter: str = ","
    bom: bool = False
    newline: str = "\r\n"


def write_lms_files(out: Path, assignment: str, results: Iterable,
                    origins: Mapping[str, dict] | None = None, *,
                    canvas_gradebook: Path | None = None, moodle_worksheet: Path | None = None,
                    canvas_column: str | None = None, now: datetime | None = None) -> LmsFiles:
    """Write ``canvas_gradebook.csv`` and ``moodle_worksheet.csv`` in ``out`` (each when some
    student came from that LMS or its export is given). ``results``: rows (dicts, or objects
    such as ``StudentResult``) with student_id, status, score, max_score and, unless
    ``origins`` (student id -> :attr:`autograder.inputs.Entry.origin`) says it, origin. Raises
    :class:`LmsError` for an unusable export or worksheet."""
    students = _students(results, origins or {})
    max_score = max((s.max_score for s in students), default=0.0)
    written = LmsFiles()
    sources = {"canvas": canvas_gradebook, "moodle": moodle_worksheet}
    for lms, write in (("canvas", _canvas), ("moodle", _moodle)):
        own = [s for s in students if s.origin.get("lms") == lms]
        if own or sources[lms] is not None:
            path = write(Path(out), assignment, own, max_score, sources[lms], written.notes,
                         column=canvas_column, now=now or datetime.now(UTC))
            written.paths.append(path)
    elsewhere = [s.student_id for s in students if s.origin.get("lms") not in sources]
    if written.paths and elsewhere:
        written.notes.append(f"{len(elsewhere)} student(s) did not come from an LMS download "
                             f"(a folder, zip or notebook of their own), so are in no LMS file: "
                             f"{_names(elsewhere)}; enter their grades by hand")
    return written


def check_files(assignment: str, *, canvas_gradebook: Path | None = None,
                moodle_worksheet: Path | None = None, canvas_column: str | None = None) -> None:
    """Raise :class:`LmsError` now if an export or worksheet cannot be used (before a class
    is graded, rather than after)."""
    if canvas_gradebook is not None:
        _canvas_export(Path(canvas_gradebook), assignment, canvas_column)
    if moodle_worksheet is not None:
        _moodle_worksheet(Path(moodle_worksheet))


def origins_of(entries: Iterable) -> dict[str, dict]:
    """Student id -> where their submission came from (the first entry that says), from
    :func:`autograder.inputs.gather`'s entries."""
    origins: dict[str, dict] = {}
    for entry in entries:
        if entry.origin and not origins.get(entry.student_id):
            origins[entry.student_id] = entry.origin
    return origins


def load_report(out: Path) -> tuple[str, list[dict]]:
    """(assignment, its students' results, each with its origin) from ``OUT/report.json``."""
    path = Path(out) / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        students = list(report["students"].values())
        assignment = report["assignment"]
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise LmsError(f"{path} is not a report of `python -m autograder grade` "
                       f"({type(error).__name__}: {error}); give the folder grade wrote "
                       "(its --out)") from None
    if students and not any("origin" in s for s in students):
        raise LmsError(f"{path} does not say where the submissions came from (a grader older "
                       "than the LMS files wrote it): grade again into that folder "
                       "(unchanged submissions are not run again)")
    return assignment, students


# --- Canvas ---------------------------------------------------------------------------------


def _canvas(out: Path, assignment: str, students: list[_Student], max_score: float,
            export: Path | None, notes: list[str], *, column: str | None, **_) -> Path:
    graded = _gradeable(students, "user_id", "Canvas", "Canvas user", notes)
    path = out / CANVAS_FILE
    if export is None:
        title = column or assignment
        rows = [[*CANVAS_STUDENT, title], [CANVAS_POINTS, "", "", "", "", _points(max_score)]]
        rows += [[_safe(s.origin.get("name", "")), user_id, "", "", "", _points(s.score)]
                 for user_id, s in sorted(graded.items(), key=lambda kv: kv[1].student_id)]
        _write(path, rows)
        if CANVAS_TITLE_AND_ID.match(title) is None:
            notes.append(f"Canvas: the column is titled {title!r} without an assignment id: "
                         "Canvas puts it in the assignment of that exact title, or creates one; "
                         "to fill an existing assignment, give --canvas-gradebook (an export "
                         "from Canvas) or --canvas-column 'Title (id)'")
        return path

    table, id_col, col = _canvas_export(export, assignment, column)
    header = table.rows[0]
    points_row = next((row for row in table.rows[1:] if row and "Points Possible" in row[0]),
                      None)
    rows = {}
    for row in table.rows[1:]:
        if row is points_row or all(CANVAS_POSTING_ROW.match(cell) for cell in row):
            continue
        if len(row) > id_col and row[id_col].strip():
            rows.setdefault(row[id_col].strip(), row)
    missing, excused, unassigned, changed = [], [], [], []
    for user_id, student in sorted(graded.items(), key=lambda kv: kv[1].student_id):
        row = rows.get(user_id)
        if row is None:
            missing.append(f"{student.student_id} (Canvas user {user_id})")
            continue
        row.extend([""] * (len(header) - len(row)))
        old, new = row[col].strip(), _points(student.score)
        if old.upper() == "EX":
            excused.append(student.student_id)
        elif old.upper() == "N/A":
            unassigned.append(student.student_id)
        else:
            if old and _number(old) != _number(new):
                changed.append(f"{student.student_id} ({old} -> {new})")
            row[col] = new
    _write(path, table.rows, delimiter=table.delimiter, bom=table.bom, newline=table.newline)

    where = f"Canvas ({header[col]!r})"
    if missing:
        notes.append(f"{where}: not in the gradebook export, so left out: {_names(missing)} "
                     "(enrolled after the export was taken? export the gradebook again)")
    if excused:
        notes.append(f"{where}: excused (EX) in Canvas, left so: {_names(excused)}")
    if unassigned:
        notes.append(f"{where}: the assignment is not assigned to them in Canvas (N/A), left "
                     f"so: {_names(unassigned)}")
    if changed:
        notes.append(f"{where}: {len(changed)} grade(s) already in Canvas will change (its "
                     f"import preview lists each): {_names(changed)}")
    others = len(set(rows) - {str(s.origin.get("user_id")) for s in students})
    if others:
        notes.append(f"{where}: {others} student(s) of the export have no submission here; "
                     "their cells are left as exported")
    worth = _number(points_row[col]) if points_row is not None and len(points_row) > col else None
    if worth is not None and abs(worth - max_score) > 1e-9:
        notes.append(f"{where}: the assignment is worth {_points(worth)} points in Canvas and "
                     f"{_points(max_score)} here; the scores written are points out of "
                     f"{_points(max_score)}: set its points possible in Canvas to match")
    return path


def _canvas_export(export: Path, assignment: str, column: str | None) -> tuple[_Table, int, int]:
    """The export read, the index of its ID column and of the assignment's column."""
    table = _read(export, "Canvas gradebook export")
    header = table.rows[0]
    if len(header) > 3 and "Student" in header[0] and "ID" in header[1]:
        id_col = 1
    elif len(header) > 4 and "LastName" in header[0] and "FirstName" in header[1] \
            and "ID" in header[2]:
        id_col = 2
    else:
        raise LmsError(f"{export} is not a Canvas gradebook export: its first row should start "
                       f"with Student, ID (it starts {_names(header[:3])}); in Canvas: Grades > "
                       "Export > Export Entire Gradebook")
    if "Section" not in header:
        raise LmsError(f"{export} has no Section column, which Canvas's import needs; export "
                       "the gradebook from Canvas again and give that file unchanged")
    first = header.index("Section") + 1
    candidates = [(i, title) for i, title in enumerate(header)
                  if i >= first and not CANVAS_NOT_ASSIGNMENT.search(title)]

    def parts(title: str) -> tuple[str, str]:
        match = CANVAS_TITLE_AND_ID.match(title)
        return (match[1], match[2]) if match else (title, "")

    if column:
        want = column.strip()
        found = [i for i, t in candidates if t == want] \
            or [i for i, t in candidates if parts(t)[0] == want] \
            or [i for i, t in candidates if want.isdigit() and parts(t)[1] == want]
        asked = f"--canvas-column {column!r}"
    else:
        found = [i for i, t in candidates if parts(t)[0].casefold() == assignment.casefold()]
        asked = f"the assignment {assignment!r}"
    if len(found) != 1:
        listed = _names([t for _, t in candidates]) if candidates else "none"
        problem = "no column" if not found else f"{len(found)} columns"
        raise LmsError(f"{export}: {problem} of the export is {asked}; its assignment columns: "
                       f"{listed}; name the one to fill with --canvas-column 'Title (id)'")
    return table, id_col, found[0]


# --- Moodle ---------------------------------------------------------------------------------


def _moodle(out: Path, assignment: str, students: list[_Student], max_score: float,
            worksheet: Path | None, notes: list[str], *, now: datetime, **_) -> Path:
    graded = _gradeable(students, "participant", "Moodle", "participant", notes)
    path = out / MOODLE_FILE
    if worksheet is None:
        stamp = now.astimezone(UTC).isoformat(timespec="seconds")  # strtotime reads it
        rows = [[MOODLE_ID, MOODLE_NAME, MOODLE_GRADE, MOODLE_MAX, MOODLE_MODIFIED]]
        rows += [[f"{MOODLE_PARTICIPANT}{participant}", _safe(s.origin.get("full_name", "")),
                  _points(s.score), _points(max_score), stamp]
                 for participant, s in sorted(graded.items(), key=lambda kv: kv[1].student_id)]
        _write(path, rows)
        return path

    table, columns = _moodle_worksheet(worksheet)
    rows = {}
    for row in table.rows[1:]:
        match = re.search(r"(\d+)\s*$", row[columns[MOODLE_ID]]) \
            if len(row) > columns[MOODLE_ID] else None
        if match is not None:
            rows.setdefault(match[1], row)
    width = len(table.rows[0])
    missing, locked, above, changed, maxima = [], [], [], [], set()
    for participant, student in sorted(graded.items(), key=lambda kv: kv[1].student_id):
        row = rows.get(participant)
        if row is None:
            missing.append(f"{student.student_id} ({MOODLE_PARTICIPANT}{participant})")
            continue
        row.extend([""] * (width - len(row)))
        old, new = row[columns[MOODLE_GRADE]].strip(), _points(student.score)
        if old and old != "-" and _number(old) != _number(new):
            changed.append(f"{student.student_id} ({old} -> {new})")
        row[columns[MOODLE_GRADE]] = new
        if MOODLE_CHANGEABLE in columns and row[columns[MOODLE_CHANGEABLE]].strip() == "No":
            locked.append(student.student_id)
        maximum = _number(row[columns[MOODLE_MAX]]) if MOODLE_MAX in columns else None
        if maximum is not None:
            maxima.add(maximum)
            if student.score > maximum + 1e-9:
                above.append(f"{student.student_id} ({new} > {_points(maximum)})")
    _write(path, table.rows, delimiter=table.delimiter, bom=table.bom, newline=table.newline)

    if missing:
        notes.append(f"Moodle: not in the grading worksheet, so left out: {_names(missing)} "
                     "(download the worksheet again, with every participant shown)")
    if locked:
        notes.append(f"Moodle: the worksheet says their grade cannot be changed (locked or "
                     f"overridden in the gradebook), so Moodle will skip it: {_names(locked)}")
    if above:
        notes.append(f"Moodle: above the assignment's maximum grade, which Moodle skips: "
                     f"{_names(above)}")
    if changed:
        notes.append(f"Moodle: {len(changed)} grade(s) already in Moodle will change: "
                     f"{_names(changed)}")
    others = len(set(rows) - {str(s.origin.get("participant")) for s in students})
    if others:
        notes.append(f"Moodle: {others} participant(s) of the worksheet have no submission "
                     "here; their rows are left as downloaded")
    if maxima and any(abs(m - max_score) > 1e-9 for m in maxima):
        notes.append(f"Moodle: the assignment's maximum grade is "
                     f"{'/'.join(_points(m) for m in sorted(maxima))} in Moodle and "
                     f"{_points(max_score)} here; the grades written are points out of "
                     f"{_points(max_score)}: set the maximum grade in Moodle to match")
    return path


def _moodle_worksheet(worksheet: Path) -> tuple[_Table, dict[str, int]]:
    """The worksheet read, and the index of each column by its name."""
    table = _read(worksheet, "Moodle grading worksheet")
    columns: dict[str, int] = {}
    for index, name in enumerate(table.rows[0]):
        columns.setdefault(name.strip(), index)
    absent = [name for name in (MOODLE_ID, MOODLE_GRADE, MOODLE_MODIFIED) if name not in columns]
    if absent:
        raise LmsError(f"{worksheet} is not a Moodle grading worksheet in English: it has no "
                       f"column {_names(absent)} (Moodle names the columns in the language of "
                       "whoever downloads it: download it again with English as your language, "
                       "from View all submissions > Download grading worksheet)")
    return table, columns


# --- shared ---------------------------------------------------------------------------------


def _students(results: Iterable, origins: Mapping[str, dict]) -> list[_Student]:
    students = []
    for row in results:
        data = row if isinstance(row, Mapping) else vars(row)  # a dict, or a StudentResult
        student_id = str(data["student_id"])
        students.append(_Student(student_id, str(data.get("status", "")),
                                 float(data.get("score") or 0), float(data.get("max_score") or 0),
                                 dict(origins.get(student_id) or data.get("origin") or {})))
    return students


def _gradeable(students: list[_Student], key: str, lms: str, what: str,
               notes: list[str]) -> dict[str, _Student]:
    """The LMS's id -> the student to write a grade for; a note for each one left out."""
    held = [f"{s.student_id} ({s.status})" for s in students if s.status not in GRADED]
    if held:
        notes.append(f"{lms}: no grade written for {_names(held)}: nobody graded their work (see "
                     f"the message in grades.csv), so {lms} keeps its current grade; enter one "
                     "by hand")
    forbidden = [s.student_id for s in students if s.status == "forbidden"]
    if forbidden:
        notes.append(f"{lms}: graded as the tests scored them, though their code uses what the "
                     f"assignment forbids: {_names(forbidden)}; review before importing")
    by_id: dict[str, list[_Student]] = {}
    for student in students:
        if student.status in GRADED:
            by_id.setdefault(str(student.origin.get(key) or ""), []).append(student)
    unclear = [s.student_id for lms_id, group in by_id.items() if not lms_id or len(group) > 1
               for s in group]
    if unclear:
        notes.append(f"{lms}: left out, as their {what} id is missing or shared with another "
                     f"student here: {_names(unclear)}; enter their grades by hand")
    return {lms_id: group[0] for lms_id, group in by_id.items() if lms_id and len(group) == 1}


def _read(path: Path, what: str) -> _Table:
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise LmsError(f"cannot read the {what} {path}: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LmsError(f"{path} is not UTF-8 text; save the {what} as CSV UTF-8 (or take the "
                       "file the LMS gave, unopened)") from None
    first = text.split("\n", 1)[0]
    table = _Table(Path(path), [], _delimiter(text), raw.startswith(codecs.BOM_UTF8),
                   "\r\n" if first.endswith("\r") else "\n")
    try:
        table.rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=table.delimiter))
    except csv.Error as error:
        raise LmsError(f"{path} is not a readable CSV file ({error})") from None
    if not table.rows or not any(table.rows[0]):
        raise LmsError(f"{path} is empty; give the {what} as the LMS wrote it")
    return table


def _delimiter(text: str) -> str:
    """``;`` where it splits the first lines into more, equally many fields than ``,`` does
    (Canvas's rule: its export uses ``;`` where the decimal separator is a comma)."""
    lines = text.splitlines()[:3]
    counts = {}
    for separator in (",", ";"):
        try:
            sizes = {len(next(csv.reader([line], delimiter=separator), [])) for line in lines}
        except csv.Error:
            sizes = set()
        counts[separator] = sizes.pop() if len(sizes) == 1 else 0
    return ";" if counts[";"] > counts[","] else ","


def _write(path: Path, rows: list[list[str]], *, delimiter: str = ",", bom: bool = False,
           newline: str = "\r\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator=newline).writerows(rows)
    os.replace(partial, path)  # a file is whole or absent


def _points(value: float) -> str:
    """A score as both LMSs read it: a point for decimals, no exponent, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _number(cell: str) -> float | None:
    try:
        return round(float(cell.strip().replace(",", ".")), 6)
    except ValueError:
        return None


def _safe(text: str) -> str:
    """Text a spreadsheet would take for a formula, quoted so it stays text."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _names(items: list[str], limit: int = 20) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# --- command line ---------------------------------------------------------------------------

DESCRIPTION = ("Write the grades of a results folder again in the import formats of Canvas "
               "(canvas_gradebook.csv) and Moodle (moodle_worksheet.csv), e.g. filling an "
               "export taken from the LMS.")


def add_options(parser) -> None:
    """The options that say how to write the LMS files (``grade`` takes them too)."""
    parser.add_argument("--canvas-gradebook", type=Path, default=None, metavar="CSV",
                        help="a gradebook exported from Canvas (Grades > Export): the "
                             "assignment's column is filled for the students graded, the rest "
                             "left as exported")
    parser.add_argument("--canvas-column", default=None, metavar="TITLE",
                        help="the assignment's column in Canvas, 'Title (id)' as its export "
                             "names it (or the title, or the id); default: the column titled "
                             "like the assignment")
    parser.add_argument("--moodle-worksheet", type=Path, default=None, metavar="CSV",
                        help="the assignment's grading worksheet downloaded from Moodle (in "
                             "English): its Grade column is filled for the students graded")


def add_arguments(parser) -> None:
    """``python -m autograder lms OUT [options]``."""
    parser.add_argument("out", type=Path,
                        help="a results folder written by `python -m autograder grade`")
    add_options(parser)


def run(args) -> int:
    """Write the LMS files of ``args.out``; 0, or 2 when a file given cannot be used."""
    try:
        assignment, results = load_report(args.out)
        written = write_lms_files(args.out, assignment, results,
                                  canvas_gradebook=args.canvas_gradebook,
                                  moodle_worksheet=args.moodle_worksheet,
                                  canvas_column=args.canvas_column)
    except LmsError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return 2
    for note in written.notes:
        print(f"autograder: {note}", file=sys.stderr)
    if not written.paths:
        print("autograder: no submission came from a Canvas or Moodle download and no export "
              "was given: no LMS file written", file=sys.stderr)
    for path in written.paths:
        print(f"autograder: wrote {path}")
    return 0

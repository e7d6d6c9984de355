"""Grades back into the LMS: the origins kept at intake, and the Canvas and Moodle import files.

What the LMSs accept is read here the way their importers read it (from their sources:
Canvas's ``app/models/gradebook_importer.rb``, Moodle's ``mod/assign/feedback/offline``),
by ``canvas_reads`` and ``moodle_reads``; no sandbox and no grading are needed.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from autograder import lms
from autograder.inputs import gather

NOW = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)
BULK = {  # an LMS bulk download, as Canvas and Moodle name its entries
    "doejane_1234_5678_01_activations.ipynb": "canvas",
    "leecarol_LATE_2345_6789_01_activations-1.ipynb": "canvas",
    "kimdan_3456_7890_01_activations.ipynb": "canvas",
    "nguyenan_4567_8901_01_activations.ipynb": "canvas",
    "Bob Smith_424242_assignsubmission_file_/01_activations.ipynb": "moodle",
    "O'Brien, \"Zoë\"_515151_assignsubmission_file_/01_activations.ipynb": "moodle",
    "=SUM(1,2)_616161_assignsubmission_file_/01_activations.ipynb": "moodle",
    "eve/01_activations.ipynb": "plain",
}
# student id -> (status, score) after grading; max 12
GRADES = {"doejane": ("graded", 11.5), "leecarol": ("timeout", 6.0),
          "kimdan": ("malformed", 0.0), "nguyenan": ("graded", 12.0),
          "p424242": ("graded", 9.0), "p515151": ("graded", 12.0),
          "p616161": ("forbidden", 3.0), "eve": ("graded", 12.0)}


@pytest.fixture
def origins(tmp_path) -> dict[str, dict]:
    bulk = tmp_path / "class.zip"
    with zipfile.ZipFile(bulk, "w") as zipped:
        for name in BULK:
            zipped.writestr(name, "{}")
    return lms.origins_of(gather(bulk, tmp_path / "inbox"))


def results(grades=GRADES) -> list[dict]:
    return [{"student_id": s, "status": status, "score": score, "max_score": 12.0}
            for s, (status, score) in grades.items()]


def read_rows(path: Path, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""),
                           delimiter=delimiter))


def canvas_reads(path: Path, delimiter: str = ",") -> tuple[dict, dict]:
    """({Canvas user id: {column: grade}}, {column: points possible}) as Canvas's importer
    reads the file: the header's student columns, the Points Possible row, posting rows."""
    rows = read_rows(path, delimiter)
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], header
    students = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        students += 1
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        students += 2
    assert "Section" in header[students - 1], "Canvas refuses a header without Section there"
    columns = [(i, t) for i, t in enumerate(header) if i >= students
               and not re.search("Current Score|Current Points|Current Grade|Final Score|"
                                 "Final Points|Final Grade|Override", t)]
    grades, points = {}, {}
    for row in rows[1:]:
        if row[0] and "Points Possible" in row[0]:
            points = {t: row[i] for i, t in columns}
        elif not all(re.match(r"^\s*(Muted|Manual Posting.*)?\s*$", c, re.I) for c in row):
            grades[row[1]] = {t: row[i].strip() for i, t in columns}
    return grades, points


def moodle_reads(path: Path) -> dict[str, tuple[str, str]]:
    """{participant number: (grade, last modified)} as Moodle's worksheet import reads it:
    columns found by their exact names, the number after "Participant "."""
    rows = read_rows(path)
    header = rows[0]
    ident, grade, modified = (header.index(n) for n in
                              ("Identifier", "Grade", "Last modified (grade)"))
    return {row[ident][len("Participant "):]: (row[grade], row[modified]) for row in rows[1:]}


def test_intake_keeps_where_each_submission_came_from(tmp_path, origins):
    bulk = tmp_path / "class.zip"
    entries = {e.student_id: e for e in gather(bulk, tmp_path / "inbox2")}
    assert sorted(entries) == sorted(GRADES), "the student ids must not change"
    assert origins["doejane"] == {"lms": "canvas", "user_id": "1234", "name": "doejane",
                                  "attachment_id": "5678", "late": False}
    assert origins["leecarol"]["late"] is True and origins["leecarol"]["user_id"] == "2345"
    assert origins["p424242"] == {"lms": "moodle", "participant": "424242",
                                  "full_name": "Bob Smith"}
    assert origins["p515151"]["full_name"] == "O'Brien, \"Zoë\""
    assert "eve" not in origins and entries["eve"].lms is None and entries["eve"].origin == {}
    assert json.loads(json.dumps(origins)) == origins  # report.json can hold them


def test_new_files_hold_exactly_what_each_lms_imports(tmp_path, origins):
    written = lms.write_lms_files(tmp_path, "01_activations", results(), origins, now=NOW)
    assert written.paths == [tmp_path / lms.CANVAS_FILE, tmp_path / lms.MOODLE_FILE]

    rows = read_rows(tmp_path / lms.CANVAS_FILE)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "01_activations"]
    grades, points = canvas_reads(tmp_path / lms.CANVAS_FILE)
    assert points == {"01_activations": "12"}
    assert grades == {"1234": {"01_activations": "11.5"}, "2345": {"01_activations": "6"},
                      "4567": {"01_activations": "12"}}, "kimdan (malformed) gets no grade"

    assert moodle_reads(tmp_path / lms.MOODLE_FILE) == {
        "424242": ("9", NOW.isoformat()), "515151": ("12", NOW.isoformat()),
        "616161": ("3", NOW.isoformat())}
    rows = read_rows(tmp_path / lms.MOODLE_FILE)
    assert rows[0] == ["Identifier", "Full name", "Grade", "Maximum Grade",
                       "Last modified (grade)"], "a blank feedback column would erase feedback"
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["Participant 515151"] == "O'Brien, \"Zoë\""  # commas, quotes, non-ASCII
    assert names["Participant 616161"] == "'=SUM(1,2)", "a name must never run as a formula"

    notes = "\n".join(written.notes)
    assert "kimdan (malformed)" in notes and "keeps its current grade" in notes
    assert "p616161" in notes and "forbids" in notes
    assert "in no LMS file: eve" in notes  # a plain folder: in neither file
    assert "without an assignment id" in notes  # Canvas matches the title, or creates one


@pytest.mark.parametrize("delimiter,bom", [(",", False), (";", True)])
def test_a_canvas_export_is_filled_and_otherwise_left_as_it_was(tmp_path, origins, delimiter,
                                                                 bom):
    totals = ["Assignments Current Score", "Assignments Final Score", "Current Score",
              "Unposted Current Score", "Final Score", "Unposted Final Score"]
    export = [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 0: Setup (111)",
         "Activations, part 1 (222)", *totals],
        ["", "", "", "", "", "", "Manual Posting", *[""] * 6],
        ["    Points Possible", "", "", "", "", "10", "12", *["(read only)"] * 6],
        ["Doe, Jane", "1234", "S1", "jdoe", "Section A", "9,5", "3", *["80"] * 6],
        ["Lee, Carol", "2345", "S2", "clee", "Section A", "10", "EX", *["90"] * 6],
        ["Kim, Dan", "3456", "S3", "dkim", "Section B", "8", "7", *["70"] * 6],
        ['="=SUM(1,2)"', "9999", "S9", "x", "Section B", "", "5", *[""] * 6],
        ["Ünïcode, Ømar", "7777", "S7", "uo", "Section B", "", "", *[""] * 6],
    ]
    path = tmp_path / "export.csv"
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(export)
    out = tmp_path / "out"

    with pytest.raises(lms.LmsError, match=r"Activations, part 1 \(222\).*--canvas-column"):
        lms.write_lms_files(out, "01_activations", results(), origins, canvas_gradebook=path)
    for column in ("Activations, part 1 (222)", "222", "Activations, part 1"):
        written = lms.write_lms_files(out, "01_activations", results(), origins,
                                      canvas_gradebook=path, canvas_column=column)
        filled = out / lms.CANVAS_FILE
        assert filled.read_bytes().startswith(codecs.BOM_UTF8) == bom
        rows = read_rows(filled, delimiter)
        expected = [row[:] for row in export]
        expected[3][6] = "11.5"  # Jane; Carol is excused, Dan's submission was malformed
        assert rows == expected, column
    grades, points = canvas_reads(filled, delimiter)
    assert grades["1234"]["Activations, part 1 (222)"] == "11.5"
    assert grades["3456"]["Activations, part 1 (222)"] == "7", "a malformed one keeps its grade"
    assert points["Lab 0: Setup (111)"] == "10" and len(grades) == 5

    notes = "\n".join(written.notes)
    assert "nguyenan (Canvas user 4567)" in notes  # graded, but not in the export
    assert "excused" in notes and "leecarol" in notes
    assert "doejane (3 -> 11.5)" in notes
    assert "2 student(s) of the export have no submission here" in notes
    assert "worth" not in notes  # 12 points in Canvas and here

    export[2][6] = "100"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(export)
    written = lms.write_lms_files(out, "01_activations", results(), origins,
                                  canvas_gradebook=path, canvas_column="222")
    assert "worth 100 points in Canvas and 12 here" in "\n".join(written.notes)


def test_a_moodle_worksheet_is_filled_and_otherwise_left_as_it_was(tmp_path, origins):
    header = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
              "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
              "Feedback comments"]
    sheet = [
        header,
        ["Participant 424242", "Bob Smith", "bob@example.org", "Submitted for grading", "",
         "12.00", "Yes", "Monday, 1 December 2026, 10:00 AM", "-", ""],
        ["Participant 515151", "O'Brien, \"Zoë\"", "zoe@example.org", "Submitted for grading",
         "5.00", "12.00", "Yes", "Monday, 1 December 2026, 11:00 AM",
         "Tuesday, 2 December 2026, 9:00 AM", "Good start, \"see me\""],
        ["Participant 616161", "=SUM(1,2)", "", "Submitted for grading", "", "12.00", "No",
         "Monday, 1 December 2026, 11:30 AM", "-", ""],
        ["Participant 999999", "Ann Other", "ann@example.org", "No submission", "4.00",
         "12.00", "Yes", "-", "Tuesday, 2 December 2026, 9:00 AM", "kept"],
    ]
    path = tmp_path / "worksheet.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(sheet)
    written = lms.write_lms_files(tmp_path / "out", "01_activations", results(), origins,
                                  moodle_worksheet=path, now=NOW)
    filled = tmp_path / "out" / lms.MOODLE_FILE
    expected = [row[:] for row in sheet]
    expected[1][4], expected[2][4], expected[3][4] = "9", "12", "3"
    assert read_rows(filled) == expected
    assert moodle_reads(filled)["999999"] == ("4.00", "Tuesday, 2 December 2026, 9:00 AM")
    notes = "\n".join(written.notes)
    assert "cannot be changed" in notes and "p616161" in notes
    assert "p515151 (5.00 -> 12)" in notes
    assert "1 participant(s) of the worksheet have no submission here" in notes

    sheet[0] = ["Identifikator", "Vollständiger Name", "Bewertung", "Zuletzt geändert (Bewertung)"]
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(sheet[:1])
    with pytest.raises(lms.LmsError, match="in English"):
        lms.check_files("01_activations", moodle_worksheet=path)


def test_the_lms_command_rewrites_the_files_from_a_results_folder(tmp_path, origins, capsys):
    from autograder.grade import StudentResult

    out = tmp_path / "out"
    out.mkdir()
    students = [StudentResult(s, status, score, 12.0, origin=origins.get(s, {}))
                for s, (status, score) in GRADES.items()]
    written = lms.write_lms_files(out, "01_activations", students, now=NOW)  # their .origin
    assert written.paths == [out / lms.CANVAS_FILE, out / lms.MOODLE_FILE]
    (out / lms.CANVAS_FILE).unlink()
    report = {"assignment": "01_activations",
              "students": {s.student_id: vars(s) for s in students}}
    (out / "report.json").write_text(json.dumps(report))
    parser = argparse.ArgumentParser()
    lms.add_arguments(parser)

    assert lms.run(parser.parse_args([str(out)])) == 0
    captured = capsys.readouterr()
    assert str(out / lms.CANVAS_FILE) in captured.out and "kimdan (malformed)" in captured.err
    assert canvas_reads(out / lms.CANVAS_FILE)[0]["1234"] == {"01_activations": "11.5"}
    assert "424242" in moodle_reads(out / lms.MOODLE_FILE)

    (tmp_path / "junk.csv").write_text("name,grade\nx,1\n")
    assert lms.run(parser.parse_args([str(out), "--canvas-gradebook",
                                      str(tmp_path / "junk.csv")])) == 2
    assert "not a Canvas gradebook export" in capsys.readouterr().err

    for student in report["students"].values():
        del student["origin"]
    (out / "report.json").write_text(json.dumps(report))
    assert lms.run(parser.parse_args([str(out)])) == 2
    assert "grade again" in capsys.readouterr().err


def test_students_from_no_lms_get_no_file(tmp_path):
    written = lms.write_lms_files(tmp_path, "01_activations", results({"eve": ("graded", 3)}),
                                  {})
    assert written.paths == [] and written.notes == []
    assert not list(tmp_path.iterdir())


def test_canvas_students_who_share_a_name_and_notebooks_of_one_submission(tmp_path):
    """Canvas names files by the student's name: two users of the same name are two students
    (their user id appended), and several notebooks of one user are one submission, each
    notebook matched by the name the student gave it."""
    from autograder.inputs import _collect

    folder = tmp_path / "bulk"
    folder.mkdir()
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    for name in ("smithjohn_1111_9001_hw.ipynb", "smithjohn_2222_9002_hw.ipynb",
                 "doejane_3333_9003_part1.ipynb", "doejane_LATE_3333_9004_part2-1.ipynb"):
        (folder / name).write_text(notebook)
    entries = {e.student_id: e for e in gather(folder, tmp_path / "inbox")}
    assert set(entries) == {"smithjohn_1111", "smithjohn_2222", "doejane"}
    assert not any(e.problem for e in entries.values()), [e.problem for e in entries.values()]
    assert entries["smithjohn_2222"].origin["user_id"] == "2222"
    chosen, problem = _collect(entries["doejane"].notebooks(),
                               {"part1.ipynb": set(), "part2.ipynb": set()}, "doejane")
    assert not problem and {name: path.name for name, (_, path) in chosen.items()} == {
        "part1.ipynb": "doejane_3333_9003_part1.ipynb",
        "part2.ipynb": "doejane_LATE_3333_9004_part2-1.ipynb"}


def test_moodle_download_without_folders(tmp_path):
    """Moodle's bulk download with "Download submissions in folders" off: each file carries
    the folder's prefix; one participant's notebooks are one submission."""
    from autograder.inputs import _collect

    folder = tmp_path / "bulk"
    folder.mkdir()
    notebook = nbformat.writes(nbformat.v4.new_notebook())
    for name in ("Jane Doe_123456_assignsubmission_file_part1.ipynb",
                 "Jane Doe_123456_assignsubmission_file_part2.ipynb",
                 "Dan Kim_234567_assignsubmission_file_part1.ipynb"):
        (folder / name).write_text(notebook)
    entries = {e.student_id: e for e in gather(folder, tmp_path / "inbox")}
    assert set(entries) == {"p123456", "p234567"}
    assert not any(e.problem for e in entries.values())
    assert entries["p123456"].origin == {"lms": "moodle", "participant": "123456",
                                         "full_name": "Jane Doe"}
    chosen, problem = _collect(entries["p123456"].notebooks(),
                               {"part1.ipynb": set(), "part2.ipynb": set()}, "p123456")
    assert not problem and set(chosen) == {"part1.ipynb", "part2.ipynb"}

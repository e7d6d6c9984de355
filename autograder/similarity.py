"""Pairs of submissions whose answer code is suspiciously alike: a lead for the instructor to
read, never a verdict (grades do not change).

The comparison is copydetect's (winnowed fingerprints of the code after its names, strings
and comments are normalized away, as in MOSS): renaming variables, rewriting comments or
changing the layout does not hide a copy. Each answer cell is compared with the same cell of
the other submission. What every student is given is left out first: the assignment's own
text (its markdown, locked and test cells, and each answer cell as released: signature,
docstring, stub).

Honest answers to the same short task are often alike: every student writes
``m = beta1 * m + (1 - beta1) * grad`` for Adam, and after normalization that line is the
same in all of them. The guards, measured on chapter 05 (the longest, most formulaic answers)
with two independently written correct solutions besides the model answer
(tests/test_report.py keeps the decisive cases):

* ``noise_t`` = ``guarantee_t`` = 25: a match runs over at least 25 characters of normalized
  code (``V=V*V+(1-V)*V`` is 13), and every such match is found (winnowing window 1: our
  answers are short, so exact costs nothing).
* ``threshold`` = 0.6, the share of one submission's own code (given lines left out) that
  the other matches, cell by cell: the honest solutions share at most 0.43 of theirs with
  the model answer (the one written in the docstrings' own notation and idioms) and 0.28 with
  each other; a copy with renamed variables and new comments shares 1.0, and one also
  rewritten in a few places throughout (``g * g`` as ``g ** 2``, ``(1 - b) * g`` as
  ``g * (1 - b)``, other literals) 0.67.
* ``min_overlap`` = 200 normalized characters in common (about five statements): one honest
  short answer alone can match the model answer at 0.81 (AdaGrad's two lines), but shares
  68 characters with it; a whole copied chapter shares about 1800.
* In a class of :data:`CROWD` submissions or more, a fingerprint that more than half of them
  share is the class's common way of writing a formula, not a copy: it is left out too.

What it cannot see: a copy rewritten statement by statement, one of a few short answers only,
or code copied from outside the class.
"""

from __future__ import annotations

import io
import logging
import math
import re
from itertools import combinations
from pathlib import Path

from autograder.nbcells import grade_id, nbgrader_meta

#: Length, in characters of normalized code, of the shortest match that counts (k-grams).
NOISE_T = 25
#: A match this long is always found (winnowing window = guarantee_t - noise_t + 1).
GUARANTEE_T = 25
#: Share of one submission's code that the other matches, from which a pair is reported.
THRESHOLD = 0.6
#: Normalized characters a pair must share to be reported (about five statements).
MIN_OVERLAP = 200
#: Cells shown side by side for a pair (the most matched), and pairs kept (the most alike).
MOST_CELLS, MOST_PAIRS = 4, 100
#: From this many submissions on, fingerprints most of the class shares are left out.
CROWD = 6

#: The header answer_code puts before each answer cell (a comment: the comparison ignores it).
CELL_HEADER = "# ── answer cell {} ──"
_HEADER = re.compile(r"^# ── answer cell (.+) ──$", re.M)
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?^[ \t]*### END SOLUTION[^\n]*", re.M | re.S)


def answer_code(notebook, answer_ids: set[str], *, label: str = "") -> str:
    """The code of a student's answer cells (nbgrader solution cells whose grade_id is in
    ``answer_ids``), in notebook order, each after a :data:`CELL_HEADER` line (its id, after
    ``label/`` when given: the notebook's, for an assignment of several)."""
    parts = []
    for cell in getattr(notebook, "cells", None) or []:
        meta = nbgrader_meta(cell)
        if (cell.get("cell_type") == "code" and meta.get("solution")
                and grade_id(cell) in answer_ids):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            name = f"{label}/{grade_id(cell)}" if label else grade_id(cell)
            parts.append(CELL_HEADER.format(name) + "\n" + source)
    return "\n\n".join(parts)


def class_pairs(work: Path, assignment: str, sources: dict, students, **options) -> list[dict]:
    """:func:`similar_pairs` of a graded class: each student's answer cells read from the
    grader's staged copies, ``work/submitted/<student>/<assignment>/<notebook>``, against the
    instructor's notebooks ``sources`` (file name -> notebook); ``students``: the ids to
    compare (those graded). [] when nothing can be compared."""
    import nbformat

    try:
        several = len(sources) > 1
        answers = {}
        for student in students:
            parts = []
            for name, source in sources.items():
                ids = {grade_id(c) for c in source.cells if nbgrader_meta(c).get("solution")}
                path = Path(work) / "submitted" / student / assignment / name
                if ids and path.is_file():
                    notebook = nbformat.read(path, as_version=4)
                    parts.append(answer_code(notebook, ids, label=Path(name).stem if several
                                             else ""))
            answers[student] = "\n\n".join(p for p in parts if p)
        given = [text for source in sources.values() for text in boilerplate(source)]
    except Exception as error:  # noqa: BLE001 - a lead for the instructor, never a failure
        logging.getLogger(__name__).warning("similarity not computed: %s: %s",
                                            type(error).__name__, error)
        return []
    return similar_pairs(answers, given, **options)


def released(source: str) -> str:
    """An answer cell as nbgrader releases it: each solution region replaced by its stub."""
    return _SOLUTION.sub(lambda m: f"{m[1]}# YOUR CODE HERE\n{m[1]}raise NotImplementedError()",
                         source)


def boilerplate(notebook) -> list[str]:
    """What every student of an assignment is given, from the instructor's notebook: every
    cell but the answers, and each answer cell as released (signature, docstring, stub)."""
    texts = []
    for cell in getattr(notebook, "cells", None) or []:
        source = str(cell.get("source", ""))
        texts.append(released(source) if nbgrader_meta(cell).get("solution") else source)
    return texts


def similar_pairs(answers: dict[str, str], boilerplate: list[str], *,
                  threshold: float = THRESHOLD, noise_t: int = NOISE_T,
                  guarantee_t: int = GUARANTEE_T, min_overlap: int = MIN_OVERLAP,
                  crowd: int = CROWD, most: int = MOST_PAIRS) -> list[dict]:
    """Pairs of students whose answers are alike, most alike first (at most ``most``); [] when
    none, and on any input it cannot compare (one student, empty code, code that is not
    Python).

    Each pair: ``students`` (two ids), ``similarity`` (the larger of the two shares),
    ``shares`` ({id: share of that student's code the other matches}), ``overlap``
    (normalized characters in common) and ``cells``: the answer cells that hold matches,
    most matched first (at most :data:`MOST_CELLS`), each ``{"cell", "code": {id: source},
    "matches": {id: [[start, end], ...]}, "given": {id: [[start, end], ...]}, "overlap",
    "share"}``: offsets into that cell's source of the matched code and of the lines the
    assignment gave verbatim (left out of the comparison).
    """
    try:
        return _similar_pairs(answers, boilerplate, threshold, noise_t, guarantee_t,
                              min_overlap, crowd)[:most]
    except Exception as error:  # noqa: BLE001 - a lead for the instructor, never a failure
        logging.getLogger(__name__).warning("similarity not computed: %s: %s",
                                            type(error).__name__, error)
        return []


def fingerprint(code: str, noise_t: int, window: int):
    """copydetect's fingerprint of Python code (names, strings, comments normalized)."""
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", noise_t, window, language="python",
                           fp=io.StringIO(code))


def _leave_out(found, hashes: set[int]) -> None:
    """Drop fingerprints from ``found`` (copydetect's own boilerplate step drops a
    fingerprint that occurs twice in one file even when no boilerplate has it)."""
    from copydetect.utils import get_token_coverage

    found.hashes = found.hashes - hashes
    found.hash_idx = {h: i for h, i in found.hash_idx.items() if h not in hashes}
    found.token_coverage = get_token_coverage(found.hash_idx, found.k, len(found.filtered_code))


def _similar_pairs(answers, boilerplate, threshold, noise_t, guarantee_t, min_overlap, crowd):
    if not isinstance(answers, dict) or len(answers) < 2:
        return []
    window = max(guarantee_t - noise_t + 1, 1)
    texts = [text for text in boilerplate or [] if isinstance(text, str) and text.strip()]
    given: set[int] = set()
    for text in texts:
        given |= fingerprint(text, noise_t, 1).hashes  # every k-gram of what was given
    given_lines = {line.strip() for text in texts for line in text.splitlines()} - {""}
    sources = {student: _split(code) for student, code in answers.items()
               if isinstance(student, str) and isinstance(code, str) and code.strip()}
    # Lines given verbatim (signature, docstring, a hint's code) are blanked, not cut: what is
    # left keeps its offsets, and no match runs from the given text into the student's.
    blanked = {student: {cell: _blank(text, given_lines) for cell, text in cells.items()}
               for student, cells in sources.items()}
    prints = {student: {cell: fingerprint(text, noise_t, window)
                        for cell, (text, _) in cells.items()}
              for student, cells in blanked.items()}
    if len(prints) >= crowd:
        counts: dict[int, int] = {}
        for cells in prints.values():
            for value in set().union(*(found.hashes for found in cells.values())):
                counts[value] = counts.get(value, 0) + 1
        given |= {value for value, count in counts.items() if count * 2 > len(prints)}
    for cells in prints.values():
        for found in cells.values():
            _leave_out(found, given)
    coverage = {student: sum(found.token_coverage for found in cells.values())
                for student, cells in prints.items()}
    pairs = []
    for a, b in combinations(sorted(prints), 2):
        if not coverage[a] or not coverage[b]:
            continue
        cells = [_compare(cell, {a: prints[a][cell], b: prints[b][cell]},
                          {a: sources[a][cell], b: sources[b][cell]},
                          {a: blanked[a][cell][1], b: blanked[b][cell][1]})
                 for cell in prints[a] if cell in prints[b]]
        cells = [cell for cell in cells if cell]
        overlap = {a: sum(c["overlap"][a] for c in cells), b: sum(c["overlap"][b] for c in cells)}
        shares = {s: _finite(overlap[s] / coverage[s]) for s in (a, b)}
        if min(overlap.values()) < min_overlap or max(shares.values()) < threshold:
            continue
        cells.sort(key=lambda cell: -cell["share"])
        pairs.append({"students": [a, b], "similarity": round(max(shares.values()), 3),
                      "shares": {s: round(share, 3) for s, share in shares.items()},
                      "overlap": int(min(overlap.values())), "cells": cells[:MOST_CELLS]})
    pairs.sort(key=lambda pair: (-pair["similarity"], -pair["overlap"], pair["students"]))
    return pairs


def _compare(cell: str, prints: dict, sources: dict[str, str], given: dict[str, list]):
    """One answer cell of two students (each dict keyed by the two ids): the normalized
    characters each has in common with the other, where (offsets into each source), the
    lines given by the assignment, and the matched share of the two; None if nothing matches."""
    from copydetect import compare_files

    a, b = prints
    if not prints[a].hashes or not prints[b].hashes:
        return None
    overlap_a, (_, share_b), (slices_a, slices_b) = compare_files(prints[a], prints[b])
    if not overlap_a:
        return None
    overlap_b = _finite(share_b) * prints[b].token_coverage
    coverage = prints[a].token_coverage + prints[b].token_coverage
    return {"cell": cell, "code": sources, "given": given,
            "matches": {a: _ranges(slices_a), b: _ranges(slices_b)},
            "overlap": {a: int(overlap_a), b: int(round(overlap_b))},
            "share": round(_finite((overlap_a + overlap_b) / coverage), 3)}


def _blank(source: str, given: set[str]) -> tuple[str, list[list[int]]]:
    """``source`` with each line that is given verbatim turned to spaces, and the given
    ranges ([start, end], consecutive lines merged)."""
    lines, ranges, at = [], [], 0
    for line in source.splitlines(keepends=True):
        text = line.rstrip("\r\n")
        if text.strip() in given:
            lines.append(" " * len(text) + line[len(text):])
            if ranges and ranges[-1][1] >= at - 1:
                ranges[-1][1] = at + len(text)
            else:
                ranges.append([at, at + len(text)])
        else:
            lines.append(line)
        at += len(line)
    return "".join(lines), ranges


def _ranges(slices) -> list[list[int]]:
    """copydetect's slices (starts row, ends row) as [start, end] pairs, in order."""
    return [[int(start), int(end)] for start, end in zip(*slices, strict=True)]


def _finite(share) -> float:
    share = float(share)
    return share if math.isfinite(share) else 0.0


def _split(code: str) -> dict[str, str]:
    """Each answer cell's source in code from :func:`answer_code`, by cell id (one cell,
    ``answers``, for code without headers)."""
    headers = list(_HEADER.finditer(code))
    if not headers:
        return {"answers": code}
    ends = [h.start() for h in headers[1:]] + [len(code)]
    cells: dict[str, str] = {}
    for header, end in zip(headers, ends, strict=True):
        cells[header[1]] = cells.get(header[1], "") + code[header.end() + 1:end].rstrip("\n")
    return cells

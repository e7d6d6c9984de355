"""The class report: ``OUT/report.html``, one page for the instructor after grading a class.

``python -m autograder report OUT [--site-url URL]`` (or :func:`write_report`) reads
``OUT/report.json`` and writes one self-contained file (its CSS, script and plots inline;
nothing loaded from anywhere, so it works opened from disk or served): the scores and their
distribution (beside earlier runs' from the gradebook), each task's pass rate and the
misconceptions behind its failures, who needs attention (timeouts, crashes, malformed,
duplicate or forbidden work), every student with a link to their feedback, and the pairs of
submissions whose code is alike.

Everything that comes from a submission (ids, messages, code) is escaped; a Content Security
Policy lets only the page's own script run. Tables sort by a click on a column header (a
button: keyboard too) and read the same without JavaScript.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import statistics
import sys
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

from autograder.history import SCORED

#: Statuses that need the instructor's attention, and what each means.
ATTENTION = {
    "timeout": "its time budget ran out (the tests reached still count)",
    "crashed": "the grader could not grade or record it",
    "malformed": "not a notebook of this assignment, unreadable, or a bad student id",
    "duplicate": "two submissions for one student id: keep one and grade again",
    "forbidden": "uses an API the assignment forbids (the score is what the tests gave)",
}
STATUSES = ("graded", *ATTENTION)
#: Earlier runs drawn beside this one.
EARLIER_SHOWN = 3
#: Misconceptions listed per task.
TOP_PER_TASK = 3
#: Similar pairs whose code is shown unfolded (the most alike).
OPEN_PAIRS = 10

CSS = """
:root { color-scheme: light dark; --fg: #1b1b1f; --muted: #4b5060; --bg: #ffffff;
  --panel: #f3f4f7; --line: #c9ccd6; --accent: #1f5fa8; --ok: #1b7437; --bad: #b3261e;
  --warn: #8a5a00; --mark: #ffe08a; --bar: #1f5fa8; --bar-bg: #dde1ea; --earlier: #6b4fa0; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e7e8ec; --muted: #b4b8c5; --bg: #15171c; --panel: #1f232b; --line: #3a404d;
    --accent: #8ab4f8; --ok: #7fd49a; --bad: #ff8a80; --warn: #f3c26b; --mark: #6b5200;
    --bar: #8ab4f8; --bar-bg: #343a46; --earlier: #c3a6f5; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 1.5rem; font: 15px/1.5 system-ui,
  -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, summary:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
.muted { color: var(--muted); }
nav ul, ul.chips { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1rem; }
ul.chips li { background: var(--panel); border: 1px solid var(--line); border-radius: 1rem;
  padding: .1rem .7rem; }
.stats { display: flex; flex-wrap: wrap; gap: .5rem 2rem; margin: .6rem 0; }
.stats div { font-size: 1.05rem; } .stats b { font-size: 1.35rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .93rem; }
caption { text-align: left; color: var(--muted); padding: .2rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left;
  vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td ul { margin: 0; padding-left: 1.1rem; } td li + li { margin-top: .3rem; }
th.wide { width: 42%; }
th button { font: inherit; font-weight: 600; color: inherit; background: none; border: 0;
  padding: 0; cursor: pointer; text-align: inherit; }
th .arrow::after { content: " \\2195"; color: var(--muted); }
th[aria-sort="ascending"] .arrow::after { content: " \\2191"; color: var(--fg); }
th[aria-sort="descending"] .arrow::after { content: " \\2193"; color: var(--fg); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: .88em; }
.status-graded { color: var(--ok); } .status-timeout, .status-forbidden { color: var(--warn); }
.status-crashed, .status-malformed, .status-duplicate { color: var(--bad); }
.up { color: var(--ok); } .down { color: var(--bad); }
.message { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 60rem; }
svg text { fill: currentColor; font-size: 12px; }
svg .axis { stroke: var(--muted); } svg .bar { fill: var(--bar); }
svg .bar.earlier { fill: var(--earlier); }
svg .bar-bg { fill: var(--bar-bg); } svg .mean { stroke: var(--fg); stroke-dasharray: 4 3; }
svg .max { stroke: var(--bad); } svg .max-label { fill: var(--bad); }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.plots figure { margin: 0; max-width: 360px; }
figcaption { color: var(--muted); font-size: .9rem; }
.pair { border: 1px solid var(--line); border-radius: .4rem; padding: .3rem 1rem 1rem;
  margin: 1rem 0; }
.side { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: .8rem; }
.given { color: var(--muted); font-style: italic; }
.side pre { background: var(--panel); border: 1px solid var(--line); padding: .6rem;
  overflow: auto; max-height: 28rem; margin: .2rem 0; white-space: pre; }
mark { background: var(--mark); color: inherit; }
details summary { cursor: pointer; color: var(--accent); }
.note { background: var(--panel); border-left: 4px solid var(--accent); padding: .5rem .8rem; }
"""

# Sorting: each sortable table's header cells become buttons; numbers sort as numbers
# (a cell's data-sort when it has one, else its text).
SCRIPT = """
(() => {
  const key = (row, column) => {
    const cell = row.cells[column];
    const text = (cell && (cell.dataset.sort ?? cell.textContent) || '').trim();
    const number = Number(text);
    return text !== '' && Number.isFinite(number) ? [0, number] : [1, text.toLowerCase()];
  };
  const order = (a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
  for (const table of document.querySelectorAll('table.sortable')) {
    const heads = [...table.tHead.rows[0].cells];
    heads.forEach((th, column) => {
      const button = document.createElement('button');
      button.type = 'button';
      const arrow = document.createElement('span');
      arrow.className = 'arrow';
      arrow.setAttribute('aria-hidden', 'true');  // the state is aria-sort's to say
      button.append(...th.childNodes, arrow);
      th.append(button);
      button.addEventListener('click', () => {
        const ascending = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(other => other.removeAttribute('aria-sort'));
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        const body = table.tBodies[0];
        const rows = [...body.rows].sort((a, b) => order(key(a, column), key(b, column)));
        body.append(...(ascending ? rows : rows.reverse()));
      });
    });
    const hint = document.createElement('span');
    hint.textContent = ' (select a column header to sort)';
    if (table.caption) table.caption.append(hint);
  }
})();
"""


def esc(value) -> str:
    """Text (from anywhere: a student, a message, code) made safe inside HTML and attributes."""
    return escape("" if value is None else str(value), quote=True)


def write_report(out: Path, site_url: str | None = None) -> Path:
    """Read ``out/report.json``, write ``out/report.html``; return its path. ``site_url``: the
    course website's address (the book's sections are linked there); without it the book's
    pages are named, not linked; by default the address ``grade`` was given, if any."""
    out = Path(out)
    source = out / "report.json"
    report = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(report, dict):
        raise ValueError(f"{source} is not a grader's report (a JSON object)")
    if not isinstance(report.get("run"), dict):
        report["run"] = {}
    if not report["run"].get("finished"):
        modified = datetime.fromtimestamp(source.stat().st_mtime).astimezone()
        report["run"]["finished"] = modified.isoformat(timespec="seconds")
    site_url = site_url or report["run"].get("site_url")  # the one `grade` was given
    if not isinstance(site_url, str) or not site_url.startswith(("https://", "http://")):
        site_url = None
    page = render(report, site_url=site_url, feedback=lambda student: _feedback(out, student))
    target = out / "report.html"
    partial = target.with_suffix(".html.partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    return target


def _feedback(out: Path, student: str) -> list[str]:
    """Relative links to a student's feedback pages (one per notebook when several)."""
    if not student or "/" in student or student.startswith("."):
        return []
    if (out / "feedback" / f"{student}.html").is_file():
        return [f"feedback/{quote(student)}.html"]
    folder = out / "feedback" / student
    if folder.is_dir():
        return [f"feedback/{quote(student)}/{quote(page.name)}"
                for page in sorted(folder.glob("*.html"))]
    return []


# --- the page ---------------------------------------------------------------------------------

def render(report: dict, *, site_url: str | None = None, feedback=None,
           known: dict | None = None) -> str:
    """The report's HTML. ``feedback(student) -> [relative links]``; ``known``: the
    misconceptions by id (default: every one the course's checks define)."""
    data = _Class(report, site_url, known)
    sections = [
        ("scores", "Scores", data.scores_section()),
        ("tasks", "Tasks", data.tasks_section()),
        ("misconceptions", "Misconceptions", data.misconceptions_section()),
        ("attention", "Needs attention", data.attention_section()),
        ("students", "Students", data.students_section(feedback or (lambda _: []))),
        ("similarity", "Similar submissions", data.similarity_section()),
    ]
    if data.findings:
        sections.insert(5, ("assignment", "The assignment's tests", data.findings_section()))
    nav = "".join(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title, _ in sections)
    body = "".join(f'<section aria-labelledby="{key}"><h2 id="{key}">{esc(title)}</h2>'
                   f"{content}</section>" for key, title, content in sections)
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>Class report: {esc(data.assignment)}</title><style>{CSS}</style></head>"
        f"<body><header>{data.header()}<nav aria-label=\"Sections\"><ul>{nav}</ul></nav>"
        f"</header><main>{body}</main>"
        f"<footer class=\"muted\"><p>Written by <code>python -m autograder report</code> from "
        f"report.json.</p></footer><script>{SCRIPT}</script></body></html>\n")


class _Class:
    """One run's report, read once; each method writes one part of the page."""

    def __init__(self, report: dict, site_url: str | None, known: dict | None):
        self.assignment = str(report.get("assignment") or "?")
        self.max_score = _number(report.get("max_score"))
        self.run = _mapping(report.get("run"))
        findings = self.run.get("findings")
        self.findings = [f for f in findings if isinstance(f, dict)] if isinstance(
            findings, list) else []
        students = _mapping(report.get("students"))
        self.students = {str(k): v for k, v in sorted(students.items()) if isinstance(v, dict)}
        self.scored = {s: r for s, r in self.students.items() if r.get("status") in SCORED}
        similar = report.get("similarity")
        self.similarity = similar if isinstance(similar, list) or similar is None else []
        earlier = report.get("history")
        self.history = [run for run in earlier if isinstance(run, dict)] if isinstance(
            earlier, list) else []
        self.site_url = site_url.rstrip("/") + "/" if site_url else None
        self.tests: dict[str, dict] = {}  # test id -> counts, points, who has which mistake
        self.mistakes: dict[str, dict] = {}  # misconception id -> students, tasks, a message
        for student, result in self.students.items():
            for test_id, test in _mapping(result.get("tests")).items():
                if not isinstance(test, dict):
                    continue
                entry = self.tests.setdefault(str(test_id), {
                    "notebook": test.get("notebook", ""), "points": _number(test.get("max_score")),
                    "passed": 0, "failed": [], "mistakes": {}})
                if test.get("passed"):
                    entry["passed"] += 1
                    continue
                entry["failed"].append(student)
                for tag in test.get("misconceptions") or []:
                    tag = str(tag)
                    entry["mistakes"].setdefault(tag, []).append(student)
                    mistake = self.mistakes.setdefault(tag, {
                        "students": set(), "tasks": {}, "message": test.get("message", "")})
                    mistake["students"].add(student)
                    mistake["tasks"][str(test_id)] = None
        self.known = known if known is not None else _known(self.mistakes)

    # --- header and scores ---

    def header(self) -> str:
        counts = {}
        for result in self.students.values():
            status = str(result.get("status") or "?")
            counts[status] = counts.get(status, 0) + 1
        chips = "".join(f'<li><span class="status-{esc(s)}">{esc(s)}</span>: {n}</li>'
                        for s, n in sorted(counts.items(), key=lambda c: _status_order(c[0])))
        scores = [_number(r.get("score")) for r in self.scored.values()]
        stats = (f"<div>mean <b>{_fmt(statistics.fmean(scores))}</b></div>"
                 f"<div>median <b>{_fmt(statistics.median(scores))}</b></div>"
                 f"<div>range {_fmt(min(scores))}–{_fmt(max(scores))}</div>"
                 if scores else "<div>no scored submission</div>")
        finished = _when(self.run.get("finished"))
        took = (f"; graded in {_fmt(_number(self.run.get('seconds')), 0)} s"
                if self.run.get("seconds") is not None else "")
        return (
            f"<h1>Class report: {esc(self.assignment)}</h1>"
            f'<p class="muted">Run finished {esc(finished)}{esc(took)}. '
            f"{len(self.students)} submissions, out of {_fmt(self.max_score)} points.</p>"
            f'<ul class="chips" aria-label="Submissions by status">{chips}</ul>'
            f'<div class="stats" aria-label="Scores">{stats}'
            f"<div class=\"muted\">over the {len(scores)} scored submissions (graded, timeout, "
            f"forbidden)</div></div>")

    def scores_section(self) -> str:
        current = sorted(_number(r.get("score")) for r in self.scored.values())
        runs = [("this run", _when(self.run.get("finished")), current, self.max_score)]
        for run in self.history[:EARLIER_SHOWN]:
            runs.append(("earlier run", _when(run.get("finished")),
                         sorted(_number(s) for s in run.get("scores") or []),
                         _number(run.get("max_score")) or self.max_score))
        top = max(self.max_score, *(r[3] for r in runs))
        whole = all(float(v).is_integer() for _, _, scores, m in runs for v in (*scores, m))
        bins = _bins(top, whole)
        tallest = max([1, *(max(_counts(scores, bins)) for _, _, scores, _ in runs if scores)])
        plots = "".join(
            f"<figure>{_histogram(scores, bins, m, tallest, f'{label}, {when}', i, whole)}"
            f"<figcaption>{esc(label)}, {esc(when)}: {len(scores)} scored"
            f"{', mean ' + _fmt(statistics.fmean(scores)) if scores else ''}</figcaption>"
            "</figure>" for i, (label, when, scores, m) in enumerate(runs))
        text = ("<p>How many scored submissions fell in each band of points; the dashed line "
                "is the mean, the red one the maximum.</p>")
        if len(runs) > 1:
            rows = "".join(
                f"<tr><td>{esc(label)}</td><td>{esc(when)}</td><td class=\"num\">{len(scores)}"
                f"</td><td class=\"num\">{_fmt(statistics.fmean(scores)) if scores else '—'}</td>"
                f"<td class=\"num\">{_fmt(statistics.median(scores)) if scores else '—'}</td>"
                f"<td class=\"num\">{_fmt(m)}</td></tr>"
                for label, when, scores, m in runs)
            text += ("<p>Earlier runs of this assignment, from the gradebook, on the same "
                     "scale.</p>")
            table = ("<table><caption>This run and earlier ones</caption><thead><tr><th>Run</th>"
                     "<th>Finished</th><th class=\"num\">Scored</th><th class=\"num\">Mean</th>"
                     f"<th class=\"num\">Median</th><th class=\"num\">Out of</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
        else:
            table = "<p class=\"muted\">No earlier run of this assignment in the gradebook.</p>"
        return f'{text}<div class="plots">{plots}</div>{table}'

    # --- tasks and misconceptions ---

    def tasks_section(self) -> str:
        if not self.tests:
            return "<p>No test was run (no submission could be graded).</p>"
        previous = self.history[0] if self.history else None
        rows = []
        for test_id, entry in self.tests.items():
            failed, passed = len(entry["failed"]), entry["passed"]
            rate = passed / (passed + failed) if passed + failed else 0.0
            change, change_sort = "", ""
            if previous is not None:
                before = _mapping(previous.get("tests")).get(test_id)
                was_passed, was_failed = (_number(before.get(k)) if isinstance(before, dict)
                                          else 0.0 for k in ("passed", "failed"))
                if was_passed + was_failed:
                    was = was_passed / (was_passed + was_failed)
                    points = round(100 * (rate - was))
                    tone = "up" if points > 0 else "down" if points < 0 else ""
                    change = (f'<span class="{tone}" title="was {round(100 * was)}%">'
                              f"{f'{points:+d}' if points else '0'} pp</span>")
                    change_sort = str(points)
                else:
                    change = '<span class="muted">new</span>'
            mistakes = sorted(entry["mistakes"].items(), key=lambda m: (-len(set(m[1])), m[0]))
            listed = "".join(
                f"<li>{self.mistake_name(tag)} × {len(set(who))}: {self.explain(tag, short=True)}"
                f"{_who(sorted(set(who)))}</li>" for tag, who in mistakes[:TOP_PER_TASK])
            more = (f"<li class=\"muted\">and {len(mistakes) - TOP_PER_TASK} more</li>"
                    if len(mistakes) > TOP_PER_TASK else "")
            rows.append(
                f"<tr><td><code>{esc(test_id)}</code></td><td>{esc(entry['notebook'])}</td>"
                f"<td class=\"num\">{_fmt(entry['points'])}</td>"
                f"<td class=\"num\" data-sort=\"{rate:.4f}\">{_rate_bar(rate)} "
                f"{round(100 * rate)}%</td><td class=\"num\">{passed}</td>"
                f"<td class=\"num\" data-sort=\"{failed}\">{failed} {_who(entry['failed'])}</td>"
                + (f"<td class=\"num\" data-sort=\"{change_sort}\">{change}</td>"
                   if previous is not None else "")
                + f"<td>{'<ul>' + listed + more + '</ul>' if listed else ''}</td></tr>")
        since = '<th class="num">Change</th>' if previous is not None else ""
        note = (f"<p>Change: the pass rate's change, in percentage points, since the run of "
                f"{esc(_when(previous.get('finished')))}.</p>" if previous is not None else "")
        return (f"<p>Each test cell: how many of the submissions that ran it passed, and the "
                f"known mistakes its failures show.</p>{note}"
                "<table class=\"sortable\"><caption>Tasks</caption><thead><tr><th>Test</th>"
                "<th>Notebook</th><th class=\"num\">Points</th><th class=\"num\">Pass rate</th>"
                "<th class=\"num\">Passed</th><th class=\"num\">Failed</th>"
                f"{since}<th class=\"wide\">Most frequent misconceptions</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def misconceptions_section(self) -> str:
        if not self.mistakes:
            return ("<p>No failure was recognized as a known misconception (the checks tag "
                    "the mistakes they recognize).</p>")
        before = _mapping(self.history[0].get("misconceptions")) if self.history else None
        rows = []
        for tag, mistake in sorted(self.mistakes.items(),
                                   key=lambda m: (-len(m[1]["students"]), m[0])):
            who = sorted(mistake["students"])
            earlier = ""
            if before is not None:
                earlier = f"<td class=\"num\">{_number(before.get(tag, 0)):g}</td>"
            rows.append(
                f"<tr><td>{self.mistake_name(tag)}</td><td>{self.explain(tag)}</td>"
                f"<td class=\"num\" data-sort=\"{len(who)}\">{len(who)} {_who(who)}</td>"
                f"{earlier}<td>{', '.join(f'<code>{esc(t)}</code>' for t in mistake['tasks'])}"
                "</td></tr>")
        earlier_head = ('<th class="num">Previous run</th>' if before is not None else "")
        return ("<p>The known mistakes behind the failures, across the class: each is "
                "explained in the book (students see the same explanation in their feedback)."
                "</p><table class=\"sortable\"><caption>Misconceptions</caption><thead><tr>"
                "<th>Misconception</th><th>What it means</th><th class=\"num\">Students</th>"
                f"{earlier_head}<th>Tasks</th></tr></thead><tbody>{''.join(rows)}</tbody>"
                "</table>")

    def mistake_name(self, tag: str) -> str:
        return f"<code>{esc(tag)}</code>"

    def explain(self, tag: str, short: bool = False) -> str:
        """A misconception's one-line explanation and where the book explains it (linked when
        the site's address is known, else the page named unless ``short``); an unknown id (an
        instructor's own), the first message that carried it."""
        known = self.known.get(tag)
        if known is None:
            message = str(self.mistakes.get(tag, {}).get("message", ""))
            return (f'<span class="muted">(not one of the course\'s)</span> '
                    f'<span class="message">{esc(_shorten(message, 200 if short else 400))}'
                    "</span>")
        where = f"read “{esc(known.section)}”"
        if self.site_url:
            where = f'<a href="{esc(self.site_url + known.link)}">{where}</a>'
        elif not short:
            where += f": <code>{esc(known.link)}</code>"
        return f"{esc(known.text)} <span class=\"muted\">({where})</span>"

    # --- students ---

    def attention_section(self) -> str:
        rows = []
        for student, result in self.students.items():
            status = str(result.get("status") or "?")
            if status not in ATTENTION:
                continue
            uses = "".join(f"<li><code>{esc(use.get('api'))}</code> in "
                           f"<code>{esc(use.get('where'))}</code> ({esc(use.get('how'))})</li>"
                           for use in result.get("forbidden") or [] if isinstance(use, dict))
            rows.append(
                f"<tr><td>{esc(student)}</td><td class=\"status-{esc(status)}\">{esc(status)}"
                f"</td><td class=\"num\">{_fmt(_number(result.get('score')))}</td>"
                f"<td><div class=\"message\">{esc(result.get('message') or ATTENTION[status])}"
                f"</div>{'<ul>' + uses + '</ul>' if uses else ''}</td></tr>")
        if not rows:
            return "<p>Every submission was graded normally.</p>"
        meaning = "".join(f"<li><b>{esc(s)}</b>: {esc(why)}</li>" for s, why in ATTENTION.items())
        return (f"<ul>{meaning}</ul><table class=\"sortable\"><caption>Submissions not graded "
                "normally</caption><thead><tr><th>Student</th><th>Status</th>"
                "<th class=\"num\">Score</th><th>Why</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def students_section(self, feedback) -> str:
        rows = []
        for student, result in self.students.items():
            status = str(result.get("status") or "?")
            tests = _mapping(result.get("tests"))
            failed = [t for t, test in tests.items() if isinstance(test, dict)
                      and not test.get("passed")]
            tags = list(dict.fromkeys(tag for t in failed
                                      for tag in tests[t].get("misconceptions") or []))
            links = feedback(student)
            pages = " ".join(
                f'<a href="{esc(link)}">{"feedback" if len(links) == 1 else esc(Path(link).stem)}'
                "</a>" for link in links) or '<span class="muted">none</span>'
            rows.append(
                f"<tr><td>{esc(student)}</td><td class=\"status-{esc(status)}\">{esc(status)}</td>"
                f"<td class=\"num\">{_fmt(_number(result.get('score')))}</td>"
                f"<td data-sort=\"{len(failed)}\">"
                f"{', '.join(f'<code>{esc(t)}</code>' for t in failed)}</td>"
                f"<td data-sort=\"{len(tags)}\">"
                f"{', '.join(f'<code>{esc(tag)}</code>' for tag in tags)}</td>"
                f"<td>{pages}</td></tr>")
        return ("<table class=\"sortable\"><caption>Every submission</caption><thead><tr>"
                "<th>Student</th><th>Status</th><th class=\"num\">Score</th><th>Failed tests</th>"
                "<th>Misconceptions</th><th>Feedback</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def findings_section(self) -> str:
        items = "".join(
            f"<li><b>{esc(f.get('severity'))}</b> <code>{esc(f.get('cell_id'))}</code> "
            f"({esc(f.get('notebook'))}): {esc(f.get('message'))} <i>Fix:</i> "
            f"{esc(f.get('fix'))}</li>" for f in self.findings)
        return ("<p>What <code>python -m autograder check</code> says about this assignment's "
                f"tests (a student's code could decide the verdicts it calls forgeable):</p>"
                f"<ul>{items}</ul>")

    # --- similarity ---

    def similarity_section(self) -> str:
        never = ("<p class=\"note\">Similarity never changes a grade. A pair below is a lead to "
                 "read: code that is alike after names, comments and layout are set aside, "
                 "once what every student was given (the notebook's own code and stubs) is "
                 "left out. Short answers to the same task are often alike honestly.</p>")
        if self.similarity is None:
            return never + "<p>Not computed for this run.</p>"
        pairs = [p for p in self.similarity if isinstance(p, dict)
                 and len(p.get("students") or []) == 2]
        if not pairs:
            return never + "<p>No pair of submissions is alike beyond the threshold.</p>"
        shown = []
        for index, pair in enumerate(pairs):
            a, b = (str(s) for s in pair["students"])
            shares = pair.get("shares") or {}
            cells = "".join(_side_by_side(a, b, cell) for cell in pair.get("cells") or []
                            if isinstance(cell, dict))
            if index >= OPEN_PAIRS:  # the rest folded: a long list stays readable
                cells = f"<details><summary>the code side by side</summary>{cells}</details>"
            shown.append(
                f'<div class="pair"><h3 id="pair-{index}">{esc(a)} and {esc(b)}: '
                f"{round(100 * _number(pair.get('similarity')))}% alike</h3>"
                f"<p class=\"muted\">{esc(a)}'s code matched: "
                f"{round(100 * _number(shares.get(a)))}%; {esc(b)}'s: "
                f"{round(100 * _number(shares.get(b)))}%; "
                f"{int(_number(pair.get('overlap')))} characters of normalized code in common."
                f"</p>{cells}</div>")
        return never + f"<p>{len(pairs)} pair(s), most alike first.</p>" + "".join(shown)


def _side_by_side(a: str, b: str, cell: dict) -> str:
    code, matches, given = (cell.get(key) or {} for key in ("code", "matches", "given"))
    columns = "".join(
        f"<div><div class=\"muted\">{esc(s)}</div><pre><code>"
        f"{_marked(str(code.get(s, '')), matches.get(s) or [], given.get(s) or [])}"
        "</code></pre></div>" for s in (a, b))
    return (f"<h4><code>{esc(cell.get('cell'))}</code> "
            f"<span class=\"muted\">({round(100 * _number(cell.get('share')))}% matched; "
            f"matches highlighted)</span></h4><div class=\"side\">{columns}</div>")


def _pairs(ranges) -> list[tuple[int, int]]:
    return sorted((int(r[0]), int(r[1])) for r in ranges
                  if isinstance(r, (list, tuple)) and len(r) == 2
                  and all(isinstance(v, (int, float)) for v in r))


def _marked(code: str, ranges, given=()) -> str:
    """Code, escaped, the matched ranges in <mark>; a run of three or more lines the
    assignment gave (``given`` ranges: signature, docstring) shown as one muted line."""
    marks, given = _pairs(ranges), _pairs(given)
    lines, at = [], 0
    for line in code.splitlines(keepends=True):
        end = at + len(line.rstrip("\r\n"))
        kind = ("given" if line.strip() and any(g0 <= at and end <= g1 for g0, g1 in given)
                else "blank" if not line.strip() else "own")
        lines.append((at, at + len(line), kind))
        at += len(line)
    out, i = [], 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j][2] != "own":
            j += 1
        run = sum(kind == "given" for _, _, kind in lines[i:j])
        if run >= 3:
            out.append(f'<span class="given">⋯ {run} lines as the assignment gave them</span>\n')
            i = j
            continue
        start, end, _ = lines[i]
        out.append(_mark_span(code, start, end, marks))
        i += 1
    return "".join(out)


def _mark_span(code: str, start: int, end: int, marks) -> str:
    parts, at = [], start
    for m0, m1 in marks:
        m0, m1 = max(m0, at), min(m1, end)
        while m0 < m1 and code[m0].isspace():  # a match's indentation is nobody's code
            m0 += 1
        if m1 <= m0:
            continue
        parts += [esc(code[at:m0]), f"<mark>{esc(code[m0:m1])}</mark>"]
        at = m1
    return "".join(parts) + esc(code[at:end])


# --- small pieces -----------------------------------------------------------------------------

def _known(mistakes: dict) -> dict:
    """The course's misconceptions (importing every chapter's checks only when an id is not
    already registered)."""
    from descent.checks.misconceptions import REGISTRY, all_misconceptions

    if all(tag in REGISTRY for tag in mistakes):
        return dict(REGISTRY)
    try:
        return all_misconceptions()
    except Exception:  # noqa: BLE001 - the report is written without explanations then
        return dict(REGISTRY)


def _who(students: list[str]) -> str:
    if not students:
        return ""
    return (f"<details><summary>who</summary>{', '.join(esc(s) for s in students)}"
            "</details>")


def _rate_bar(rate: float) -> str:
    width = round(60 * min(max(rate, 0.0), 1.0), 1)
    return (f'<svg width="60" height="10" role="img" aria-label="{round(100 * rate)}% passed">'
            f'<rect class="bar-bg" width="60" height="10"/><rect class="bar" width="{width}" '
            'height="10"/></svg>')


def _bins(top: float, whole: bool = False) -> list[float]:
    """Bin edges up to ``top``: one bin per point when every score is a whole number and there
    are at most 40 (edges at the half points), else at most 15 bins of a round width from 0."""
    if top <= 0:
        return [-0.5, 0.5] if whole else [0.0, 1.0]
    if whole and top <= 40:
        return [k - 0.5 for k in range(int(top) + 2)]
    width = next(w * scale for scale in (0.1, 1, 10, 100, 1000, 10**4, 10**5)
                 for w in (1, 2, 2.5, 5) if top / (w * scale) <= 15)
    edges = [0.0]
    while edges[-1] < top - 1e-9:
        edges.append(round(min(edges[-1] + width, top), 6))
    return edges


def _counts(scores: list[float], edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for score in scores:
        index = next((i for i in range(len(counts)) if score < edges[i + 1]), len(counts) - 1)
        counts[max(index, 0)] += 1
    return counts


def _histogram(scores, edges, max_score, tallest, label, index, whole=False) -> str:
    """An SVG histogram of ``scores`` over ``edges`` (y up to ``tallest``; ``whole``: a bin
    per point, labelled at its middle): mean and maximum marked; a <title> and a <desc> with
    every bin's count for screen readers. The first (this run) in the main colour."""
    width, height, left, bottom, top, right = 360, 200, 30, 34, 22, 10
    plot_w, plot_h = width - left - right, height - top - bottom
    low, span = edges[0], (edges[-1] - edges[0]) or 1.0
    x = lambda v: left + plot_w * (v - low) / span  # noqa: E731
    y = lambda n: top + plot_h * (1 - n / tallest)  # noqa: E731
    counts = _counts(scores, edges)
    names = [_fmt(edges[i] + 0.5) if whole else f"{_fmt(edges[i])}–{_fmt(edges[i + 1])}"
             for i in range(len(counts))]
    bars, ticks = [], []
    for i, count in enumerate(counts):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        if count:
            bars.append(f'<rect class="bar{" earlier" if index else ""}" x="{x0 + 1:.1f}" '
                        f'y="{y(count):.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
                        f'height="{y(0) - y(count):.1f}"><title>{names[i]} points: {count}'
                        "</title></rect>")
    places = [e + 0.5 for e in edges[:-1]] if whole else edges
    step = max(1, math.ceil(len(places) / 9))
    for value in places[::step]:
        ticks.append(f'<text x="{x(value):.1f}" y="{height - bottom + 15}" '
                     f'text-anchor="middle">{_fmt(value)}</text>')
    y_step = max(1, math.ceil(tallest / 4))
    for n in range(0, tallest + 1, y_step):
        ticks.append(f'<text x="{left - 6}" y="{y(n) + 4:.1f}" text-anchor="end">{n}</text>')
    marks = []
    if scores:
        mean = statistics.fmean(scores)
        left_half = mean - low < span / 2  # the label on the side with room
        marks.append(f'<line class="mean" x1="{x(mean):.1f}" x2="{x(mean):.1f}" y1="{top}" '
                     f'y2="{y(0):.1f}"/><text x="{x(mean) + (4 if left_half else -4):.1f}" '
                     f'y="{top + 10}" text-anchor="{"start" if left_half else "end"}">'
                     f"mean {_fmt(mean)}</text>")
    if max_score:
        at = x(max_score + 0.5 if whole else max_score)
        marks.append(f'<line class="max" x1="{at:.1f}" x2="{at:.1f}" y1="{top - 4}" '
                     f'y2="{y(0):.1f}" stroke-width="2"/><text class="max-label" '
                     f'x="{at:.1f}" y="{top - 8}" text-anchor="end">max {_fmt(max_score)}</text>')
    described = "; ".join(f"{name} points: {c}" for name, c in zip(names, counts, strict=True))
    title = f"Score distribution, {label}"
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{esc(title)}" aria-labelledby="h{index}-title h{index}-desc">'
            f'<title id="h{index}-title">{esc(title)}</title>'
            f'<desc id="h{index}-desc">{len(scores)} scored submissions. {esc(described)}.</desc>'
            f'<line class="axis" x1="{left}" x2="{width - right}" y1="{y(0):.1f}" '
            f'y2="{y(0):.1f}"/>{"".join(bars)}{"".join(ticks)}{"".join(marks)}'
            f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">points'
            "</text></svg>")


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _fmt(value: float, digits: int = 1) -> str:
    return f"{round(value, digits):g}" if digits else f"{value:.0f}"


def _when(value) -> str:
    """An ISO 8601 time as 'YYYY-MM-DD HH:MM' and its zone; what it is otherwise."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "at an unknown time")
    zone = moment.tzname() or ""
    return moment.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_order(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


# --- command line -----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="the folder the grader wrote (its report.json)")
    parser.add_argument("--site-url", default=None,
                        help="the course website's address, e.g. https://example.org/descent/: "
                             "the book's sections are linked there (default: named, not linked)")


def run(args: argparse.Namespace) -> int:
    try:
        path = write_report(args.out, site_url=args.site_url)
    except FileNotFoundError:
        print(f"autograder: no report.json in {args.out}: grade the class first",
              file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        print(f"autograder: cannot read {args.out}/report.json: {error}", file=sys.stderr)
        return 2
    print(f"autograder: wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder report",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

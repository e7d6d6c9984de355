"""What to revisit: a box at the top of a student's feedback page naming their misconceptions.

nbgrader's feedback shows each failed test's message, where a check names the mistake it
recognized (``[misconception: adam.no-bias-correction]``, :mod:`descent.checks.misconceptions`).
This box gathers them: per misconception, its one-line explanation, the tests that showed it and
a link to the book's section that explains it (absolute when the grader is given the site's
address, ``--site-url``; the section's path otherwise).
"""

from __future__ import annotations

import html
from pathlib import Path

from descent.checks.misconceptions import Misconception, all_misconceptions

_STYLE = ("border:2px solid #b35900;border-radius:6px;padding:0.8em 1.2em;margin:1em 0;"
          "background:#fff6ec;color:#222;font-family:sans-serif;line-height:1.4")


def named(tests: dict[str, dict]) -> dict[str, list[str]]:
    """misconception id -> the failed tests whose output named it, in the order seen."""
    found: dict[str, list[str]] = {}
    for test_id, test in tests.items():
        for misconception in test.get("misconceptions") or []:
            found.setdefault(misconception, []).append(test_id)
    return found


def section_link(misconception: Misconception, site_url: str | None) -> str:
    return f"{site_url.rstrip('/')}/{misconception.link}" if site_url else misconception.link


def box(tests: dict[str, dict], site_url: str | None = None) -> str:
    """The HTML of the box, or "" when no failed test named a misconception."""
    found = named(tests)
    if not found:
        return ""
    known = all_misconceptions()
    items = []
    for misconception_id, test_ids in found.items():
        where = ", ".join(html.escape(t) for t in test_ids)
        entry = known.get(misconception_id)
        if entry is None:  # an instructor's own tag: its id and the tests are all we know
            items.append(f"<li><code>{html.escape(misconception_id)}</code> (in {where})</li>")
            continue
        link = html.escape(section_link(entry, site_url), quote=True)
        target = (f'<a href="{link}">“{html.escape(entry.section)}”</a>' if site_url
                  else f"“{html.escape(entry.section)}” ({link})")
        items.append(f"<li><strong>{html.escape(entry.text)}</strong><br>"
                     f"<code>{html.escape(entry.id)}</code> · in {where} · read {target}</li>")
    return (f'<section id="misconceptions" style="{_STYLE}" aria-label="What to revisit">'
            "<h2 style=\"margin-top:0\">What to revisit</h2><p>The checks recognized these "
            "mistakes in your answers; each links to the part of the book that explains "
            f"it.</p><ul>{''.join(items)}</ul></section>")


def annotate(page: Path, tests: dict[str, dict], site_url: str | None = None) -> bool:
    """Put the box at the top of the feedback ``page``; whether there was one to put."""
    content = box(tests, site_url)
    if not content:
        return False
    text = page.read_text(encoding="utf-8")
    start = text.find("<body")
    end = text.find(">", start) + 1 if start >= 0 else 0
    page.write_text(text[:end] + content + text[end:], encoding="utf-8")
    return True

"""Every named misconception points at a section of the book that exists, and is found in text."""

from __future__ import annotations

import pytest
from checktools import headings
from docutils.nodes import make_id
from nbtools import ROOT

from descent.checks.misconceptions import (
    Misconception,
    all_misconceptions,
    find,
    misconception,
)

MISCONCEPTIONS = all_misconceptions()


def test_the_checks_name_misconceptions():
    assert len(MISCONCEPTIONS) >= 50, "every chapter's checks should name their mistakes"


@pytest.mark.parametrize("entry", MISCONCEPTIONS.values(), ids=list(MISCONCEPTIONS))
def test_each_points_at_a_real_section(entry: Misconception):
    assert (ROOT / "book" / f"{entry.page}.md").is_file(), entry
    assert entry.section in headings(entry.page), (
        f"{entry.id}: no heading “{entry.section}” in book/{entry.page}.md")
    # The anchor is the id Sphinx gives the section.
    assert entry.link == f"book/{entry.page}.html#{make_id(entry.section)}"
    assert entry.text.strip() and "[misconception" not in entry.text


def test_a_message_round_trips_to_its_ids():
    first, second = list(MISCONCEPTIONS.values())[:2]
    message = f"adam_step: expected 1, got 2 — {first}\nand later — {second} {first}"
    assert find(message) == [first.id, second.id]
    assert find("no tag here [misconception: Not-An-Id]") == []
    assert find("an instructor's own [misconception: hw3.off-by-one]") == ["hw3.off-by-one"]


def test_an_id_is_defined_once():
    entry = next(iter(MISCONCEPTIONS.values()))
    assert misconception(entry.id, entry.text, page=entry.page, section=entry.section) == entry
    with pytest.raises(ValueError, match="defined twice"):
        misconception(entry.id, entry.text + " (changed)", page=entry.page,
                      section=entry.section)
    with pytest.raises(ValueError, match="chapter.name"):
        misconception("NoDot", "text", page="05_optimizers", section="Adam")

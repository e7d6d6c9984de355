"""The recording's shortcuts into nbgrader change how often work is done, never its result."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from nbformat.v4 import new_code_cell

from autograder import course


@pytest.fixture
def gradebook(tmp_path):
    course._reuse_gradebook_engines()
    course._alembic_head_in_process()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    yield url
    course._release_engines(url)


def test_one_engine_serves_every_gradebook_of_a_url_until_released(gradebook):
    from nbgrader.api import Gradebook

    with Gradebook(gradebook, course.COURSE_ID) as first:
        first.add_student("ada")
    with Gradebook(gradebook, course.COURSE_ID) as second:
        assert second.engine is first.engine
        assert [student.id for student in second.students] == ["ada"]
    course._release_engines(gradebook)
    with Gradebook(gradebook, course.COURSE_ID) as third:
        assert third.engine is not first.engine
        assert [student.id for student in third.students] == ["ada"]


def _nbgrader_schema() -> dict:
    import nbgrader.nbgraderformat as formats

    return json.loads((Path(formats.__file__).parent / "v3.json").read_text())


@pytest.mark.parametrize("metadata", [
    {"grade": "yes", "grade_id": "t", "solution": False, "locked": True, "schema_version": 3},
    {"grade": True, "grade_id": "t", "points": "two", "solution": False, "locked": True,
     "schema_version": 3},
])
def test_bad_cell_metadata_is_refused_with_jsonschemas_own_message(metadata):
    schema = _nbgrader_schema()
    with pytest.raises(jsonschema.ValidationError) as plain:
        jsonschema.validate(metadata, schema)
    checked_once = course._SchemaCheckedOnce(jsonschema, json.dumps)
    for _ in range(2):  # the second time from the validator made the first time
        with pytest.raises(jsonschema.ValidationError) as ours:
            checked_once.validate(metadata, schema)
        assert ours.value.message == plain.value.message
        assert list(ours.value.path) == list(plain.value.path)


def test_nbgraders_validator_still_accepts_good_cells_and_refuses_bad_ones():
    import nbgrader.nbgraderformat.common as common
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    course._check_metadata_schema_once()
    assert isinstance(common.jsonschema, course._SchemaCheckedOnce)
    good = new_code_cell("1", metadata={"nbgrader": {
        "grade": True, "grade_id": "t", "points": 2, "solution": False, "locked": True,
        "schema_version": 3}})
    MetadataValidatorV3().validate_cell(good)
    bad = new_code_cell("1", metadata={"nbgrader": {**good.metadata.nbgrader, "points": "two"}})
    with pytest.raises(jsonschema.ValidationError):
        MetadataValidatorV3().validate_cell(bad)


def test_a_new_gradebook_is_stamped_with_the_revision_alembic_names(gradebook):
    """nbgrader asks ``alembic heads`` (a subprocess) for the revision it stamps on a new
    gradebook; the recording reads it from the same migration scripts: the same revision."""
    import sqlite3

    from nbgrader.api import Gradebook
    from nbgrader.dbutil import _temp_alembic_ini

    from tests.nbtools import run_tool

    Gradebook(gradebook, course.COURSE_ID).close()
    with sqlite3.connect(gradebook.removeprefix("sqlite:///")) as db:
        stamped = db.execute("SELECT version_num FROM alembic_version").fetchall()
    with _temp_alembic_ini("sqlite:////tmp/gradebook.db") as ini:
        heads = run_tool(["alembic", "-c", ini, "heads"])
    assert heads.returncode == 0, heads.stderr
    assert stamped == [(heads.stdout.split()[0],)]

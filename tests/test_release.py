"""notebooks/ is exactly what nbgrader generates from solutions/, and leaks no answers or hidden tests."""

from __future__ import annotations

import re

import nbformat
import pytest

from autograder import course

LABS = course.labs()
SOLUTION_BLOCK = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    target = tmp_path_factory.mktemp("release")
    course.release(release_dir=target, db=target / "gradebook.db")
    return target


def test_there_are_labs():
    assert LABS, "no solutions/<lab>/<lab>.ipynb found"


@pytest.mark.parametrize("lab", LABS)
def test_committed_student_notebook_is_fresh_generation(fresh_release, lab):
    committed = course.NOTEBOOKS / lab / f"{lab}.ipynb"
    assert committed.exists(), f"{committed} missing: run `make release` and commit notebooks/"
    generated = fresh_release / lab / f"{lab}.ipynb"
    assert committed.read_text() == generated.read_text(), (
        f"{committed} differs from what nbgrader generates from solutions/{lab}: run `make release` and commit"
    )
    extra = sorted(p.name for p in (course.NOTEBOOKS / lab).iterdir()) != sorted(
        p.name for p in (fresh_release / lab).iterdir()
    )
    assert not extra, f"notebooks/{lab} has files that the release does not produce"


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_leaks_nothing(lab):
    student = nbformat.read(course.NOTEBOOKS / lab / f"{lab}.ipynb", as_version=4)
    source = nbformat.read(course.SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{lab}: student notebook contains {marker!r}"
    hidden = [
        line.strip()
        for cell in source.cells
        for block in HIDDEN_BLOCK.findall(cell.source)
        for line in block.splitlines()
        if len(line.strip()) > 25
    ]
    answers = [
        line.strip()
        for cell in source.cells
        for block in SOLUTION_BLOCK.findall(cell.source)
        for line in block.splitlines()
        if len(line.strip()) > 25
    ]
    assert hidden and answers, f"{lab}: expected hidden tests and solution blocks in the source notebook"
    # A line leaks when the student copy has it and the source has it only inside a solution/hidden block (a
    # `return ...` or a formula quoted in the instructions is public text, not a leak).
    public = {
        line.strip()
        for cell in source.cells
        for line in HIDDEN_BLOCK.sub("", SOLUTION_BLOCK.sub("", cell.source)).splitlines()
    }
    student_lines = {line.strip() for line in text.splitlines()}
    leaked = [line for line in hidden + answers if line in student_lines and line not in public]
    assert not leaked, f"{lab}: student notebook contains answer or hidden-test lines: {leaked[:3]}"


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_has_no_outputs(lab):
    student = nbformat.read(course.NOTEBOOKS / lab / f"{lab}.ipynb", as_version=4)
    dirty = [
        cell.get("id") for cell in student.cells if cell.cell_type == "code" and (cell.outputs or cell.execution_count)
    ]
    assert not dirty, f"{lab}: cells with outputs: {dirty}"


@pytest.mark.parametrize("lab", LABS)
def test_source_notebook_is_well_formed(lab):
    source = nbformat.read(course.SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    nbformat.validate(source)
    assert source.metadata["kernelspec"]["name"] == "dlcourse"
    ids = [cell.metadata["nbgrader"]["grade_id"] for cell in source.cells if "nbgrader" in cell.metadata]
    assert len(ids) == len(set(ids)), f"{lab}: duplicated grade_id"
    # Autograded test cells; answers graded by hand (issue 19: markdown, solution and grade) are the student's.
    graded = [
        cell
        for cell in source.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get("solution")
    ]
    assert graded and all(cell.metadata["nbgrader"]["locked"] for cell in graded)
    assert all("### BEGIN HIDDEN TESTS" in cell.source for cell in graded), f"{lab}: a test cell has no hidden tests"
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    assert code[0].metadata.get("nbgrader", {}).get("grade_id") == "install", (
        f"{lab}: the first code cell must be the install cell (`python -m autograder colab` writes it)"
    )
    assert "setup_lab(" in code[1].source, f"{lab}: the second code cell must be the Setup cell"

"""The autograder on real labs, end to end: what `make demo` does, checked.

The fixture lab (``test_autograder.py``) proves every rule of grading cheaply; this file proves that the course's
own labs survive the same path: a released student notebook with the reference answers pasted in gets every
autograded point (its written answers wait for a tutor), and the untouched student notebook gets 0 without a crash
or a "stopped" reason. Graded test cells run in the trusted test process and see the student's objects through the
channel only: a lab test cell that uses an operation the channel does not offer shows up here as a reference that
loses points. Lab 1 (a PyDataset, files on disk, augmentation) and lab 2 (Keras models) are the two cheapest labs
that still exercise the data set, TensorFlow and the sandbox. On lab 2, two more students: the reference answers
with the course's names rebound in a solution cell (full marks all the same) and an untouched notebook that
disables the checking helpers and the assert machinery in its own kernel (0 all the same).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder import course

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

LABS = ("lab1_sequence", "lab2_functional")
HOSTILE_LAB = "lab2_functional"
#: appended to the first solution cell: the reference answers keep working, the course's names are rebound
REBOUND = "\njson = checks = None  # a student's own variables that shadow names the tests use\n"
#: appended to the first solution cell of an untouched notebook: everything a check could call is defused
DEFUSED = """
import builtins as _builtins
import course_utils.checks as _checks
for _name in dir(_checks):
    if _name.startswith("check") or _name == "fail":
        setattr(_checks, _name, lambda *args, **kwargs: None)
_builtins.AssertionError = type("Harmless", (Exception,), {})
"""


def _append_to_first_solution_cell(blob: bytes, code: str) -> bytes:
    notebook = json.loads(blob)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution"):
            source = "".join(cell["source"])
            if "raise NotImplementedError" in source:  # the untouched copy: the defusing code runs before it
                source = source.replace("raise NotImplementedError()", code + "\nraise NotImplementedError()", 1)
            else:
                source += "\n" + code
            cell["source"] = source
            return json.dumps(notebook).encode()
    raise AssertionError("no solution cell")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[tuple[str, str], course.GradeResult]:
    root = tmp_path_factory.mktemp("real-labs")
    batches = {}
    for lab in LABS:
        reference, blank = course.reference_submission(lab), (course.NOTEBOOKS / lab / f"{lab}.ipynb").read_bytes()
        students = [("reference", reference), ("blank", blank)]
        if lab == HOSTILE_LAB:
            students += [("rebound", _append_to_first_solution_cell(reference, REBOUND)),
                         ("defused", _append_to_first_solution_cell(blank, DEFUSED))]  # fmt: skip
        for student, blob in students:
            folder = root / "submitted" / lab / student
            folder.mkdir(parents=True)
            (folder / f"{lab}.ipynb").write_bytes(blob)
        batches[lab] = root / "submitted" / lab
    lines: list[str] = []
    results = course.grade_labs(batches, workers=2, db=root / "gradebook.db", log=lines.append)
    assert len(results) == 2 * len(LABS) + 2, "\n".join(lines)
    return {(result.lab, result.student): result for result in results}


def _autograded(result: course.GradeResult, manual: list[str]) -> tuple[float, float]:
    """(points, max points) of the autograded cells: written answers (``manual``) wait for a tutor."""
    cells = [cell for cell in result.max_scores if cell not in manual]
    return sum(result.scores.get(cell, 0) for cell in cells), sum(result.max_scores[cell] for cell in cells)


def _explain(result: course.GradeResult) -> str:
    lost = {cell: f"{result.scores.get(cell, 0):g}/{points:g}" for cell, points in result.max_scores.items()
            if result.scores.get(cell, 0) < points and cell not in result.ungraded}  # fmt: skip
    return f"{result.lab}/{result.student}: lost {lost}; messages {result.messages}; stopped: {result.reason!r}; " \
        f"problems {result.problems}"  # fmt: skip


@pytest.mark.parametrize("student", ["reference", "rebound"])
@pytest.mark.parametrize("lab", LABS)
def test_reference_answers_get_every_point(graded, lab, student):
    if (lab, student) not in graded:
        pytest.skip(f"{student} is graded on {HOSTILE_LAB} only")
    result = graded[(lab, student)]
    manual = graded[(lab, "reference")].ungraded
    points, max_points = _autograded(result, manual)
    assert max_points > 0 and not result.reason, _explain(result)
    assert points == max_points, _explain(result)
    assert sorted(result.ungraded) == sorted(manual), "every written answer waits for a tutor"


@pytest.mark.parametrize("student", ["blank", "defused"])
@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_notebook_gets_zero_without_crashing(graded, lab, student):
    if (lab, student) not in graded:
        pytest.skip(f"{student} is graded on {HOSTILE_LAB} only")
    result = graded[(lab, student)]
    manual = graded[(lab, "reference")].ungraded
    assert result.max_total == graded[(lab, "reference")].max_total
    assert result.total == 0 and not result.reason, _explain(result)
    unexplained = sorted(set(result.max_scores) - set(result.messages) - set(manual))
    assert not unexplained, f"test cells that lost points without a message for the student: {unexplained}"
    assert "BEGIN HIDDEN TESTS" not in result.feedback_html and "_reference" not in result.feedback_html
    assert Path(course.NOTEBOOKS / lab / f"{lab}.ipynb").exists()

"""The autograder on real labs, end to end: what `make demo` does, checked.

The fixture lab (``test_autograder.py``) proves every rule of grading cheaply; this file proves that the course's
own labs survive the same path: a released student notebook with the reference answers pasted in gets every
point, and the untouched student notebook gets 0 without a crash or a "stopped" reason. A regression in the
grading kernel's guard (e.g. a restored module attribute that a lab's imports rely on) shows up here as a
reference that loses points. Lab 1 (a PyDataset, files on disk, augmentation) and lab 2 (Keras models) are the
two cheapest labs that still exercise the data set, TensorFlow and the sandbox.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import course

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

LABS = ("lab1_sequence", "lab2_functional")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[tuple[str, str], course.GradeResult]:
    root = tmp_path_factory.mktemp("real-labs")
    batches = {}
    for lab in LABS:
        for student, blob in (
            ("reference", course.reference_submission(lab)),
            ("blank", (course.NOTEBOOKS / lab / f"{lab}.ipynb").read_bytes()),
        ):
            folder = root / "submitted" / lab / student
            folder.mkdir(parents=True)
            (folder / f"{lab}.ipynb").write_bytes(blob)
        batches[lab] = root / "submitted" / lab
    lines: list[str] = []
    results = course.grade_labs(batches, workers=2, db=root / "gradebook.db", log=lines.append)
    assert len(results) == 2 * len(LABS), "\n".join(lines)
    return {(result.lab, result.student): result for result in results}


def _explain(result: course.GradeResult) -> str:
    lost = {cell: f"{result.scores.get(cell, 0):g}/{points:g}" for cell, points in result.max_scores.items()
            if result.scores.get(cell, 0) < points}  # fmt: skip
    return f"{result.lab}/{result.student}: lost {lost}; messages {result.messages}; stopped: {result.reason!r}; " \
        f"problems {result.problems}"  # fmt: skip


@pytest.mark.parametrize("lab", LABS)
def test_reference_answers_get_every_point(graded, lab):
    result = graded[(lab, "reference")]
    assert result.max_total > 0 and not result.reason, _explain(result)
    assert result.total == result.max_total, _explain(result)


@pytest.mark.parametrize("lab", LABS)
def test_untouched_student_notebook_gets_zero_without_crashing(graded, lab):
    result = graded[(lab, "blank")]
    assert result.max_total == graded[(lab, "reference")].max_total
    assert result.total == 0 and not result.reason, _explain(result)
    unexplained = sorted(set(result.max_scores) - set(result.messages))
    assert not unexplained, f"test cells that lost points without a message for the student: {unexplained}"
    assert "BEGIN HIDDEN TESTS" not in result.feedback_html and "_reference" not in result.feedback_html
    assert Path(course.NOTEBOOKS / lab / f"{lab}.ipynb").exists()

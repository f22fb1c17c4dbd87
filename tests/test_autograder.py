"""End to end: grade a class of sample submissions with `python -m autograder grade` machinery."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
import zipfile

import nbformat
import pytest

from autograder import course

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
LAB = "lab1_sequence"
CLIPPED_NOISE = "np.clip(rng.normal(0.0, sigma, size=points.shape), -clip, clip)"


def submission_with(lab: str, edits: dict[str, tuple[str, str]] | None = None, replace: dict | None = None) -> bytes:
    """The reference answers, with (old -> new) edits in some cells or whole cells replaced, by grade_id."""
    notebook = nbformat.reads(course.reference_submission(lab).decode(), as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if edits and grade_id in edits:
            old, new = edits[grade_id]
            assert old in cell.source
            cell.source = cell.source.replace(old, new)
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
    return nbformat.writes(notebook).encode()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    db = root / "gradebook.db"
    course.release([LAB], release_dir=root / "release", db=db)
    blank = (course.NOTEBOOKS / LAB / f"{LAB}.ipynb").read_bytes()
    submissions = root / "submissions"
    samples = {
        "reference": course.reference_submission(LAB),
        "blank": blank,
        "one_wrong": submission_with(LAB, {"augmentation": (CLIPPED_NOISE, "rng.normal(0.0, sigma, size=points.shape)")}),
        "tampered": submission_with(LAB, replace={"test_find_samples": "print('[PASS] everything')"},
                                    edits={"find_samples": ("    return samples", "    return []")}),
    }  # fmt: skip
    for student, blob in samples.items():
        (submissions / student).mkdir(parents=True)
        (submissions / student / f"{LAB}.ipynb").write_bytes(blob)
    (submissions / "extra").mkdir()
    (submissions / "extra" / f"{LAB}.ipynb").write_bytes(blank)
    (submissions / "extra" / "scratch.ipynb").write_bytes(blank)
    (submissions / "no_notebook").mkdir()
    (submissions / "no_notebook" / "answers.txt").write_text("I forgot")
    (submissions / "bad name!").mkdir()
    with zipfile.ZipFile(submissions / "zipped.zip", "w") as archive:
        archive.writestr(f"{LAB}.ipynb", samples["reference"])
    (submissions / "notes.pdf").write_bytes(b"%PDF")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*") if p.is_file()}
    results = course.grade_batch(LAB, submissions, workers=2, db=db, csv_path=root / "grades.csv")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*") if p.is_file()}
    return {"root": root, "db": db, "results": {r.student: r for r in results}, "before": before, "after": after,
            "submissions": submissions}  # fmt: skip


def test_reference_gets_full_marks(graded):
    for student in ("reference", "zipped"):
        result = graded["results"][student]
        assert result.total == result.max_total == 10, (student, result.scores, result.problems)


def test_blank_notebook_gets_zero_without_errors(graded):
    result = graded["results"]["blank"]
    assert result.total == 0 and result.max_total == 10
    assert set(result.scores) == {"test_find_samples", "test_augmentation", "test_provider", "test_train"}
    assert not result.problems, result.problems


def test_one_wrong_todo_loses_exactly_that_cell(graded):
    result = graded["results"]["one_wrong"]
    assert result.scores["test_augmentation"] == 0
    assert result.total == 10 - result.max_scores["test_augmentation"], result.scores


def test_edited_test_cell_is_restored(graded):
    result = graded["results"]["tampered"]
    assert result.scores["test_find_samples"] == 0, "an edited test cell must be restored from the gradebook"


def test_bad_submissions_are_reported_not_fatal(graded):
    assert set(graded["results"]) == {"reference", "blank", "one_wrong", "tampered", "extra", "zipped"}
    assert graded["results"]["extra"].total == 0


def test_feedback_does_not_leak_hidden_tests(graded):
    for result in graded["results"].values():
        assert result.feedback_html, f"{result.student}: no feedback"
        assert "HIDDEN TESTS" not in result.feedback_html
        assert "_forbidden" not in result.feedback_html  # a line from a hidden test
    assert "[FAIL]" in graded["results"]["one_wrong"].feedback_html  # the student-facing message survives


def test_gradebook_and_csv(graded):
    rows = list(csv.DictReader((graded["root"] / "grades.csv").open()))
    assert {row["student"]: float(row["score"]) for row in rows}["reference"] == 10
    with sqlite3.connect(graded["db"]) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()
    assert count == 6, "every graded student has one nbgrader submission in the course gradebook"


def test_submissions_never_modified(graded):
    assert graded["before"] == graded["after"]


def test_regrading_is_idempotent(graded, capsys):
    again = course.grade_batch(LAB, graded["submissions"], workers=1, db=graded["db"],
                               csv_path=graded["root"] / "grades2.csv")  # fmt: skip
    assert again == [], "unchanged submissions are not graded twice"
    assert "unchanged since last grading" in capsys.readouterr().out
    assert (graded["root"] / "grades.csv").read_text() == (graded["root"] / "grades2.csv").read_text()


def test_nbgrader_validate_source_and_invert_student():
    ok = course.run_nbgrader("validate", str(course.SOLUTIONS / LAB / f"{LAB}.ipynb"), check=False)
    assert ok.returncode == 0 and "Success" in ok.stdout, ok.stdout[-2000:]
    inverted = course.run_nbgrader("validate", "--invert", str(course.NOTEBOOKS / LAB / f"{LAB}.ipynb"), check=False)
    assert inverted.returncode == 0 and "Success" in inverted.stdout, inverted.stdout[-2000:]


def test_submission_problems_are_detected():
    notebook = nbformat.reads(course.reference_submission(LAB).decode(), as_version=4)
    test_cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_provider")
    notebook.cells.append(nbformat.v4.new_code_cell(test_cell.source, metadata=dict(test_cell.metadata)))
    markdown = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "train")
    markdown.cell_type = "markdown"
    del markdown["outputs"], markdown["execution_count"]
    problems = course.check_submission(LAB, nbformat.writes(notebook).encode())
    assert any("duplicated grade_id 'test_provider'" in p for p in problems)
    assert any("'train' was changed from code to markdown" in p for p in problems)
    assert course.check_submission(LAB, b"{not json")[0].startswith("not a readable notebook")

"""The course gradebook on sqlite (the default): its schema, where it lives, answers graded by hand from grading to
grades.csv, feedback and the tutor report, and two grading runs writing at once. PostgreSQL: test_postgres.py."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import pytest
from gradebook_support import GRADING_SOLUTIONS, check_concurrent_writers, check_manual_grading_pipeline, make_course

from autograder import course, gradebook


def test_results_table_columns_come_from_one_dataclass():
    assert gradebook.RESULT_COLUMNS == tuple(field.name for field in dataclasses.fields(gradebook.ResultRow))
    assert [column.name for column in gradebook.RESULTS.columns] == list(gradebook.RESULT_COLUMNS)
    assert {column.name for column in gradebook.RESULTS.primary_key} == {"lab", "student"}
    shared = set(gradebook.RESULT_COLUMNS) & {field.name for field in dataclasses.fields(course.GradeResult)}
    assert shared >= {"scores", "max_scores", "messages", "problems", "feedback_html", "ungraded", "digest"}


def test_where_the_gradebook_is(tmp_path, monkeypatch):
    assert gradebook.database_url(gradebook.COURSE_DB) == gradebook.configured_db_url()
    assert gradebook.database_url(tmp_path / "g.db") == f"sqlite:///{tmp_path / 'g.db'}"
    server = "postgresql+pg8000://tutor:secret@db.example:5432/course"
    assert gradebook.database_url(server) == server and gradebook.location(server) == server
    assert gradebook.location("g.db") == gradebook.Path("g.db")
    assert "secret" not in gradebook.shown(server)
    assert gradebook.course_root(tmp_path / "g.db") == tmp_path
    monkeypatch.setenv("AUTOGRADER_COURSE_ROOT", str(tmp_path))
    assert gradebook.course_root(server) == tmp_path


@pytest.mark.notebook
@pytest.mark.slow
def test_answers_graded_by_hand_reach_csv_feedback_and_report(tmp_path):
    check_manual_grading_pipeline(tmp_path, tmp_path / "course" / "gradebook.db")


@pytest.mark.slow
def test_two_grading_runs_at_once_keep_every_row(tmp_path):
    db = tmp_path / "gradebook.db"
    make_course(tmp_path / "a", GRADING_SOLUTIONS, "lab0_grading", db=db)
    make_course(tmp_path / "b", lab="lab0_reflection", db=db)
    points = {"lab0_grading": {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 2.0},
              "lab0_reflection": {"test_mean": 1.0, "reflection_mean": 2.0}}  # fmt: skip
    check_concurrent_writers(db, points)


def test_grades_command_rewrites_the_csv_from_the_gradebook(tmp_path):
    db = tmp_path / "gradebook.db"
    result = course.GradeResult("ann", "lab0_reflection", {"test_mean": 1.0, "reflection_mean": 0.0},
                                {"test_mean": 1.0, "reflection_mean": 2.0}, ungraded=["reflection_mean"])  # fmt: skip
    gradebook.record_row(db, result, graded_at=0)
    done = subprocess.run([sys.executable, "-m", "autograder", "grades", "--db", str(db)], cwd=course.ROOT,
                          env=course.nbgrader_env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = csv.DictReader((tmp_path / "grades.csv").open())
    assert (row["student"], row["score"], row["max_score"], row["to_be_graded"]) == ("ann", "1", "3", "reflection_mean")

"""A shared gradebook on a real PostgreSQL server: nbgrader's tables and the course's, the whole pipeline (grade ->
grades.csv -> feedback -> report, with an answer graded by hand) and two grading runs writing at once.

The server is started by the tests in a temporary folder on a free local port (initdb, pg_ctl; as root, run as the
``postgres`` user) and stopped afterwards. Where that is impossible the tests skip and say why; ``make test``
installs Debian's postgresql where apt is available.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from gradebook_support import (
    GRADING_SOLUTIONS,
    check_concurrent_writers,
    check_manual_grading_pipeline,
    make_course,
    postgres_server,
)

from autograder import course, gradebook

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]


@pytest.fixture(scope="module")
def database():
    try:
        import pg8000  # noqa: F401
    except ImportError:
        pytest.skip("NO POSTGRESQL DRIVER: pg8000 is not installed (make install)")
    server = postgres_server()
    try:
        create = server.__enter__()
    except RuntimeError as error:
        pytest.skip(f"NO POSTGRESQL SERVER: {error}")
    yield create
    server.__exit__(None, None, None)


def test_course_table_and_nbgrader_tables_on_postgres(database):
    url = database("tables")
    result = course.GradeResult("ann", "lab0_grading", {"test_mean": 2.0}, {"test_mean": 2.0, "test_count": 2.0})
    gradebook.record_row(url, result, graded_at=0)
    gradebook.record_row(url, result, graded_at=1)  # replaces, never duplicates
    tables = set(sa.inspect(gradebook._engine(url)).get_table_names())
    assert {"course_results", "assignment", "grade", "comment", "alembic_version"} <= tables
    with gradebook._engine(url).connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar(), "nbgrader's version"
        columns = {column["name"] for column in sa.inspect(connection).get_columns("course_results")}
    assert columns == set(gradebook.RESULT_COLUMNS)
    (row,) = gradebook.load_results(url)
    assert (row["student"], row["total"], row["max_total"], row["graded_at"]) == ("ann", 2.0, 4.0, 1.0)


def test_older_results_table_on_postgres_gains_the_new_columns(database):
    url = database("older")
    engine = gradebook._engine(url)
    with gradebook.nbgrader_gradebook(url):
        pass
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE course_results (lab TEXT, student TEXT, digest TEXT, total REAL, "
                                   "max_total REAL, seconds REAL, scores TEXT, problems TEXT, feedback_html TEXT, "
                                   "PRIMARY KEY (lab, student))"))  # fmt: skip
        connection.execute(sa.text("INSERT INTO course_results VALUES ('lab0_grading', 'old', 'x', 3, 5, 1, "
                                   "'{\"test_mean\": 2.0}', '[]', '')"))  # fmt: skip
    (row,) = gradebook.load_results(url)
    assert row["student"] == "old" and row["total"] == 3.0 and row["max_scores"] == {} and row["ungraded"] == []


@pytest.mark.notebook
def test_grading_and_grading_by_hand_on_postgres(database, tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_COURSE_ROOT", str(tmp_path / "course"))  # autograded/ and feedback/ go here
    check_manual_grading_pipeline(tmp_path, database("pipeline"))


def test_two_grading_runs_at_once_keep_every_row_on_postgres(database, tmp_path):
    url = database("concurrent")
    make_course(tmp_path / "a", GRADING_SOLUTIONS, "lab0_grading", db=url)
    make_course(tmp_path / "b", lab="lab0_reflection", db=url)
    points = {"lab0_grading": {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 2.0},
              "lab0_reflection": {"test_mean": 1.0, "reflection_mean": 2.0}}  # fmt: skip
    check_concurrent_writers(url, points)

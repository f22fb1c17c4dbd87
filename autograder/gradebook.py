"""The course gradebook: nbgrader's tables plus ``course_results``, one row per graded submission.

Only the grading coordinator writes it (``_record``: nbgrader's grades first, then the row that marks the result
done); ``grades.csv``, the feedback files and the tutor report are read from it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.course import GradeResult

COURSE_DB = Path(__file__).resolve().parent / "gradebook.db"


RESULTS_TABLE = """CREATE TABLE IF NOT EXISTS course_results (
    lab TEXT, student TEXT, digest TEXT, total REAL, max_total REAL, seconds REAL, scores TEXT, problems TEXT,
    feedback_html TEXT, max_scores TEXT, messages TEXT, reason TEXT, sandbox TEXT, graded_at REAL,
    PRIMARY KEY (lab, student))"""
RESULT_COLUMNS = ("lab", "student", "digest", "total", "max_total", "seconds", "scores", "problems", "feedback_html",
                  "max_scores", "messages", "reason", "sandbox", "graded_at")  # fmt: skip


def connect(db: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db, timeout=60)
    connection.execute(RESULTS_TABLE)
    _migrate_results_table(connection)
    return connection


def _migrate_results_table(connection: sqlite3.Connection) -> None:
    """Add the columns that a gradebook written by an older version of the course lacks (their values: NULL).

    Old rows stay and keep their scores; what they lack (e.g. per-cell maximum scores) reads as empty, and a
    regrade (``--force``) fills it in.
    """
    present = {row[1] for row in connection.execute("PRAGMA table_info(course_results)")}
    for column in RESULT_COLUMNS:
        if column not in present:
            kind = "REAL" if column in ("total", "max_total", "seconds", "graded_at") else "TEXT"
            connection.execute(f"ALTER TABLE course_results ADD COLUMN {column} {kind}")
    connection.commit()


def ensure_assignment(db: Path, lab: str, solutions: Path | None = None) -> None:
    """The course gradebook knows ``lab`` (its notebooks and grade cells), as after ``nbgrader generate_assignment``."""
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.course import SOLUTIONS, release

    if Path(db).exists():
        with Gradebook(f"sqlite:///{db}") as gradebook:
            try:
                if gradebook.find_assignment(lab).notebooks:
                    return
            except MissingEntry:
                pass
    with tempfile.TemporaryDirectory(prefix="release-") as temporary:
        release([lab], release_dir=Path(temporary), db=db, solutions=solutions or SOLUTIONS)


def _already_graded(db: Path, lab: str, submissions: dict[str, bytes]) -> set[str]:
    if not Path(db).exists():
        return set()
    with connect(db) as connection:
        rows = dict(connection.execute("SELECT student, digest FROM course_results WHERE lab = ?", (lab,)))
    return {s for s, blob in submissions.items() if rows.get(s) == hashlib.sha256(blob).hexdigest()}


def _record(db: Path, result: GradeResult) -> None:
    """nbgrader's tables first, then the course_results row (one transaction): the row marks the result done."""
    _record_nbgrader(db, result)
    record_row(db, result)


def record_row(db: Path, result: GradeResult, graded_at: float | None = None) -> None:
    """Write ``result`` as its course_results row (replacing an earlier one for the same lab and student)."""
    row = {**result.to_dict(), "total": result.total, "max_total": result.max_total}
    row["graded_at"] = time.time() if graded_at is None else graded_at
    for key in ("scores", "max_scores", "messages", "problems"):
        row[key] = json.dumps(row[key])
    with connect(db) as connection:
        connection.execute(
            f"INSERT OR REPLACE INTO course_results ({', '.join(RESULT_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in RESULT_COLUMNS)})",
            [row[column] for column in RESULT_COLUMNS],
        )


def _record_nbgrader(db: Path, result: GradeResult) -> None:
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's add_submission, harmless
    with Gradebook(f"sqlite:///{db}") as gradebook:
        gradebook.update_or_create_student(result.student)
        try:
            gradebook.remove_submission(result.lab, result.student)
        except MissingEntry:
            pass
        submission = gradebook.add_submission(result.lab, result.student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = result.scores.get(grade.name, 0.0)
        gradebook.db.commit()


def load_results(db: Path = COURSE_DB, lab: str | None = None, columns: str = "*") -> list[dict]:
    """Rows of course_results as dicts (JSON columns decoded); ``columns`` selects fewer (no feedback HTML)."""
    if not Path(db).exists():
        return []
    with connect(db) as connection:
        connection.row_factory = sqlite3.Row
        query = f"SELECT {columns} FROM course_results" + (" WHERE lab = ?" if lab else "") + " ORDER BY lab, student"
        rows = [dict(row) for row in connection.execute(query, (lab,) if lab else ())]
    for row in rows:
        for key in ("scores", "max_scores", "messages", "problems"):
            if key in row:
                row[key] = json.loads(row[key] or ("[]" if key == "problems" else "{}"))
        for key in ("total", "max_total", "seconds"):  # NULL in rows from before a column existed
            if key in row and row[key] is None:
                row[key] = 0.0
    return rows


def write_csv(db: Path, path: Path) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["lab", "student", "score", "max_score", "seconds", "stopped", "problems"])
    # Rewritten after every result: read only what it shows (a course's feedback HTML is hundreds of MB).
    for row in load_results(db, columns="lab, student, total, max_total, seconds, reason, problems"):
        writer.writerow([row["lab"], row["student"], f"{row['total']:g}", f"{row['max_total']:g}",
                         f"{row['seconds']:.1f}", row["reason"] or "", "; ".join(row["problems"])])  # fmt: skip
    temporary = Path(path).with_suffix(".csv.tmp")
    temporary.write_text(buffer.getvalue())
    temporary.replace(path)
    return Path(path)


def write_feedback(db: Path, target: Path, lab: str | None = None) -> list[Path]:
    """feedback/<student>/<lab>/<lab>.html from the stored results (hidden tests never included)."""
    written = []
    for row in load_results(db, lab):
        if row["feedback_html"]:
            path = Path(target) / row["student"] / row["lab"] / f"{row['lab']}.html"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(row["feedback_html"])
            written.append(path)
    return written

"""The course gradebook: nbgrader's tables plus ``course_results``, one row per graded submission.

Where it lives follows nbgrader's ``CourseDirectory.db_url`` (autograder/nbgrader_config.py): a sqlite file by default
(``autograder/gradebook.db``), or a database server such as PostgreSQL that several tutors' machines share. ``db``
arguments are a sqlite path or a SQLAlchemy URL (``postgresql+pg8000://user@host:5432/course``). The schema of
``course_results`` is the ``ResultRow`` dataclass; older sqlite gradebooks gain its new columns when opened.

Writers: the grading coordinator (``record``: nbgrader's grades first, then the row that marks the result done) and
formgrader (a tutor's manual scores and comments, in nbgrader's tables). Two grading runs may write at once (say two
labs on two machines): every write is one transaction, retried when the database reports a conflict.
``load_results`` merges both into what ``grades.csv``, the feedback files and the tutor report show: per submission
the autograded and the manual points, their sum, and the answers still to be graded by hand.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import html
import io
import json
import os
import random
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from autograder.paths import AUTOGRADER_DIR, COURSE_CONFIG, COURSE_DB

if TYPE_CHECKING:
    from autograder.grading import GradeResult

ATTEMPTS = 10  # a write that meets a concurrent writer (locked file, duplicate key) is retried this often


@dataclass
class ResultRow:
    """One row of ``course_results``: its columns are these fields, in this order (dicts and lists as JSON text)."""

    lab: str
    student: str
    digest: str = ""
    total: float = 0.0  # autograded points at grading time (``load_results`` adds the tutor's manual points)
    max_total: float = 0.0
    seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    feedback_html: str = ""
    max_scores: dict[str, float] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    sandbox: str = ""
    graded_at: float = 0.0
    ungraded: list[str] = field(default_factory=list)  # answers graded by hand that had no score when graded

    @classmethod
    def from_result(cls, result: GradeResult, graded_at: float | None = None) -> ResultRow:
        values = {name: getattr(result, name) for name in RESULT_COLUMNS if hasattr(result, name)}  # not graded_at
        values.update(total=result.total, max_total=result.max_total)
        return cls(**values, graded_at=time.time() if graded_at is None else graded_at)


def _column(spec) -> sa.Column:
    kind = {"float": sa.Float, "str": sa.Text}.get(str(spec.type), sa.Text)  # dict[...] / list[...]: JSON text
    return sa.Column(spec.name, kind(), primary_key=spec.name in ("lab", "student"))


METADATA = sa.MetaData()
RESULTS = sa.Table("course_results", METADATA, *(_column(spec) for spec in fields(ResultRow)))
RESULT_COLUMNS = tuple(spec.name for spec in fields(ResultRow))
JSON_COLUMNS = {
    spec.name: spec.default_factory for spec in fields(ResultRow) if str(spec.type).startswith(("dict", "list"))
}
NUMBER_COLUMNS = tuple(spec.name for spec in fields(ResultRow) if str(spec.type) == "float")


# ------------------------------------------------------------------------------------------- where


@functools.lru_cache(maxsize=1)
def configured_db_url() -> str:
    """nbgrader's ``CourseDirectory.db_url`` from autograder/nbgrader_config.py: the course gradebook."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(COURSE_CONFIG.name, path=str(COURSE_CONFIG.parent)).load_config()
    return str(config.CourseDirectory.get("db_url") or f"sqlite:///{COURSE_DB}")


def location(text: str) -> Path | str:
    """A ``--db`` argument: a database URL as given, anything else a sqlite file's path."""
    return text if "://" in text else Path(text)


def database_url(db: Path | str) -> str:
    """A SQLAlchemy URL for ``db``: a URL as given, a path as sqlite; the default path follows nbgrader_config.py."""
    text = str(db)
    if "://" in text:
        return text
    if Path(db).resolve() == COURSE_DB:
        return configured_db_url()
    return f"sqlite:///{Path(db).resolve()}"


def shown(db: Path | str) -> str:
    """``db`` as the tutor may see it: a server's URL without its password."""
    return sa.engine.make_url(database_url(db)).render_as_string(hide_password=True)


def sqlite_path(db: Path | str) -> Path | None:
    url = database_url(db)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def course_root(db: Path | str) -> Path:
    """The nbgrader course folder of ``db`` (its ``autograded/`` and ``feedback/``): beside a sqlite gradebook; for a
    database server, ``$AUTOGRADER_COURSE_ROOT`` or else autograder/ (nbgrader_config.py's ``CourseDirectory.root``)."""
    path = sqlite_path(db)
    if path is not None:
        return path.parent
    return Path(os.environ.get("AUTOGRADER_COURSE_ROOT") or AUTOGRADER_DIR)


def exists(db: Path | str) -> bool:
    """Whether there is a gradebook to read (a server is asked; a missing sqlite file is not created)."""
    path = sqlite_path(db)
    return path.exists() if path is not None else True


@functools.cache
def _engine(url: str) -> sa.Engine:
    # No pool: every operation connects afresh, so forked workers never share a connection and a closed server
    # leaves nothing stale behind. sqlite waits up to 60 s for another writer's lock.
    arguments = {"timeout": 60} if url.startswith("sqlite") else {}
    return sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=arguments)


def _retry(work, attempts: int = ATTEMPTS, conflicts: tuple[type[Exception], ...] = ()):
    """``work()``, again after a short random pause when a concurrent writer got in the way."""
    for attempt in range(attempts):
        try:
            return work()
        except (sa.exc.DBAPIError, *conflicts):  # locked, busy (sqlite); duplicate key or table (PostgreSQL)
            if attempt == attempts - 1:
                raise
            time.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random()))


_PREPARED: set[tuple] = set()


def connect(db: Path | str) -> sa.Engine:
    """The engine of ``db`` with ``course_results`` present and migrated (created with nbgrader's tables)."""
    url = database_url(db)
    engine = _engine(url)
    if _identity(url) not in _PREPARED:
        _retry(lambda: _prepare(url, engine))
        _PREPARED.add(_identity(url))
    return engine


def _identity(url: str) -> tuple:
    """A database checked once per process; a sqlite file replaced since (copied over, deleted) counts as new."""
    path = sqlite_path(url)
    if path is None or not path.exists():
        return (url,)
    status = path.stat()
    return (url, status.st_dev, status.st_ino)


def _prepare(url: str, engine: sa.Engine) -> None:
    if not sa.inspect(engine).get_table_names():
        # nbgrader records its schema version (alembic) only in a database without tables: let it go first.
        with nbgrader_gradebook(url):
            pass
    METADATA.create_all(engine)
    _migrate_results_table(engine)


def _migrate_results_table(engine: sa.Engine) -> None:
    """Add the columns that a gradebook written by an older version of the course lacks (their values: NULL).

    Old rows stay and keep their scores; what they lack (e.g. per-cell maximum scores) reads as empty, and a
    regrade (``--force``) fills it in.
    """
    present = {column["name"] for column in sa.inspect(engine).get_columns("course_results")}
    with engine.begin() as connection:
        for column in RESULTS.columns:
            if column.name not in present:
                kind = column.type.compile(engine.dialect)
                connection.execute(sa.text(f"ALTER TABLE course_results ADD COLUMN {column.name} {kind}"))


def nbgrader_gradebook(db: Path | str):
    """nbgrader's ``Gradebook`` on ``db`` (it runs ``alembic`` from PATH when it creates its tables)."""
    from nbgrader.api import Gradebook

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy usage, harmless
    return Gradebook(database_url(db))


# ------------------------------------------------------------------------------------------ writing


def ensure_assignment(db: Path | str, lab: str, solutions: Path | None = None) -> None:
    """The course gradebook knows ``lab`` (its notebooks and grade cells), as after ``nbgrader generate_assignment``."""
    from nbgrader.api import MissingEntry

    from autograder.grading import release
    from autograder.paths import SOLUTIONS

    if exists(db):
        with nbgrader_gradebook(db) as gradebook:
            try:
                if gradebook.find_assignment(lab).notebooks:
                    return
            except MissingEntry:
                pass
    with tempfile.TemporaryDirectory(prefix="release-") as temporary:
        release([lab], release_dir=Path(temporary), db=database_url(db), solutions=solutions or SOLUTIONS)


def already_graded(db: Path | str, lab: str, submissions: dict[str, bytes]) -> set[str]:
    if not exists(db):
        return set()
    with connect(db).connect() as connection:
        query = sa.select(RESULTS.c.student, RESULTS.c.digest).where(RESULTS.c.lab == lab)
        rows = dict(connection.execute(query).all())
    return {s for s, blob in submissions.items() if rows.get(s) == hashlib.sha256(blob).hexdigest()}


def record(db: Path | str, result: GradeResult) -> None:
    """nbgrader's tables first, then the course_results row (one transaction): the row marks the result done.

    The autograded notebook goes to ``<course>/autograded/<student>/<lab>/`` for formgrader and for feedback
    regenerated after manual grading.
    """
    if result.autograded_notebook:
        target = course_root(db) / "autograded" / result.student / result.lab / f"{result.lab}.ipynb"
        _write_atomically(target, result.autograded_notebook)
    _record_nbgrader(db, result)
    record_row(db, result)


def record_row(db: Path | str, result: GradeResult, graded_at: float | None = None) -> None:
    """Write ``result`` as its course_results row (replacing an earlier one for the same lab and student)."""
    row = asdict(ResultRow.from_result(result, graded_at))
    for key in JSON_COLUMNS:
        row[key] = json.dumps(row[key])
    engine = connect(db)

    def write():
        with engine.begin() as connection:
            key = (RESULTS.c.lab == result.lab) & (RESULTS.c.student == result.student)
            connection.execute(RESULTS.delete().where(key))
            connection.execute(RESULTS.insert().values(**row))

    _retry(write)


def _stored_digest(db: Path | str, lab: str, student: str) -> str | None:
    with connect(db).connect() as connection:
        query = sa.select(RESULTS.c.digest).where((RESULTS.c.lab == lab) & (RESULTS.c.student == student))
        return connection.execute(query).scalar()


def _record_nbgrader(db: Path | str, result: GradeResult) -> None:
    """The submission in nbgrader's tables, as ``nbgrader autograde`` leaves it, so that formgrader can grade it.

    Answers graded by hand get no automatic score (``needs_manual_grade``), or 0 with "No response." when left
    unanswered. A tutor's manual scores and comments survive a regrade of the same notebook (same content hash);
    a changed notebook is a new submission and is graded by hand again (said in the result's problems).
    """
    from nbgrader.api import InvalidEntry, MissingEntry

    same_notebook = exists(db) and _stored_digest(db, result.lab, result.student) == result.digest
    ungraded = set(result.ungraded)

    def write():
        with nbgrader_gradebook(db) as gradebook:
            try:
                gradebook.update_or_create_student(result.student)
                kept = {}
                try:
                    for notebook in gradebook.find_submission(result.lab, result.student).notebooks:
                        kept.update({("grade", g.name): (g.manual_score, g.extra_credit) for g in notebook.grades
                                     if g.manual_score is not None or g.extra_credit})  # fmt: skip
                        kept.update({("comment", c.name): c.manual_comment for c in notebook.comments
                                     if c.manual_comment})  # fmt: skip
                    gradebook.remove_submission(result.lab, result.student)
                except MissingEntry:
                    pass
                if kept and not same_notebook:
                    cells = sorted({name for _, name in kept})
                    cleared = f"new notebook: the tutor's manual grades of {cells} were cleared"
                    result.problems += [cleared] if cleared not in result.problems else []
                    kept = {}
                submission = gradebook.add_submission(result.lab, result.student)
                for notebook in submission.notebooks:
                    by_hand = _graded_by_hand(notebook.notebook)
                    for grade in notebook.grades:
                        manual, extra = kept.get(("grade", grade.name), (None, None))
                        grade.auto_score = None if grade.name in ungraded else result.scores.get(grade.name, 0.0)
                        grade.manual_score, grade.extra_credit = manual, extra
                        grade.needs_manual_grade = grade.auto_score is None and manual is None
                    for comment in notebook.comments:
                        comment.manual_comment = kept.get(("comment", comment.name))
                        unanswered = comment.name in by_hand and comment.name not in ungraded
                        comment.auto_comment = "No response." if unanswered else None
                gradebook.db.commit()
            except Exception:
                gradebook.db.rollback()
                raise

    _retry(write, conflicts=(InvalidEntry,))  # nbgrader's name for a duplicate key (two runs add one student)


def _graded_by_hand(notebook) -> set[str]:
    """Grade cells of an nbgrader ``Notebook`` that a tutor scores: written answers and graded solution cells."""
    solutions = {cell.name for cell in notebook.solution_cells}
    return {cell.name for cell in notebook.grade_cells if cell.cell_type == "markdown" or cell.name in solutions}


def ungraded_cells(db: Path | str, lab: str, student: str) -> list[str]:
    """Answers graded by hand in ``db`` that have neither an automatic nor a manual score yet."""
    from nbgrader.api import MissingEntry

    with nbgrader_gradebook(db) as gradebook:
        try:
            notebooks = gradebook.find_submission(lab, student).notebooks
        except MissingEntry:
            return []
        return sorted(grade.name for notebook in notebooks for grade in notebook.grades
                      if grade.name in _graded_by_hand(notebook.notebook)
                      and grade.auto_score is None and grade.manual_score is None)  # fmt: skip


def _write_atomically(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return path


# ------------------------------------------------------------------------------------------ reading


def load_results(db: Path | str = COURSE_DB, lab: str | None = None, columns: str = "*") -> list[dict]:
    """Rows of course_results as dicts (JSON columns decoded); ``columns`` selects fewer (no feedback HTML).

    With the tutor's manual grades merged in: ``scores`` and ``total`` include them, and every row has
    ``auto_total``, ``manual_total``, ``manual_max`` (points graded by hand), ``manual_scores`` and ``ungraded``
    (answers still to be graded by a tutor).
    """
    if not exists(db):
        return []
    wanted = RESULT_COLUMNS if columns.strip() == "*" else [name.strip() for name in columns.split(",")]
    needed = ("lab", "student", "scores", "max_scores", "ungraded", "total", "max_total")
    selected = list(dict.fromkeys([*wanted, *needed]))
    engine = connect(db)
    query = sa.select(*(RESULTS.c[name] for name in selected)).order_by(RESULTS.c.lab, RESULTS.c.student)
    if lab:
        query = query.where(RESULTS.c.lab == lab)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        for key, empty in JSON_COLUMNS.items():
            if key in row:
                row[key] = json.loads(row[key]) if row[key] else empty()
        for key in NUMBER_COLUMNS:  # NULL in rows from before a column existed
            if key in row and row[key] is None:
                row[key] = 0.0
    _merge_manual_grades(engine, rows)
    return rows


def _merge_manual_grades(engine: sa.Engine, rows: list[dict]) -> None:
    manual, by_hand = {}, {}
    if sa.inspect(engine).has_table("grade"):
        with engine.connect() as connection:
            for lab, student, cell, score, extra in connection.execute(sa.text(MANUAL_SCORES)):
                manual.setdefault((lab, student), {})[cell] = float(score) + float(extra or 0.0)
            for lab, cell in connection.execute(sa.text(CELLS_GRADED_BY_HAND)):
                by_hand.setdefault(lab, set()).add(cell)
    for row in rows:
        manual_scores = manual.get((row["lab"], row["student"]), {})
        scores = {**row["scores"], **manual_scores}
        hand = [cell for cell in row["max_scores"] if cell in by_hand.get(row["lab"], ())]
        row["scores"] = scores
        row["manual_scores"] = manual_scores
        row["ungraded"] = [cell for cell in row["ungraded"] if cell not in manual_scores]
        row["manual_total"] = float(sum(scores.get(cell, 0.0) for cell in hand))
        row["manual_max"] = float(sum(row["max_scores"][cell] for cell in hand))
        if row["max_scores"]:  # rows from before per-cell scores were kept: their stored total stands
            row["total"] = float(sum(scores.get(cell, 0.0) for cell in row["max_scores"]))
        row["auto_total"] = row["total"] - row["manual_total"]


MANUAL_SCORES = """SELECT a.name, sa.student_id, c.name, g.manual_score, g.extra_credit FROM grade g
    JOIN base_cell c ON g.cell_id = c.id JOIN submitted_notebook n ON g.notebook_id = n.id
    JOIN submitted_assignment sa ON n.assignment_id = sa.id JOIN assignment a ON sa.assignment_id = a.id
    WHERE g.manual_score IS NOT NULL"""
CELLS_GRADED_BY_HAND = """SELECT a.name, c.name FROM grade_cells gc JOIN base_cell c ON gc.id = c.id
    JOIN notebook n ON c.notebook_id = n.id JOIN assignment a ON n.assignment_id = a.id
    WHERE gc.cell_type = 'markdown' OR EXISTS (SELECT 1 FROM solution_cells sc JOIN base_cell s ON sc.id = s.id
                                               WHERE s.notebook_id = c.notebook_id AND s.name = c.name)"""


CSV_HEADER = ["lab", "student", "score", "max_score", "seconds", "stopped", "problems", "auto_score", "manual_score",
              "manual_max_score", "to_be_graded"]  # fmt: skip


def write_csv(db: Path | str, path: Path) -> Path:
    """grades.csv: per submission the total (autograded + manual), both parts, and the answers still to grade."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    # Rewritten after every result: read only what it shows (a course's feedback HTML is hundreds of MB).
    for row in load_results(db, columns="lab, student, total, max_total, seconds, reason, problems"):
        writer.writerow([row["lab"], row["student"], f"{row['total']:g}", f"{row['max_total']:g}",
                         f"{row['seconds']:.1f}", row["reason"] or "", "; ".join(row["problems"]),
                         f"{row['auto_total']:g}", f"{row['manual_total']:g}", f"{row['manual_max']:g}",
                         " ".join(row["ungraded"])])  # fmt: skip
    temporary = Path(path).with_suffix(".csv.tmp")
    temporary.write_text(buffer.getvalue())
    temporary.replace(path)
    return Path(path)


def write_feedback(db: Path | str, target: Path, lab: str | None = None) -> list[Path]:
    """feedback/<student>/<lab>/<lab>.html from the gradebook (hidden tests and rubrics never included).

    A submission with answers graded by hand gets its feedback generated again by nbgrader from its autograded
    notebook, with the tutor's scores and comments; answers not graded yet are listed at the top as "to be graded".
    """
    written = []
    root = course_root(db)
    for row in load_results(db, lab):
        html_text = row["feedback_html"]
        autograded = root / "autograded" / row["student"] / row["lab"] / f"{row['lab']}.ipynb"
        if row["manual_max"] and autograded.exists():
            html_text = _nbgrader_feedback(db, row["lab"], row["student"]) or html_text
        if html_text:
            html_text = _to_be_graded_notice(html_text, row)
            path = Path(target) / row["student"] / row["lab"] / f"{row['lab']}.html"
            written.append(_write_atomically(path, html_text))
    return written


def _nbgrader_feedback(db: Path | str, lab: str, student: str) -> str:
    """``nbgrader generate_feedback`` for one submission with the course's settings, in ``db``'s course folder."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(COURSE_CONFIG.name, path=str(COURSE_CONFIG.parent)).load_config()
    config.CourseDirectory.root = str(course_root(db))
    config.CourseDirectory.db_url = database_url(db)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    done = api.generate_feedback(lab, student, force=True)
    page = course_root(db) / "feedback" / student / lab / f"{lab}.html"
    return page.read_text() if done["success"] and page.exists() else ""


def _to_be_graded_notice(page: str, row: dict) -> str:
    if not row["ungraded"]:
        return page
    points = sum(row["max_scores"].get(cell, 0.0) for cell in row["ungraded"])
    cells = ", ".join(html.escape(cell) for cell in row["ungraded"])
    notice = (
        "<div class='to-be-graded' style='border:2px solid #d2413a;padding:0.5em;margin:0.5em'><b>To be graded</b>"
        f" by a tutor: {cells} ({points:g} points). The score below counts them as 0 until then.</div>"
    )
    at = page.find("<body")
    at = page.find(">", at) + 1 if at >= 0 else 0
    return page[:at] + notice + page[at:]

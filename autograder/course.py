"""Course-level grading on top of the stock nbgrader CLI.

Design: grading ONE submission (``grade_submission``) runs in its own temporary nbgrader course with its own
gradebook, from bytes in and a plain result record out, so it can run in any worker process. Only the coordinator
(``grade_batch``) writes the course gradebook (``autograder/gradebook.db``) and ``grades.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

AUTOGRADER_DIR = Path(__file__).resolve().parent
ROOT = AUTOGRADER_DIR.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
COURSE_DB = AUTOGRADER_DIR / "gradebook.db"
CELL_TIMEOUT = 300  # seconds per cell: nbgrader's Execute.timeout (it ignores ExecutePreprocessor.timeout)
VALID_STUDENT_ID = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."


class GradingError(RuntimeError):
    """A submission or the course set-up cannot be graded; the message says why."""


def labs() -> list[str]:
    return sorted(p.parent.name for p in SOLUTIONS.glob("lab*/lab*.ipynb") if p.stem == p.parent.name)


def nbgrader_env() -> dict[str, str]:
    """nbgrader runs `alembic` from PATH when it creates a gradebook: put this interpreter's bin first."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def run_nbgrader(*args: str, cwd: Path = AUTOGRADER_DIR, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(command, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


# ------------------------------------------------------------------------------------------- release


def release(selected: list[str] | None = None, release_dir: Path | None = None, db: Path | None = None) -> list[Path]:
    """Regenerate ``notebooks/<lab>/`` from ``solutions/<lab>/`` with nbgrader generate_assignment."""
    written = []
    for lab in selected or labs():
        args = ["generate_assignment", lab, "--force", "--log-level=WARN"]
        if release_dir is not None:
            args.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
        if db is not None:
            args.append(f"--CourseDirectory.db_url=sqlite:///{Path(db).resolve()}")
        run_nbgrader(*args)
        written.append((Path(release_dir) if release_dir else NOTEBOOKS) / lab / f"{lab}.ipynb")
    return written


# ------------------------------------------------------------------------------------ one submission


@dataclass
class GradeResult:
    """What grading one submission produced: plain data, safe to send between processes."""

    student: str
    lab: str
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    feedback_html: str = ""
    digest: str = ""

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_scores.values()))


def _course_config(root: Path) -> None:
    """A private course that shares every setting of autograder/nbgrader_config.py, with its own folders."""
    (root / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"_course = {str(AUTOGRADER_DIR / 'nbgrader_config.py')!r}\n"
        "exec(compile(open(_course).read(), _course, 'exec'), {**globals(), '__file__': _course})\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.source_directory = 'source'\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'\n"
    )


def check_submission(lab: str, notebook_bytes: bytes) -> list[str]:
    """Problems with a submitted notebook that grading will work around (reported, never fatal)."""
    problems = []
    try:
        submitted = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception as error:  # any parse failure is the student's file, not our crash
        return [f"not a readable notebook ({type(error).__name__}: {str(error)[:200]})"]
    source = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    expected = {c.metadata["nbgrader"]["grade_id"]: c.cell_type for c in source.cells if "nbgrader" in c.metadata}
    seen: dict[str, int] = {}
    for cell in submitted.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            seen[grade_id] = seen.get(grade_id, 0) + 1
            if grade_id in expected and cell.cell_type != expected[grade_id]:
                problems.append(f"cell {grade_id!r} was changed from {expected[grade_id]} to {cell.cell_type}")
    problems += [f"duplicated grade_id {g!r} ({n} cells): copied cell?" for g, n in seen.items() if n > 1]
    problems += [f"cell {g!r} is missing (deleted?)" for g in expected if g not in seen]
    return problems


def grade_submission(lab: str, student: str, notebook_bytes: bytes, keep: Path | None = None) -> GradeResult:
    """Autograde one student's notebook for ``lab`` in a private temporary nbgrader course."""
    started = time.perf_counter()
    result = GradeResult(student, lab, digest=hashlib.sha256(notebook_bytes).hexdigest())
    result.problems = check_submission(lab, notebook_bytes)
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab}-") as temporary:
        root = Path(temporary)
        _course_config(root)
        shutil.copytree(SOLUTIONS / lab, root / "source" / lab)
        run_nbgrader("generate_assignment", lab, "--log-level=WARN", cwd=root)
        target = root / "submitted" / student / lab
        target.mkdir(parents=True)
        (target / f"{lab}.ipynb").write_bytes(notebook_bytes)
        graded = run_nbgrader("autograde", lab, f"--student={student}", "--force", "--log-level=WARN", cwd=root,
                              check=False)  # fmt: skip
        if graded.returncode != 0:
            result.problems.append("autograde failed: " + (graded.stderr.strip().splitlines() or ["?"])[-1][:300])
        result.scores, result.max_scores = _read_scores(root, lab, student)
        feedback = run_nbgrader("generate_feedback", lab, f"--student={student}", "--force", "--log-level=WARN",
                                cwd=root, check=False)  # fmt: skip
        html = root / "feedback" / student / lab / f"{lab}.html"
        if feedback.returncode == 0 and html.exists():
            result.feedback_html = html.read_text()
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
    result.seconds = time.perf_counter() - started
    return result


def _read_scores(root: Path, lab: str, student: str) -> tuple[dict[str, float], dict[str, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    scores, maxima = {}, {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(lab)
        for notebook in assignment.notebooks:
            for grade_cell in notebook.grade_cells:
                maxima[grade_cell.name] = float(grade_cell.max_score)
                try:
                    grade = gradebook.find_grade(grade_cell.name, notebook.name, lab, student)
                    scores[grade_cell.name] = float(grade.score or 0.0)
                except MissingEntry:
                    scores[grade_cell.name] = 0.0
    return scores, maxima


def _grade_job(args: tuple[str, str, bytes]) -> GradeResult:
    try:
        return grade_submission(*args)
    except Exception as error:  # one broken submission never stops the batch
        lab, student, blob = args
        return GradeResult(student, lab, problems=[f"grading crashed: {type(error).__name__}: {error}"[:500]],
                           digest=hashlib.sha256(blob).hexdigest())  # fmt: skip


# ---------------------------------------------------------------------------------------- submissions


def collect_submissions(lab: str, location: Path) -> tuple[dict[str, bytes], list[str]]:
    """Read ``<location>/<student>/<lab>.ipynb`` (folders or ``<student>.zip``); report what is wrong."""
    location = Path(location)
    submissions: dict[str, bytes] = {}
    problems: list[str] = []
    if location.is_file() and location.suffix == ".zip":
        entries = _zip_entries(location, problems)
    elif location.is_dir():
        entries = []
        for path in sorted(location.iterdir()):
            if path.is_dir():
                entries.append((path.name, {p.name: p.read_bytes() for p in path.rglob("*.ipynb")}))
            elif path.suffix == ".zip":
                entries += _zip_entries(path, problems, student=path.stem)
            else:
                problems.append(f"{path.name}: not a student folder or zip; ignored")
    else:
        raise GradingError(f"{location}: expected a folder of submissions or a .zip")
    for student, files in entries:
        if not student or any(ch not in VALID_STUDENT_ID for ch in student):
            problems.append(f"{student!r}: bad student id (letters, digits, _ - . only); ignored")
            continue
        wanted = f"{lab}.ipynb"
        if wanted not in files:
            problems.append(f"{student}: no {wanted} (found {sorted(files) or 'nothing'}); graded as missing")
            continue
        extra = sorted(set(files) - {wanted})
        if extra:
            problems.append(f"{student}: extra notebook(s) {extra} ignored")
        submissions[student] = files[wanted]
    return submissions, problems


def _zip_entries(path: Path, problems: list[str], student: str | None = None) -> list[tuple[str, dict]]:
    try:
        with zipfile.ZipFile(path) as archive:
            grouped: dict[str, dict[str, bytes]] = {}
            for info in archive.infolist():
                if info.is_dir() or "__MACOSX" in info.filename or not info.filename.endswith(".ipynb"):
                    continue
                parts = Path(info.filename).parts
                owner = student or (parts[0] if len(parts) > 1 else path.stem)
                grouped.setdefault(owner, {})[parts[-1]] = archive.read(info)
            return sorted(grouped.items())
    except (zipfile.BadZipFile, OSError) as error:
        problems.append(f"{path.name}: unreadable zip ({error}); ignored")
        return []


# -------------------------------------------------------------------------------------- the batch


def grade_batch(lab: str, location: Path, workers: int = 1, db: Path = COURSE_DB, csv_path: Path | None = None):
    """Grade every submission of ``lab`` in ``location`` with ``workers`` processes; write gradebook + CSV."""
    if lab not in labs():
        raise GradingError(f"unknown lab {lab!r}; labs: {labs()}")
    submissions, problems = collect_submissions(lab, location)
    for problem in problems:
        print(f"[submissions] {problem}", file=sys.stderr)
    done = _already_graded(db, lab, submissions)
    todo = {s: b for s, b in submissions.items() if s not in done}
    if done:
        print(f"{len(done)} submission(s) unchanged since last grading: skipped")
    results: list[GradeResult] = []
    jobs = [(lab, student, blob) for student, blob in sorted(todo.items())]
    if workers <= 1:
        iterator = map(_grade_job, jobs)
        for result in iterator:
            _record(db, result)
            results.append(result)
            print(_line(result))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for future in as_completed([pool.submit(_grade_job, job) for job in jobs]):
                result = future.result()
                _record(db, result)  # the coordinator is the only writer
                results.append(result)
                print(_line(result))
    write_csv(db, csv_path or db.parent / "grades.csv")
    return results


def _line(result: GradeResult) -> str:
    note = f"  ({'; '.join(result.problems)})" if result.problems else ""
    score = f"{result.total:5.1f} / {result.max_total:4.1f}"
    return f"{result.lab} {result.student:<20} {score}  {result.seconds:6.1f} s{note}"


RESULTS_TABLE = """CREATE TABLE IF NOT EXISTS course_results (
    lab TEXT, student TEXT, digest TEXT, total REAL, max_total REAL, seconds REAL, scores TEXT, problems TEXT,
    feedback_html TEXT, PRIMARY KEY (lab, student))"""


def _connect(db: Path):
    import sqlite3

    connection = sqlite3.connect(db, timeout=60)
    connection.execute(RESULTS_TABLE)
    return connection


def _already_graded(db: Path, lab: str, submissions: dict[str, bytes]) -> set[str]:
    if not Path(db).exists():
        return set()
    with _connect(db) as connection:
        rows = dict(connection.execute("SELECT student, digest FROM course_results WHERE lab = ?", (lab,)))
    return {s for s, blob in submissions.items() if rows.get(s) == hashlib.sha256(blob).hexdigest()}


def _record(db: Path, result: GradeResult) -> None:
    """Write one result into the course gradebook: nbgrader's tables and the course_results table, atomically."""
    _record_nbgrader(db, result)
    with _connect(db) as connection:
        connection.execute(
            "INSERT OR REPLACE INTO course_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result.lab, result.student, result.digest, result.total, result.max_total, result.seconds,
             json.dumps(result.scores), json.dumps(result.problems), result.feedback_html),
        )  # fmt: skip


def _record_nbgrader(db: Path, result: GradeResult) -> None:
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's add_submission, harmless
    with Gradebook(f"sqlite:///{db}") as gradebook:
        try:
            gradebook.find_assignment(result.lab)
        except MissingEntry:
            return  # the course gradebook has no such assignment yet: run `release` first
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


def write_csv(db: Path, path: Path) -> Path:
    with _connect(db) as connection:
        rows = connection.execute(
            "SELECT lab, student, total, max_total, seconds, problems FROM course_results ORDER BY lab, student"
        ).fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["lab", "student", "score", "max_score", "seconds", "problems"])
    for lab, student, total, max_total, seconds, problems in rows:
        writer.writerow(
            [lab, student, f"{total:g}", f"{max_total:g}", f"{seconds:.1f}", "; ".join(json.loads(problems))]
        )
    temporary = Path(path).with_suffix(".csv.tmp")
    temporary.write_text(buffer.getvalue())
    temporary.replace(path)
    return Path(path)


# --------------------------------------------------------------------------------------- submissions


def reference_submission(lab: str) -> bytes:
    """The reference answers as a student would submit them: the solution notebook without hidden tests."""
    notebook = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    for cell in notebook.cells:
        cell.source = _strip_between(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(notebook).encode()


def _strip_between(text: str, begin: str, end: str) -> str:
    lines, keep = [], True
    for line in text.splitlines():
        if line.strip() == begin:
            keep = False
        elif line.strip() == end:
            keep = True
        elif keep:
            lines.append(line)
    return "\n".join(lines)

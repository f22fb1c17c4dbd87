"""Shared helpers of the gradebook tests: the fixture lab with an answer graded by hand, a throw-away PostgreSQL
server, a tutor's manual grade as formgrader records it, and a writer process for the concurrency tests."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import course, gradebook

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "autograder"
GRADING_SOLUTIONS = FIXTURES / "solutions"  # lab0_grading: autograded only
MANUAL_SOLUTIONS = FIXTURES / "manual"  # lab0_reflection: one autograded test, one answer graded by hand
LAB = "lab0_reflection"
RUBRIC = "RUBRIC-ONLY-FOR-TUTORS"
ANSWER = "The single large value 100 pulls the mean away from 1 and 2."
AUTO_POINTS, MANUAL_POINTS = 1.0, 2.0


def make_course(root: Path, solutions: Path = MANUAL_SOLUTIONS, lab: str = LAB, db: Path | str | None = None) -> dict:
    """A course in ``root``: the fixture lab as solutions/, released into release/, its gradebook (``db``)."""
    shutil.copytree(solutions, root / "solutions", dirs_exist_ok=True)
    db = db or root / "gradebook.db"
    course.release([lab], release_dir=root / "release", db=db, solutions=root / "solutions")
    return {"root": root, "solutions": root / "solutions", "release": root / "release", "db": db}


def submissions(paths: dict, folder: Path, lab: str = LAB) -> Path:
    """``answered`` (right code, a written answer), ``blank`` (the student copy as released), ``wrong``."""
    blank = (paths["release"] / lab / f"{lab}.ipynb").read_bytes()
    answered = nbformat.reads(course.reference_submission(lab, paths["solutions"], paths["release"]).decode(), 4)
    for cell in answered.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "reflection_mean":
            cell.source = ANSWER
    wrong = nbformat.reads(nbformat.writes(answered), 4)
    for cell in wrong.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mean_function":
            cell.source = "def mean(values):\n    return values[0]\n"
    for student, blob in {"answered": nbformat.writes(answered).encode(), "blank": blank,
                          "wrong": nbformat.writes(wrong).encode()}.items():  # fmt: skip
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / f"{lab}.ipynb").write_bytes(blob)
    return folder


def grade_by_hand(db, student: str, score: float, comment: str, lab: str = LAB, cell: str = "reflection_mean"):
    """What formgrader's save does: the manual score and comment of one answer, in nbgrader's tables."""
    with gradebook.nbgrader_gradebook(db) as book:
        grade = book.find_grade(cell, lab, lab, student)
        grade.manual_score = score
        grade.needs_manual_grade = False
        book.find_comment(cell, lab, lab, student).manual_comment = comment
        book.db.commit()


def write_results(db: str, lab: str, students: list[str], points: dict[str, float]) -> None:
    """A grading coordinator's writes for ``students`` of ``lab`` (run in its own process by the tests)."""
    for student in students:
        result = course.GradeResult(student, lab, scores=dict(points), max_scores=dict(points), digest=student)
        gradebook.record(db, result)


# ------------------------------------------------------------------------------------------- PostgreSQL


def postgres_binaries() -> tuple[Path | None, str]:
    """The folder of initdb/pg_ctl/postgres, or None and why not."""
    candidates = [shutil.which("initdb"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    for initdb in filter(None, candidates):
        folder = Path(os.path.realpath(initdb)).parent
        if (folder / "pg_ctl").exists() and (folder / "postgres").exists():
            return folder, ""
    return None, "no PostgreSQL server binaries (initdb, pg_ctl): `apt-get install postgresql` (make test does)"


def _as_server_user() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: root runs it as the ``postgres`` user (made by Debian's package)."""
    if os.geteuid() != 0:
        return [], None
    runuser = shutil.which("runuser")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return [], "running as root without a 'postgres' user to run the server as"
    if runuser is None:
        return [], "running as root without runuser to start the server as 'postgres'"
    return [runuser, "-u", "postgres", "--"], None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres_server():
    """A PostgreSQL server in a temporary folder on a free local port, for the duration of the block.

    Yields a function ``database(name) -> URL`` that creates a database; raises ``RuntimeError`` with the reason
    where no server can be started (the tests skip with it).
    """
    binaries, why = postgres_binaries()
    if binaries is None:
        raise RuntimeError(why)
    prefix, why = _as_server_user()
    if why:
        raise RuntimeError(why)
    import pg8000.native  # noqa: F401 (the driver: its absence is a reason to skip, said by the caller)

    folder = Path(tempfile.mkdtemp(prefix="course-postgres-"))
    data, sockets, port = folder / "data", folder / "sockets", _free_port()
    sockets.mkdir()
    if prefix:
        shutil.chown(folder, "postgres")
        shutil.chown(sockets, "postgres")
    log = folder / "server.log"

    def run(*command):
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, cwd=folder)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:2])} failed: {done.stdout[-1500:]} {done.stderr[-1500:]}")

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"cannot start PostgreSQL: {error}") from error

    def database(name: str) -> str:
        connection = pg8000.native.Connection("postgres", host="127.0.0.1", port=port)
        try:
            connection.run(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return f"postgresql+pg8000://postgres@127.0.0.1:{port}/{name}"

    try:
        yield database
    finally:
        with contextlib.suppress(Exception):
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "60", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ------------------------------------------------------------------------------ the pipeline, any database

LIMITS = {"Execute.timeout": 60}


def csv_rows(path: Path) -> dict[str, dict]:
    import csv

    return {row["student"]: row for row in csv.DictReader(Path(path).open())}


def check_manual_grading_pipeline(tmp: Path, db) -> None:
    """grade -> grades.csv -> feedback -> report on ``db``, before and after a tutor grades one answer by hand; a
    regrade of the same notebook keeps the tutor's grade, a changed notebook is graded by hand again."""
    from autograder import report

    paths = make_course(tmp / "course", db=db)
    folder = submissions(paths, tmp / "submissions")
    root = gradebook.course_root(db)
    csv_path = tmp / "grades.csv"

    def grade(force: bool = False) -> dict:
        graded = course.grade_batch(LAB, folder, db=db, csv_path=csv_path, solutions=paths["solutions"],
                                    config=LIMITS, force=force, log=lambda line: None)  # fmt: skip
        return {result.student: result for result in graded}

    results = grade()
    assert results["answered"].ungraded == ["reflection_mean"] and results["wrong"].ungraded == ["reflection_mean"]
    assert results["blank"].ungraded == [], "an unanswered question scores 0 (nbgrader: 'No response.')"
    rows = csv_rows(csv_path)
    answered = rows["answered"]
    shown = [answered[key] for key in ("score", "max_score", "auto_score", "manual_score", "manual_max_score")]
    assert shown == ["1", "3", "1", "0", "2"] and answered["to_be_graded"] == "reflection_mean"
    assert rows["wrong"]["score"] == "0" and rows["wrong"]["to_be_graded"] == "reflection_mean"
    assert rows["blank"]["score"] == "0" and rows["blank"]["to_be_graded"] == ""

    autograded = (root / "autograded" / "answered" / LAB / f"{LAB}.ipynb").read_text()
    assert RUBRIC in autograded and ANSWER in autograded, "the tutor's copy has the rubric and the answer"
    with gradebook.nbgrader_gradebook(db) as book:
        grade_row = book.find_grade("reflection_mean", LAB, LAB, "answered")
        assert grade_row.auto_score is None and grade_row.needs_manual_grade
        assert book.find_grade("test_mean", LAB, LAB, "answered").auto_score == AUTO_POINTS
        assert book.find_comment("reflection_mean", LAB, LAB, "blank").auto_comment == "No response."
        assert book.find_submission(LAB, "answered").needs_manual_grade

    feedback = tmp / "feedback"
    gradebook.write_feedback(db, feedback, LAB)
    page = (feedback / "answered" / LAB / f"{LAB}.html").read_text()
    assert "To be graded" in page and "reflection_mean" in page and ANSWER in page
    assert RUBRIC not in page and "HIDDEN TESTS" not in page, "the rubric never reaches a student"
    assert "To be graded" not in (feedback / "blank" / LAB / f"{LAB}.html").read_text()
    tutor = report.build(db)
    assert "Graded by hand" in tutor and "2 answer(s) still to be graded" in tutor

    grade_by_hand(db, "answered", 1.5, "Names the outlier: well done.")
    gradebook.write_csv(db, csv_path)
    answered = csv_rows(csv_path)["answered"]
    assert (answered["score"], answered["auto_score"], answered["manual_score"], answered["to_be_graded"]) == (
        "2.5", "1", "1.5", "")  # fmt: skip
    gradebook.write_feedback(db, feedback, LAB)
    page = (feedback / "answered" / LAB / f"{LAB}.html").read_text()
    assert "Names the outlier: well done." in page and "To be graded" not in page and RUBRIC not in page
    assert "Score: 2.5 / 3.0" in page, "nbgrader's feedback counts the manual points"
    tutor = report.build(db)
    assert "1 answer(s) still to be graded" in tutor and "<td>1.5 / 2</td>" in tutor and "<td>2.5 / 3</td>" in tutor

    grade(force=True)  # the same notebooks again: the tutor's grade stays
    assert csv_rows(csv_path)["answered"]["score"] == "2.5"
    changed = folder / "answered" / f"{LAB}.ipynb"
    changed.write_text(changed.read_text().replace(ANSWER, "Outliers."))
    results = grade()
    assert list(results) == ["answered"], "only the changed notebook is graded again"
    answered = csv_rows(csv_path)["answered"]
    assert answered["score"] == "1" and answered["to_be_graded"] == "reflection_mean"
    assert any("manual grades" in problem and "cleared" in problem for problem in results["answered"].problems)


def check_concurrent_writers(db, labs: dict[str, dict[str, float]], per_lab: int = 12) -> None:
    """Two processes (two grading runs of different labs) write to ``db`` at once: every row arrives."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    students = [f"student{index:02d}" for index in range(per_lab)]
    writers = [context.Process(target=write_results, args=(str(db), lab, students, points))
               for lab, points in labs.items()]  # fmt: skip
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(300)
    assert [writer.exitcode for writer in writers] == [0] * len(writers)
    rows = gradebook.load_results(db)
    assert sorted((row["lab"], row["student"]) for row in rows) == sorted((lab, s) for lab in labs for s in students)
    with gradebook.nbgrader_gradebook(db) as book:
        for lab, points in labs.items():
            assert len(book.find_assignment(lab).submissions) == per_lab
            assert all(submission.score == sum(points.values()) for submission in book.find_assignment(lab).submissions)

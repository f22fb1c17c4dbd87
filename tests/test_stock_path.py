"""The stock nbgrader CLI (`nbgrader autograde`, `nbgrader generate_feedback`) with the course config: the canary
stops a misconfigured course before anything is graded, and no step of one submission can hang the run
(``autograder/stock_path.py``). Fixture lab, temporary course folders made like a tutor's copy of the course."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from autograder import course, stock_path

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"
LAB = "lab0_grading"
POINTS = {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 2.0}

# Preprocessors that hang on a marker in the notebook, put into a test course's pipelines: a step that never ends,
# wherever it is (nbgrader's own code or a library's), without depending on how slow this machine is.
HANG_STEPS = """
import time

from nbgrader.preprocessors import NbGraderPreprocessor


def hang_on(marker, nb, swallow=False):
    while any(marker in cell.source for cell in nb.cells):
        try:
            time.sleep(0.2)
        except BaseException:  # like code that no exception reaches (or that catches every one)
            if not swallow:
                raise


class HangWhileSanitizing(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        hang_on("HANG_WHILE_SANITIZING", nb)
        hang_on("HANG_SWALLOWING_EXCEPTIONS", nb, swallow=True)
        return nb, resources


class HangInFeedback(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        hang_on("HANG_IN_FEEDBACK", nb)
        return nb, resources
"""
HANG_CONFIG = """
from hang_steps import HangInFeedback, HangWhileSanitizing
c.Autograde.sanitize_preprocessors = [HangWhileSanitizing, *c.Autograde.sanitize_preprocessors]
c.GenerateFeedback.preprocessors = [HangInFeedback, *c.GenerateFeedback.preprocessors]
"""


def stock_course(root: Path, settings: dict | None = None, drop_data: bool = False) -> tuple[Path, bytes]:
    """A course folder like a tutor's copy: config, source, generated assignment; and the reference answers."""
    root.mkdir(parents=True)
    course.write_course_config(root, {"Execute.timeout": 20, **(settings or {})})
    shutil.copytree(FIXTURE / LAB, root / "source" / LAB)
    course.run_nbgrader("generate_assignment", LAB, cwd=root)
    if drop_data:  # after generate_assignment, as when a data file goes missing in a copied course
        (root / "source" / LAB / "numbers.txt").unlink()
    return root, course.reference_submission(LAB, root / "source", root / "release")


def submit(root: Path, student: str, blob: bytes | None) -> Path:
    folder = root / "submitted" / student / LAB
    folder.mkdir(parents=True)
    if blob is not None:
        (folder / f"{LAB}.ipynb").write_bytes(blob)
    return folder


def with_marker(reference: bytes, marker: str) -> bytes:
    """The reference answers with a comment in the first answer cell."""
    notebook = nbformat.reads(reference.decode(), as_version=4)
    answer = next(cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution"))
    answer.source = f"# {marker}\n{answer.source}"
    return nbformat.writes(notebook).encode()


def nbgrader(root: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    ran = course.run_nbgrader(*args, cwd=root, check=False, timeout=timeout)
    return ran, time.monotonic() - started


def graded_students(root: Path) -> list[str]:
    with sqlite3.connect(root / "gradebook.db") as connection:
        rows = connection.execute("SELECT student.id FROM submitted_assignment JOIN student "
                                  "ON submitted_assignment.student_id = student.id").fetchall()  # fmt: skip
    return sorted(row[0] for row in rows)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("broken", ["missing data file", "kernel that does not exist"])
def test_broken_course_stops_before_grading_with_one_error_line(tmp_path, broken):
    """The course is broken for every submission alike: nbgrader stops on the canary, nothing is graded."""
    settings = {"Execute.kernel_name": "no-such-kernel"} if broken.startswith("kernel") else {}
    root, reference = stock_course(tmp_path / "copied-course", settings, drop_data=broken.startswith("missing"))
    for student in ("alice", "bob"):
        submit(root, student, reference)
    ran, _ = nbgrader(root, "autograde", LAB)
    errors = error_lines(ran.stderr)
    assert ran.returncode != 0, ran.stderr[-3000:]
    assert len(errors) == 1, ran.stderr[-3000:]
    assert re.match(
        rf"error: canary: the reference answers of {LAB} score [0-4]/5 .* test cell '\w+' failed", errors[0]
    )
    assert "likely cause:" in errors[0] and "nothing was graded" in errors[0]
    assert not (root / "autograded").exists() and graded_students(root) == [], "nothing of any submission is graded"


@pytest.mark.notebook
@pytest.mark.slow
def test_no_step_of_a_hostile_submission_hangs_the_run(tmp_path):
    """Hangs while sanitizing and in feedback, a FIFO as the notebook, a link to a device, an oversized notebook:
    each costs that submission only, within its time limit, and the honest submission is graded in full."""
    limits = {"StockPath.autograde_limit_s": 15.0, "StockPath.feedback_limit_s": 8.0,
              "StockPath.largest_notebook": 200_000}  # fmt: skip
    root, reference = stock_course(tmp_path / "course", limits)
    (root / "hang_steps.py").write_text(HANG_STEPS)
    with (root / "nbgrader_config.py").open("a") as config:
        config.write(HANG_CONFIG)
    submit(root, "alice", reference)
    submit(root, "eve", with_marker(reference, "HANG_WHILE_SANITIZING"))
    submit(root, "mallory", with_marker(reference, "HANG_IN_FEEDBACK"))
    os.mkfifo(submit(root, "fifo", None) / f"{LAB}.ipynb")
    (submit(root, "linky", reference) / "data.bin").symlink_to("/dev/zero")
    notebook = nbformat.reads(reference.decode(), as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("x" * 300_000))
    submit(root, "huge", nbformat.writes(notebook).encode())

    ran, seconds = nbgrader(root, "autograde", LAB)
    log = ran.stderr
    assert seconds < 15 + 120, f"autograde took {seconds:.0f} s"
    assert f"[canary] {LAB}: the reference answers get every autograded point: 5/5 (0 points" in log, log[-3000:]
    assert "nbgrader autograde of" in log and "eve" in log and "took longer than 15 s" in log, log[-3000:]
    assert log.count("NOT GRADED") == 3 and "larger than 200000 bytes" in log, log[-3000:]
    assert "fifo/lab0_grading: NOT GRADED" in log and "linky/lab0_grading: NOT GRADED" in log, log[-3000:]
    for student in ("alice", "mallory"):
        assert course.read_scores(root, LAB, student)[0] == POINTS, student
    for student in ("eve", "fifo", "linky", "huge"):
        assert not (root / "autograded" / student / LAB / f"{LAB}.ipynb").exists(), student
    assert graded_students(root) == ["alice", "eve", "mallory"], "folders not graded have no gradebook entry"

    ran, seconds = nbgrader(root, "generate_feedback", LAB)
    assert seconds < 8 + 60, f"generate_feedback took {seconds:.0f} s"
    assert "nbgrader generate_feedback of" in ran.stderr and "took longer than 8 s" in ran.stderr, ran.stderr[-3000:]
    assert (root / "feedback" / "alice" / LAB / f"{LAB}.html").is_file()
    assert not (root / "feedback" / "mallory" / LAB / f"{LAB}.html").exists()


@pytest.mark.notebook
@pytest.mark.slow
def test_a_kernel_that_outlasts_the_submission_limit_is_stopped(tmp_path):
    """The limit also covers execution (a backstop behind the executor's own): the kernel is killed and the next
    submission is graded in full."""
    limits = {"Execute.timeout": 60, "StockPath.autograde_limit_s": 8.0, "StockPath.canary": False}
    root, reference = stock_course(tmp_path / "course", limits)
    submit(root, "sleepy", with_marker(reference, "sleep\nimport time\ntime.sleep(120)"))
    submit(root, "zoe", reference)
    ran, seconds = nbgrader(root, "autograde", LAB, timeout=200)
    assert seconds < 8 + 60 and "took longer than 8 s" in ran.stderr, (seconds, ran.stderr[-3000:])
    assert course.read_scores(root, LAB, "zoe")[0] == POINTS
    assert not (root / "autograded" / "sleepy" / LAB / f"{LAB}.ipynb").exists()


@pytest.mark.notebook
@pytest.mark.slow
def test_a_step_no_exception_reaches_stops_the_run_instead_of_hanging(tmp_path):
    limits = {"StockPath.autograde_limit_s": 2.0, "StockPath.hard_stop_grace_s": 2.0, "StockPath.canary": False}
    root, reference = stock_course(tmp_path / "course", limits)
    (root / "hang_steps.py").write_text(HANG_STEPS)
    with (root / "nbgrader_config.py").open("a") as config:
        config.write(HANG_CONFIG)
    submit(root, "eve", with_marker(reference, "HANG_SWALLOWING_EXCEPTIONS"))
    ran, seconds = nbgrader(root, "autograde", LAB, timeout=120)
    assert ran.returncode == 3 and seconds < 60, (ran.returncode, seconds, ran.stderr[-2000:])
    errors = error_lines(ran.stderr)
    assert len(errors) == 1 and "eve" in errors[0] and "student_id_exclude" in errors[0], ran.stderr[-2000:]


# ----------------------------------------------------------------------------------------- fast unit tests


def test_canary_course_takes_this_courses_settings_but_not_its_folders():
    live = Config()
    live.Execute.timeout = 20
    live.GuardedExecute.notebook_timeout = 1200  # the course's own value: not an override
    live.CourseDirectory.root = "/somewhere"
    live.SkipDemoCells.source_directory = "/somewhere/source"
    live.Autograde.pre_convert_hook = print  # not plain data
    live.AutogradeApp.log_level = "DEBUG"
    assert stock_path.config_overrides(live) == {"Execute.timeout": 20}


def test_only_plain_data_travels_to_the_canary():
    from traitlets.config.loader import DeferredConfigString

    assert stock_path.is_plain({"a": [1, 2.0, None, ("x", True)]})
    assert not stock_path.is_plain(DeferredConfigString("20")) and not stock_path.is_plain([print])


def test_special_files_in_a_submission_folder_are_found(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("fine")
    assert stock_path.special_file(tmp_path) is None
    (tmp_path / "timestamp.txt").write_text("2026-11-11 04:59:00 UTC\n" * 100)
    assert stock_path.special_file(tmp_path) == "timestamp.txt is larger than 1024 bytes"
    (tmp_path / "timestamp.txt").unlink()
    assert stock_path.special_file(tmp_path, largest=3) == f"sub{os.sep}notes.txt is larger than 3 bytes"
    os.mkfifo(tmp_path / "sub" / "pipe")
    assert stock_path.special_file(tmp_path) == f"sub{os.sep}pipe is a link or special file"


def test_notebooks_are_read_only_as_bounded_regular_files(tmp_path):
    exporter = stock_path.CanaryExporter(config=Config({"StockPath": {"largest_notebook": 10_000}}))
    small = tmp_path / "small.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), small)
    notebook, resources = exporter.from_filename(str(small))
    assert "x = 1" in notebook and resources["metadata"]["name"] == "small"
    large = tmp_path / "large.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("x" * 20_000)]), large)
    os.mkfifo(tmp_path / "fifo.ipynb")  # nbconvert's own open() would block on it for ever
    (tmp_path / "link.ipynb").symlink_to(small)
    for refused in ("large", "fifo", "link"):
        with pytest.raises(ValueError, match="not read"):
            exporter.from_filename(str(tmp_path / f"{refused}.ipynb"))


def test_a_missing_data_set_is_named_as_the_likely_cause():
    """What a course folder copied without its data/ gives (measured on lab 2): the cause says `make data`."""
    from autograder import batch
    from autograder.grading import GradeResult

    message = "DatasetNotFound: data set 'synthetic' not found at /copy/data/synthetic: run `make data` first"
    result = GradeResult("reference-canary", "lab2_functional", {"test_size": 0.0}, {"test_size": 1.0},
                         messages={"test_size": message})  # fmt: skip
    problem = batch.canary_problem(result)
    assert problem.startswith("canary: the reference answers of lab2_functional score 0/1") and "make data" in problem

"""The stock nbgrader CLI with the course config, `python -m autograder` commands, an interrupted grading run,
the tutor report and the log-noise filter, on the fixture lab in temporary course directories."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_autograder import FIXTURE, LAB, POINTS, WRONG_MEAN, make_course, submission

from autograder import course, report, sandbox
from autograder.preprocessors import LOG_NOISE, strip_noise

FULL = sum(POINTS.values())


def cli(*args: str, cwd: Path = course.ROOT, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "autograder", *args]
    env = course.nbgrader_env()
    if popen:  # a run the test may interrupt: Ctrl-C must work as in a terminal, however pytest was started
        return subprocess.Popen(command, cwd=cwd, env=env, text=True, preexec_fn=_terminal_signals, **popen)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def recorded(db: Path) -> int:
    """Rows in course_results, read without taking a write lock (the coordinator must never wait for the test)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as connection:
        if not connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'course_results'").fetchone():
            return 0
        return connection.execute("SELECT COUNT(*) FROM course_results").fetchone()[0]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:300]
    except OSError:
        return "?"


def _terminal_signals() -> None:
    """SIGINT as in an interactive shell: a background job of a non-interactive shell (`make test &` in a script,
    nohup) inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        children = sandbox.children(frontier.pop())
        found += children
        frontier += children
    return found


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# -------------------------------------------------------------------------------- no notebooks run


def test_log_noise_is_removed_line_by_line():
    import re

    compiled = [re.compile(pattern) for pattern in LOG_NOISE]
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1732412345.123456   12345 cpu_feature_guard.cc:210] This TensorFlow binary is optimized\n"
        "2025-11-24 01:02:03.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
        "appropriate compiler flags.\n"
        "/x/.venv/lib/python3.11/site-packages/keras/src/layers/core/dense.py:93: UserWarning: Do not pass an "
        "`input_shape`/`input_dim` argument to a layer.\n"
        "  super().__init__(activity_regularizer=activity_regularizer, **kwargs)\n"
    )
    assert strip_noise(noise, compiled) == ""
    student = "my own warning\n"
    assert strip_noise(noise + student, compiled) == student, "a student's own stderr output must still count"


def test_course_imports_come_from_locked_cells_only():
    """The trusted test process binds the course's own imports, read from locked cells only (never solution cells)."""
    from autograder.trusted import course_imports

    notebook = nbformat.read(FIXTURE / LAB / f"{LAB}.ipynb", as_version=4)
    names = course_imports(notebook, ["numpy", "course_utils"])
    assert names == {"np": "numpy", "npt": "numpy.testing", "checks": "course_utils:checks",
                     "check_close": "course_utils.checks:check_close",
                     "check_equal": "course_utils.checks:check_equal"}  # fmt: skip
    unlocked = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    for cell in unlocked:
        cell.source = "import os as np\n" + cell.source
    assert course_imports(notebook, ["numpy", "course_utils"])["np"] == "numpy", "a solution cell must not rebind it"


def test_report_from_results(tmp_path):
    db = tmp_path / "gradebook.db"
    scores = [(2.0, 1.0, 2.0), (0.0, 1.0, 2.0), (0.0, 0.0, 0.0)]
    for index, (mean, scaled, count) in enumerate(scores):
        result = course.GradeResult(f"s{index}", LAB, {"test_mean": mean, "test_scaled": scaled, "test_count": count},
                                    dict(POINTS), {"test_mean": "CheckFailed: [FAIL] mean"} if not mean else {},
                                    seconds=index + 1.0, reason="the kernel died" if index == 2 else "")  # fmt: skip
        course.record_row(db, result, graded_at=0)  # course_results only: no nbgrader assignment needed here
    page = report.write(db, tmp_path / "report").read_text()
    assert page.count("data:image/png;base64,") == 2, "a score histogram and a pass-rate chart"
    assert "<td>test_mean</td><td>2</td><td>33%</td><td>CheckFailed: [FAIL] mean</td>" in page
    assert page.index("<td>s2</td><td>3.0</td>") < page.index("<td>s0</td><td>1.0</td>"), "slowest first"
    assert "Needs a tutor" in page and "the kernel died" in page


def test_kernel_launcher_whose_grader_died_does_not_start_the_kernel():
    """The sandbox launcher checks that the grader that started it still is its parent, after arming
    PR_SET_PDEATHSIG: a grader killed during the launcher's start-up must not leave an orphaned kernel behind."""
    launcher = [sys.executable, "-m", "autograder.sandbox"]
    env = course.nbgrader_env()
    ours = subprocess.run([*launcher, f"--parent-pid={os.getpid()}", "--", "true"], env=env, timeout=60)
    assert ours.returncode == 0, "the launcher should run the command when its parent is the grader"
    orphan = subprocess.run([*launcher, f"--parent-pid={os.getpid() + 100_000}", "--", "true"], env=env, timeout=60)
    assert orphan.returncode == 70, "the launcher must refuse to start a kernel for a grader that is gone"


def test_kernel_tree_dies_with_its_grader_whatever_its_start_up_stage():
    """bwrap's PID-namespace init arms its parent-death signal late in its set-up; killed in that window, it used
    to survive as an orphan running the kernel. Model it with a command whose grandchild never arms one: when the
    grader dies, the launcher (a supervisor) must take the whole tree with it."""
    grader_code = (
        "import os, subprocess, sys, time\n"
        "launcher = subprocess.Popen([sys.executable, '-m', 'autograder.sandbox', f'--parent-pid={os.getpid()}', "
        "'--', 'sh', '-c', 'sleep 300 & sleep 300'], start_new_session=True)\n"
        "time.sleep(300)\n"
    )
    grader = subprocess.Popen([sys.executable, "-c", grader_code], env=course.nbgrader_env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tree = descendants(grader.pid)
            if sum("sleep 300" == command_line(pid).strip() for pid in tree) == 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the launched command did not start: {[command_line(pid) for pid in tree]}")
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(is_alive(pid) for pid in tree):
        time.sleep(0.2)
    alive = [(pid, command_line(pid)) for pid in tree if is_alive(pid)]
    for pid, _ in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"left behind when the grader died: {alive}"


def test_gradebook_from_an_older_version_is_migrated(tmp_path):
    """A course_results table written before max_scores/messages/reason/sandbox/graded_at existed keeps working."""
    db = tmp_path / "gradebook.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE course_results (lab TEXT, student TEXT, digest TEXT, total REAL, "
                           "max_total REAL, seconds REAL, scores TEXT, problems TEXT, feedback_html TEXT, "
                           "PRIMARY KEY (lab, student))")  # fmt: skip
        old_scores = '{"test_mean": 2.0, "test_scaled": 1.0}'
        connection.execute("INSERT INTO course_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (LAB, "old", "abc", 3.0, FULL, 4.2, old_scores, "[]", ""))  # fmt: skip
    course.write_csv(db, tmp_path / "grades.csv")
    assert f"{LAB},old,3,{FULL:g},4.2,," in (tmp_path / "grades.csv").read_text(), "the old row survives"
    with sqlite3.connect(db) as connection:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(course_results)")}
    assert set(course.RESULT_COLUMNS) <= columns
    new = course.GradeResult("new", LAB, {"test_mean": 2.0}, dict(POINTS), seconds=1.0)
    course.record_row(db, new, graded_at=0)
    rows = {row["student"]: row for row in course.load_results(db)}
    assert rows["old"]["max_scores"] == {} and rows["old"]["reason"] is None and rows["new"]["total"] == 2.0
    page = report.write(db, tmp_path / "report").read_text()
    assert "<td>test_mean</td>" in page and "<td>old</td>" in page


# ---------------------------------------------------------------------------------- notebooks run


@pytest.mark.notebook
@pytest.mark.slow
def test_stock_nbgrader_cli_with_course_config(tmp_path):
    """`nbgrader generate_assignment / autograde / generate_feedback / validate` in a course using our config."""
    paths = make_course(tmp_path / "release-course")  # for the sample submissions
    root = tmp_path / "course"
    root.mkdir()
    course.write_course_config(root, {"Execute.timeout": 20})
    shutil.copytree(FIXTURE / LAB, root / "source" / LAB)
    course.run_nbgrader("generate_assignment", LAB, cwd=root)
    for student, blob in {"alice": submission(paths), "bob": submission(paths, {"mean_function": WRONG_MEAN +
                          "check_close = lambda *a, **k: None"})}.items():  # fmt: skip
        (root / "submitted" / student / LAB).mkdir(parents=True)
        (root / "submitted" / student / LAB / f"{LAB}.ipynb").write_bytes(blob)
    course.run_nbgrader("autograde", LAB, cwd=root)  # every student, like a tutor would
    scores = {student: course.read_scores(root, LAB, student)[0] for student in ("alice", "bob")}
    assert scores["alice"] == POINTS
    assert scores["bob"] == {**POINTS, "test_mean": 0.0}, "the guard works through the stock CLI too"
    course.run_nbgrader("generate_feedback", LAB, cwd=root)
    for student in ("alice", "bob"):
        html = (root / "feedback" / student / LAB / f"{LAB}.html").read_text()
        assert "_hidden_marker" not in html and "HIDDEN TESTS" not in html
    ok = course.run_nbgrader("validate", str(root / "source" / LAB / f"{LAB}.ipynb"), cwd=root, check=False)
    assert ok.returncode == 0 and "Success" in ok.stdout, ok.stdout[-2000:]
    inverted = course.run_nbgrader("validate", "--invert", str(root / "release" / LAB / f"{LAB}.ipynb"), cwd=root,
                                   check=False)  # fmt: skip
    assert inverted.returncode == 0 and "Success" in inverted.stdout, inverted.stdout[-2000:]


@pytest.mark.notebook
@pytest.mark.slow
def test_interrupted_grading_leaves_a_consistent_resumable_gradebook(tmp_path):
    paths = make_course(tmp_path / "course")
    submissions = tmp_path / "submissions"
    reference = submission(paths)
    # Enough submissions that the workers cannot finish them all while the coordinator records its first ones (the
    # first record creates the gradebook, which can take seconds under load; results queued meanwhile are then
    # recorded in a burst): with 6, a loaded CI machine once recorded all of them within one poll.
    students = [f"student{index:02d}" for index in range(16)]
    for student in students:
        (submissions / student).mkdir(parents=True)
        (submissions / student / f"{LAB}.ipynb").write_bytes(reference)
    db = paths["db"]
    args = ["grade", LAB, str(submissions), "--workers", "2", "--db", str(db), "--solutions", str(paths["solutions"])]
    run = cli(*args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.1)
        if db.exists() and recorded(db) >= 2:
            break
    assert run.poll() is None, f"the run finished before it could be interrupted:\n{run.stdout.read()}"
    tree = descendants(run.pid)
    assert tree, "the grading run has workers"
    os.kill(run.pid, signal.SIGKILL)  # the coordinator only: its workers and kernels must follow it
    run.wait()
    run.stdout.close()
    deadline = time.monotonic() + 30  # an alembic run started by nbgrader may finish its few seconds first
    while time.monotonic() < deadline and any(is_alive(pid) for pid in tree):
        time.sleep(0.5)
    alive = [pid for pid in tree if is_alive(pid)]
    assert not alive, f"processes left behind by the killed run: {[(pid, command_line(pid)) for pid in alive]}"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        done = connection.execute("SELECT COUNT(*) FROM course_results").fetchone()[0]
    assert 2 <= done < len(students)

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{done} submission(s) unchanged since last grading: skipped" in resumed.stdout
    rows = course.load_results(db, LAB)
    assert sorted(row["student"] for row in rows) == students
    assert all(row["total"] == FULL for row in rows), [(row["student"], row["total"]) for row in rows]
    for student in students:  # nbgrader's own tables agree with the course results
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{db}") as gradebook:
            assert gradebook.find_submission(LAB, student).score == FULL
    csv_lines = (db.parent / "grades.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(students)


@pytest.mark.notebook
@pytest.mark.slow
def test_cli_release_grade_feedback_report(tmp_path):
    paths = make_course(tmp_path / "course")
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"ann/{LAB}.ipynb", submission(paths))
        bundle.writestr(f"ben/{LAB}.ipynb", (paths["release"] / LAB / f"{LAB}.ipynb").read_bytes())
    db = tmp_path / "gradebook.db"
    done = cli("grade", LAB, str(archive), "--db", str(db), "--solutions", str(paths["solutions"]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "graded 2 submission(s)" in done.stdout
    feedback = cli("feedback", LAB, "--db", str(db), "--out", str(tmp_path / "feedback"))
    assert feedback.returncode == 0 and (tmp_path / "feedback" / "ann" / LAB / f"{LAB}.html").exists()
    page = cli("report", "--db", str(db), "--out", str(tmp_path / "report"))
    assert page.returncode == 0 and "data:image/png" in (tmp_path / "report" / "index.html").read_text()
    sandbox = cli("sandbox")
    assert sandbox.returncode in (0, 1) and "sandbox" in sandbox.stdout.lower()

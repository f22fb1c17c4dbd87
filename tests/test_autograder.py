"""The autograder end to end on a tiny fixture lab (no TensorFlow), in a temporary course directory.

One batch grades a class of sample students with ``--workers 2``: the reference answers, the blank notebook, one
wrong TODO, edited and deleted test cells, and every attack of issue #7 (tampering with the checks and the
execution machinery, kernel crashes, endless loops, memory and output bombs, sandbox escapes). Each test then
checks one student's result. Real labs: ``test_autograder_labs.py``.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
import sqlite3
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import course, sandbox

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"
LAB = "lab0_grading"
POINTS = {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 2.0}
FULL = sum(POINTS.values())
# Small limits so that the attacks are stopped in seconds (the course's own limits are minutes and gigabytes).
# Margins for a loaded CI machine: filling the 3 GB memory cap costs about 2 CPU seconds of page faults here (more
# under load), well below the 10 s CPU budget per cell, so the memory bomb stops on memory; an output bomb's
# unread messages queue up in its kernel (ZMQ) and need that much memory before the output limit stops it.
LIMITS = {
    "Execute.timeout": 12,
    "GuardedExecute.notebook_timeout": 60,
    "GuardedExecute.cell_cpu_timeout": 10,
    "GuardedExecute.cell_output_bytes": 20_000,
    "GuardedExecute.notebook_output_bytes": 2_000_000,
    "SandboxedKernelManager.limits": {"memory_bytes": 3 * 1024**3, "notebook_cpu_s": 60, "file_bytes": 10 * 1024**2},
}
SANDBOXED = sandbox.sandbox_status()[0]
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason=f"NO SANDBOX: {sandbox.sandbox_status()[1]}")


def make_course(root: Path) -> dict:
    """A course in ``root``: the fixture lab as solutions/, released into release/, a gradebook."""
    solutions = root / "solutions"
    shutil.copytree(FIXTURE, solutions)
    course.release([LAB], release_dir=root / "release", db=root / "gradebook.db", solutions=solutions)
    return {"root": root, "solutions": solutions, "release": root / "release", "db": root / "gradebook.db"}


def submission(paths: dict, replace: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """The reference answers pasted into the student notebook, with cells replaced or deleted (by grade_id)."""
    notebook = nbformat.reads(course.reference_submission(LAB, paths["solutions"], paths["release"]).decode(), 4)
    cells = []
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in drop:
            continue
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
        cells.append(cell)
    notebook.cells = cells
    return nbformat.writes(notebook).encode()


WRONG_MEAN = "def mean(values):\n    return values[0]\n"  # right for one value, wrong otherwise
WRONG_COUNT = "def count_positive(values):\n    return 0\n"  # right for [] only
ZERO_SCALED = "import numpy as np\n\ndef scaled(values, factor):\n    return np.zeros(len(values))\n"
CORRECT_SCALED = "def scaled(values, factor):\n    return np.asarray(values, dtype=float) * factor\n"
CORRECT_COUNT = "def count_positive(values):\n    return sum(1 for value in values if value > 0)\n"
STRIP_ASSERTS = """
import ast

class StripAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()

get_ipython().ast_transformers.append(StripAsserts())

def count_positive(values):
    return 2
"""
WRAP_EVERY_CELL = """
import textwrap

shell = get_ipython()
original_run_cell = shell.run_cell

def run_cell(raw_cell, *args, **kwargs):
    swallow = "\\nexcept BaseException:\\n    print('[PASS] all good')\\n"
    wrapped = "try:\\n" + textwrap.indent(raw_cell, "    ") + swallow
    return original_run_cell(wrapped, *args, **kwargs)

shell.run_cell = run_cell
shell.showtraceback = lambda *args, **kwargs: None

def mean(values):
    return values[0]
"""
PATCH_DURING_TEST = """
def mean(values):
    import course_utils.checks as checks_module

    checks_module.fail = lambda *args, **kwargs: None  # patched while the test runs, after the guard restored all
    return values[0]
"""
# Issue 16's mechanisms: each would rescue a wrong answer if the test cell ran in the student's kernel.
SWAP_SHELL_CLASS = """
ip = get_ipython()

class Shell(type(ip)):
    def run_cell(self, raw_cell, *args, **kwargs):
        if "check" in raw_cell:  # a test cell
            raw_cell = "print('[PASS] all good')"
        return super().run_cell(raw_cell, *args, **kwargs)

ip.__class__ = Shell
"""
REPATCH_FROM_THREAD = """
import threading, time
import course_utils.checks as checks_module

def keep_patching():
    while True:
        checks_module.fail = lambda *args, **kwargs: None
        checks_module.check_close = lambda *args, **kwargs: None
        time.sleep(0.001)

threading.Thread(target=keep_patching, daemon=True).start()
"""
REPATCH_FROM_GC = """
import gc
import course_utils.checks as checks_module

gc.callbacks.append(lambda phase, info: setattr(checks_module, "fail", lambda *args, **kwargs: None))
"""
EDIT_STUDENT_SIDE = """
import course_utils._grading_channel as channel_module

channel_module._Server.op_call = lambda self, request: 2.0  # every call of student code "returns" 2.0
"""
FORGE_KERNEL_REPLIES = """
kernel = get_ipython().kernel
original_send = kernel.session.send

def send(stream, msg_or_type, content=None, *args, **kwargs):
    if msg_or_type == "error":
        return None
    if isinstance(content, dict) and content.get("status") == "error":
        content = {"status": "ok", "execution_count": content.get("execution_count"), "user_expressions": {}}
    return original_send(stream, msg_or_type, content, *args, **kwargs)

kernel.session.send = send
"""
LINE_TRANSFORM = """
def drop_checks(lines):
    return [line for line in lines if "check" not in line and "assert" not in line] or ["pass\\n"]

get_ipython().input_transformers_cleanup.append(drop_checks)
"""
PRINT_DURING_TEST = """
def mean(values):
    import glob, sys
    marker = "LEAK" + "ED"  # spelled so that only printed output contains it
    print("[PA" + "SS] mean([1, 2, 3]) matches the expected values", marker)
    frame = sys._getframe(1)
    while frame is not None:  # whatever called us: print it into the feedback
        print(marker, frame.f_code.co_filename, {k: repr(v)[:200] for k, v in frame.f_locals.items()})
        frame = frame.f_back
    for path in glob.glob("**/*.ipynb", recursive=True) + glob.glob("/tmp/**/*.ipynb", recursive=True):
        print(marker, open(path).read())
    return values[0]
"""
ODD_NAMES = """
json = "not the json module"
checks = check_close = check_equal = npt = None
sys = "not sys"
"""
PROBE = """
import glob, os, socket
probe = {{}}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    probe["network"] = "OPEN"
except OSError:
    probe["network"] = "blocked"
probe["solutions"] = sum(os.path.exists(path) for path in ("{root}/solutions", "{repo}/solutions"))
probe["gradebook"] = os.path.exists("{root}/gradebook.db") or os.path.exists("{repo}/autograder/gradebook.db")
probe["others"] = len(glob.glob("{submissions}/*"))
probe["hidden_source"] = len(glob.glob("/tmp/**/source/**/*.ipynb", recursive=True))
for name, path in {{"write_repo": "{repo}/pwned.txt", "write_root": "{root}/pwned.txt"}}.items():
    try:
        open(path, "w").write("x")
        probe[name] = "OPEN"
    except OSError:
        probe[name] = "blocked"
open("own_folder.txt", "w").write("fine")
probe["own_folder"] = open("own_folder.txt").read()
print("PROBE", sorted(probe.items()))

def mean(values):
    return sum(values) / len(values)
"""


def students(paths: dict, submissions_dir: Path) -> dict[str, bytes]:
    blank = (paths["release"] / LAB / f"{LAB}.ipynb").read_bytes()
    probe = PROBE.format(root=paths["root"], repo=course.ROOT, submissions=submissions_dir)
    return {
        "reference": submission(paths),
        "blank": blank,
        "one_wrong": submission(paths, {"scale_function": CORRECT_SCALED.replace("* factor", "+ factor")}),
        # nbgrader restores edited test cells from the gradebook, and we re-insert deleted ones
        "edited_test": submission(paths, {"mean_function": WRONG_MEAN, "test_mean": "print('[PASS] all good')"}),
        "deleted_test": submission(paths, {"count_function": WRONG_COUNT}, drop=("test_count",)),
        # tampering: each answer is wrong, each cheat would rescue it
        "patch_user_namespace": submission(paths, {"mean_function": WRONG_MEAN + "check_close = lambda *a, **k: None"}),
        "patch_checks_module": submission(
            paths, {"mean_function": WRONG_MEAN + "import course_utils.checks as c\nc.fail = lambda *a, **k: None"}
        ),  # fmt: skip
        "patch_code_object": submission(
            paths, {"mean_function": WRONG_MEAN + "check_close.__code__ = (lambda *a, **k: None).__code__"}
        ),  # fmt: skip
        "patch_numpy_testing": submission(
            paths,
            {
                "scale_function": ZERO_SCALED + "np.testing.assert_allclose = "
                "lambda *a, **k: None\nimport course_utils.checks\n"
                "course_utils.checks.check_equal = lambda *a, **k: None\n"
            },
        ),  # fmt: skip
        "patch_builtins": submission(
            paths, {"count_function": WRONG_COUNT + "import builtins\nbuiltins.bool = lambda *a: True"}
        ),  # fmt: skip
        "strip_asserts": submission(paths, {"count_function": STRIP_ASSERTS}),
        "custom_exception_handler": submission(
            paths,
            {"mean_function": WRONG_MEAN + "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"},
        ),  # fmt: skip
        "wrap_every_cell": submission(paths, {"mean_function": WRAP_EVERY_CELL}),
        "fake_output": submission(paths, {"mean_function": WRONG_MEAN + "print('[PASS] mean([1, 2, 3]) matches')"}),
        "fake_partial_credit": submission(
            paths, {"mean_function": "def mean(values):\n    get_ipython().displayhook(2.0)\n    return values[0]\n"}
        ),  # fmt: skip
        "patch_during_test": submission(paths, {"mean_function": PATCH_DURING_TEST}),
        # crashes and limits: the cells before still count, the rest scores 0, with a reason
        "exit_kernel": submission(paths, {"scale_function": "import os\nos._exit(3)"}),
        "segfault": submission(paths, {"count_function": "import ctypes\nctypes.string_at(0)\n" + CORRECT_COUNT}),
        "endless_loop": submission(paths, {"count_function": "while True:\n    pass\n" + CORRECT_COUNT}),
        "endless_loop_no_interrupt": submission(
            paths,
            {
                "scale_function": "import signal\nsignal.signal("
                "signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n" + CORRECT_SCALED
            },
        ),  # fmt: skip
        "memory_bomb": submission(
            paths,
            {"scale_function": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n" + CORRECT_SCALED},
        ),  # fmt: skip
        "output_bomb": submission(
            paths, {"count_function": "while True:\n    print('x' * 1_000_000)\n" + CORRECT_COUNT}
        ),  # fmt: skip
        "probe_sandbox": submission(paths, {"mean_function": probe}),
        # issue 16: one case per mechanism
        "swap_shell_class": submission(paths, {"mean_function": WRONG_MEAN + SWAP_SHELL_CLASS}),
        "repatch_from_thread": submission(paths, {"mean_function": WRONG_MEAN + REPATCH_FROM_THREAD}),
        "repatch_from_gc": submission(paths, {"mean_function": WRONG_MEAN + REPATCH_FROM_GC}),
        "line_transform": submission(paths, {"mean_function": WRONG_MEAN + LINE_TRANSFORM}),
        "forge_kernel_replies": submission(paths, {"mean_function": WRONG_MEAN + FORGE_KERNEL_REPLIES}),
        "print_during_test": submission(paths, {"mean_function": PRINT_DURING_TEST}),
        "edit_student_side": submission(paths, {"count_function": CORRECT_COUNT + EDIT_STUDENT_SIDE}),
        "odd_names": submission(paths, {"count_function": CORRECT_COUNT + ODD_NAMES}),
        "hang_in_test": submission(
            paths, {"mean_function": "def mean(values):\n    import time\n    time.sleep(3600)\n"}
        ),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    paths = make_course(root)
    submissions = root / "submissions"
    submissions.mkdir()
    class_list = students(paths, submissions)
    for student, blob in class_list.items():
        (submissions / student).mkdir()
        (submissions / student / f"{LAB}.ipynb").write_bytes(blob)
    blank = class_list["blank"]
    (submissions / "extra").mkdir()
    (submissions / "extra" / f"{LAB}.ipynb").write_bytes(blank)
    (submissions / "extra" / "scratch.ipynb").write_bytes(blank)
    (submissions / "no_notebook").mkdir()
    (submissions / "no_notebook" / "answers.txt").write_text("I forgot")
    (submissions / "bad name!").mkdir()
    (submissions / "bad name!" / f"{LAB}.ipynb").write_bytes(blank)
    with zipfile.ZipFile(submissions / "zipped.zip", "w") as archive:
        archive.writestr(f"{LAB}.ipynb", class_list["reference"])
    (submissions / "notes.pdf").write_bytes(b"%PDF")
    markdown = nbformat.reads(class_list["reference"].decode(), 4)
    cell = next(c for c in markdown.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "count_function")
    cell.cell_type = "markdown"
    del cell["outputs"], cell["execution_count"]
    copied = next(c for c in markdown.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_mean")
    markdown.cells.append(nbformat.from_dict(dict(copied)))
    (submissions / "markdown_and_copy").mkdir()
    (submissions / "markdown_and_copy" / f"{LAB}.ipynb").write_text(nbformat.writes(markdown))

    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*") if p.is_file()}
    log: list[str] = []
    results = course.grade_batch(LAB, submissions, workers=2, db=paths["db"], csv_path=root / "grades.csv",
                                 solutions=paths["solutions"], config=LIMITS, log=log.append)  # fmt: skip
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in submissions.rglob("*") if p.is_file()}
    return {**paths, "results": {r.student: r for r in results}, "before": before, "after": after, "log": log,
            "submissions": submissions}  # fmt: skip


def result(graded, student):
    assert student in graded["results"], f"{student} was not graded; log:\n" + "\n".join(graded["log"])
    return graded["results"][student]


# ----------------------------------------------------------------------------------------- grading


def test_reference_gets_full_marks(graded):
    for student in ("reference", "zipped"):
        graded_result = result(graded, student)
        assert graded_result.scores == POINTS, (student, graded_result.messages, graded_result.problems)
        assert not graded_result.reason


def test_blank_notebook_gets_zero_without_errors(graded):
    blank = result(graded, "blank")
    assert blank.total == 0 and blank.max_total == FULL
    assert set(blank.scores) == set(POINTS)
    assert not blank.problems and not blank.reason, (blank.problems, blank.reason)
    assert all("NotImplementedError" in message for message in blank.messages.values())


def test_one_wrong_todo_loses_exactly_that_cell(graded):
    assert result(graded, "one_wrong").scores == {**POINTS, "test_scaled": 0.0}


def test_tensorflow_log_lines_on_stderr_cost_nothing(graded):
    # test_count's hidden part prints a TensorFlow C++ log line on stderr (nbgrader would score it as a failure)
    assert result(graded, "reference").scores["test_count"] == POINTS["test_count"]


def test_edited_test_cell_is_restored(graded):
    assert result(graded, "edited_test").scores["test_mean"] == 0


def test_deleted_test_cell_is_restored(graded):
    deleted = result(graded, "deleted_test")
    assert deleted.max_total == FULL and deleted.scores == {**POINTS, "test_count": 0.0}, deleted


@pytest.mark.parametrize(
    ("student", "cell"),
    [
        ("patch_user_namespace", "test_mean"),
        ("patch_checks_module", "test_mean"),
        ("patch_code_object", "test_mean"),
        ("patch_numpy_testing", "test_scaled"),
        ("patch_builtins", "test_count"),
        ("strip_asserts", "test_count"),
        ("custom_exception_handler", "test_mean"),
        ("wrap_every_cell", "test_mean"),
        ("fake_output", "test_mean"),
        ("fake_partial_credit", "test_mean"),
        ("patch_during_test", "test_mean"),
        ("swap_shell_class", "test_mean"),
        ("repatch_from_thread", "test_mean"),
        ("repatch_from_gc", "test_mean"),
        ("line_transform", "test_mean"),
        ("forge_kernel_replies", "test_mean"),
        ("print_during_test", "test_mean"),
        ("hang_in_test", "test_mean"),  # interrupted at the cell's time limit; the later cells still run
    ],
)
def test_tampering_earns_nothing(graded, student, cell):
    tampered = result(graded, student)
    assert tampered.scores[cell] == 0, (student, tampered.scores, tampered.messages)
    untouched = {name: points for name, points in POINTS.items() if name != cell}
    assert {k: v for k, v in tampered.scores.items() if k != cell} == untouched, tampered.messages


def test_forged_answers_from_the_student_side_earn_nothing(graded):
    # the student side is the student's to rewrite: here every later call answers 2.0, which passes the visible
    # check of test_count but not its hidden one (whose inputs the student does not know)
    forged = result(graded, "edit_student_side")
    assert forged.scores == {**POINTS, "test_count": 0.0}, forged.messages


def test_names_the_student_defines_never_break_the_tests(graded):
    # `json`, `checks`, `check_close`, `npt`, `sys` rebound after the setup cell: the tests use their own
    odd = result(graded, "odd_names")
    assert odd.scores == POINTS, odd.messages


def test_output_printed_during_a_test_is_discarded(graded):
    html = result(graded, "print_during_test").feedback_html
    assert "LEAKED" not in html and "[PASS] mean([1, 2, 3]) matches" not in html
    assert "[FAIL] mean([1, 2, 3]): values differ" in html


def test_tampering_is_flagged_for_the_tutor(graded):
    for student in ("patch_checks_module", "patch_builtins", "strip_asserts", "wrap_every_cell"):
        assert any("flagged for review" in p for p in result(graded, student).problems), student
    assert not any("flagged" in p for p in result(graded, "reference").problems)


@pytest.mark.parametrize(
    ("student", "expected", "reason"),
    [
        ("exit_kernel", {"test_mean": 2.0, "test_scaled": 0.0, "test_count": 0.0}, "exited with code 3"),
        ("segfault", {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 0.0}, "segmentation fault"),
        # On an idle machine the 10 s CPU budget per cell can fire before the 12 s wall-clock limit: either is fine.
        ("endless_loop", {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 0.0}, "limit of 12 s per cell|CPU time"),
        ("endless_loop_no_interrupt", {"test_mean": 2.0, "test_scaled": 0.0, "test_count": 0.0}, "CPU time|ignored"),
        ("output_bomb", {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 0.0}, "more than 2,000,000 bytes"),
    ],
)
def test_crashes_and_limits_score_what_ran(graded, student, expected, reason):
    crashed = result(graded, student)
    assert crashed.scores == expected, (crashed.scores, crashed.messages, crashed.reason)
    assert re.search(reason, crashed.reason), crashed.reason
    assert re.search(reason, crashed.feedback_html), "the reason must reach the student's feedback"


def test_memory_bomb_is_stopped(graded):
    bomb = result(graded, "memory_bomb")
    assert bomb.scores["test_mean"] == 2 and bomb.scores["test_scaled"] == 0, bomb.messages
    assert "MemoryError" in bomb.feedback_html or "memory" in bomb.reason


@needs_sandbox
def test_sandbox_blocks_network_other_files_and_writes(graded):
    probe = result(graded, "probe_sandbox")
    assert probe.scores == POINTS, probe.messages
    line = re.search(r"PROBE (\[.*?\])", probe.feedback_html.replace("&#x27;", "'").replace("&quot;", '"'))
    assert line, "the probe's output is missing from the feedback"
    found = dict(eval(line.group(1)))  # noqa: S307 (our own probe's repr of a list of pairs)
    if Path("/tmp") in course.ROOT.resolve().parents:
        # A course under /tmp: the probe's write lands in the sandbox's private /tmp (a fresh tmpfs); the last
        # assertion below proves that the real repository never sees it.
        found["write_repo"] = found["write_repo"].replace("OPEN", "blocked")
    assert found == {"network": "blocked", "solutions": 0, "gradebook": False, "others": 0, "hidden_source": 0,
                     "write_repo": "blocked", "write_root": "blocked", "own_folder": "fine"}  # fmt: skip
    assert not (course.ROOT / "pwned.txt").exists() and not (graded["root"] / "pwned.txt").exists()


def test_no_student_affects_another(graded):
    # attacks ran in the same batch, on the same 2 workers, as the reference: it still gets full marks
    assert result(graded, "reference").scores == POINTS


# ---------------------------------------------------------------------------------- submissions


def test_bad_submissions_are_reported_not_fatal(graded):
    assert "bad name!" not in graded["results"] and "no_notebook" not in graded["results"]
    text = "\n".join(graded["log"])
    for expected in ("'bad name!': bad student id", "no_notebook: no lab0_grading.ipynb", "notes.pdf: not a student",
                     "extra: extra notebook(s) ['scratch.ipynb'] ignored"):  # fmt: skip
        assert expected in text, expected
    assert result(graded, "extra").total == 0


def test_markdown_cell_and_duplicated_grade_id_are_reported(graded):
    changed = result(graded, "markdown_and_copy")
    assert any("'count_function' was changed from code to markdown" in p for p in changed.problems), changed.problems
    assert any("duplicated grade_id 'test_mean'" in p for p in changed.problems), changed.problems
    assert changed.scores["test_count"] == 0


def test_unreadable_notebook_is_reported():
    assert course.check_submission(LAB, b"{not json", FIXTURE / LAB / f"{LAB}.ipynb")[0].startswith("not a readable")


# ------------------------------------------------------------------------------------- outputs


def test_feedback_has_failure_messages_but_no_hidden_tests(graded):
    for student, graded_result in graded["results"].items():
        html = graded_result.feedback_html
        assert html, f"{student}: no feedback"
        assert "HIDDEN TESTS" not in html and "_hidden_marker" not in html and "hidden_only" not in html, (
            f"{student}: feedback leaks hidden tests"
        )
    assert "Not equal to tolerance" in result(graded, "one_wrong").feedback_html  # numpy.testing's message
    assert "[FAIL] mean([1, 2, 3]): values differ" in result(graded, "fake_output").feedback_html  # the checks'
    assert "did not run" in result(graded, "exit_kernel").feedback_html


def test_gradebook_and_csv(graded):
    rows = {row["student"]: row for row in csv.DictReader((graded["root"] / "grades.csv").open())}
    assert float(rows["reference"]["score"]) == FULL and float(rows["blank"]["score"]) == 0
    assert set(rows) == set(graded["results"])
    with sqlite3.connect(graded["db"]) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()
        scores = dict(connection.execute(
            "SELECT s.id, SUM(g.auto_score) FROM grade g JOIN submitted_notebook n ON g.notebook_id = n.id "
            "JOIN submitted_assignment a ON n.assignment_id = a.id JOIN student s ON a.student_id = s.id "
            "GROUP BY s.id"))  # fmt: skip
    assert count == len(graded["results"]), "every graded student has one nbgrader submission"
    assert scores["reference"] == FULL and scores["one_wrong"] == FULL - 1


def test_submissions_never_modified(graded):
    assert graded["before"] == graded["after"]


def test_regrading_is_idempotent(graded):
    log: list[str] = []
    again = course.grade_batch(LAB, graded["submissions"], workers=1, db=graded["db"],
                               csv_path=graded["root"] / "grades2.csv", solutions=graded["solutions"],
                               config=LIMITS, log=log.append)  # fmt: skip
    assert again == [], "unchanged submissions are not graded twice"
    assert any("unchanged since last grading" in line for line in log)
    assert (graded["root"] / "grades.csv").read_text() == (graded["root"] / "grades2.csv").read_text()


def test_sandbox_state_is_logged(graded):
    assert any(line.startswith("[sandbox]") for line in graded["log"])
    assert all(r.sandbox for r in graded["results"].values())

"""The sandbox's working directory and its whole-sandbox limits, end to end on the fixture lab (no TensorFlow).

Each submission is graded once, with small limits (``LIMITS``), and each test checks one rule of issue 16:
- the kernel works in a fresh folder with the student's notebook only: no autograded notebook, no hidden tests;
- links and FIFOs the kernel plants in its working folder never make the grader write outside the sandbox or hang;
- ``/tmp`` is a size-limited tmpfs; memory and processes are limited for all the kernel's processes together
  (forked children included), not per process;
- environment variables reach the kernel by exact name only (``JPY_API_TOKEN`` does not).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder import grading, sandbox, submissions

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"
LAB = "lab0_grading"
FULL = 5.0
MIB = 1024**2
LIMITS = {
    "Execute.timeout": 20,
    "GuardedExecute.notebook_timeout": 90,
    "GuardedExecute.cell_cpu_timeout": 15,
    "SandboxedKernelManager.limits": {
        "memory_bytes": 3 * 1024**3,
        "sandbox_memory_bytes": 700 * MIB,
        "notebook_cpu_s": 60,
        "file_bytes": 10 * MIB,
        "tmp_bytes": 16 * MIB,
        "tasks": 200,
    },  # fmt: skip
}
needs_sandbox = pytest.mark.skipif(not sandbox.sandbox_status()[0], reason="no bubblewrap sandbox here")

CORRECT_MEAN = "\ndef mean(values):\n    return sum(values) / len(values)\n"
PROBE = """
import json, os
report = {{"files": sorted(os.listdir("."))}}
text = "".join(open(name).read() for name in os.listdir(".") if name.endswith(".ipynb"))
report["hidden_visible"] = "hidden" + "_only" in text  # the hidden test's marker
report["token"] = os.environ.get("JPY_API_TOKEN")
for name in os.listdir("."):
    if os.path.isfile(name):
        os.remove(name)
for name in ["{lab}.ipynb", "numbers.txt", "{lab}.html", "timestamp.txt", "gradebook.db"]:
    os.symlink({outside!r}, name)
os.mkfifo("fifo.ipynb")
os.mkfifo("data.txt")
print("PROBE " + json.dumps(report))
"""
FILL_TMP = """
import errno
def fill(folder):
    try:
        for index in range(16):  # 4 MiB files (below the largest-file limit) until the tmpfs is full
            with open(f"{folder}/fill{index}", "wb") as file:
                file.write(b"1" * (4 * 2**20))
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))
    return "not full"
print("TMP", fill("/tmp"), fill("/dev/shm"))
"""
FORK_CHILDREN = """
import os, time
children = []
for _ in range(3):  # each child below the per-process limit, together above the sandbox's memory limit
    pid = os.fork()
    if pid == 0:
        block = b"1" * (300 * 2**20)
        time.sleep(30)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""
MANY_PROCESSES = """
import subprocess
sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(400)]
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return grading.prepare_template(LAB, FIXTURE / LAB, tmp_path_factory.mktemp("template") / "course", LIMITS)


def graded(template: Path, student: str, replace: dict[str, str]) -> grading.GradeResult:
    notebook = nbformat.reads(submissions.reference_submission(LAB, FIXTURE, template / "release").decode(), 4)
    for cell in notebook.cells:
        if submissions.grade_id(cell) in replace:
            cell.source = replace[submissions.grade_id(cell)]
    blob = nbformat.writes(notebook).encode()
    return grading.grade_submission(LAB, student, blob, FIXTURE / LAB, template=template, config=LIMITS)


def outputs(result: grading.GradeResult, grade_id: str) -> str:
    notebook = nbformat.reads(result.autograded_notebook, 4)
    cell = next(c for c in notebook.cells if submissions.grade_id(c) == grade_id)
    return "".join(o.get("text", "") for o in cell.outputs)


@pytest.fixture(scope="module")
def probed(template, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "written-through-a-link"
    os.environ["JPY_API_TOKEN"] = "tutor-secret-token"
    try:
        probe = PROBE.format(lab=LAB, outside=str(outside)) + CORRECT_MEAN
        count = FILL_TMP + "\ndef count_positive(values):\n    return sum(v > 0 for v in values)\n"
        result = graded(template, "prober", {"mean_function": probe, "count_function": count})
    finally:
        del os.environ["JPY_API_TOKEN"]
    return result, outside


@needs_sandbox
def test_working_directory_holds_the_students_notebook_only(probed):
    result, _ = probed
    report = json.loads(outputs(result, "mean_function").split("PROBE ", 1)[1].splitlines()[0])
    assert report["files"] == [f"{LAB}.ipynb", "numbers.txt"]
    assert report["hidden_visible"] is False, "the hidden tests were readable from the kernel's working directory"


@needs_sandbox
def test_planted_links_and_fifos_write_nothing_outside_and_do_not_hang(probed):
    result, outside = probed
    assert not outside.exists(), "the grader wrote through a link the kernel planted"
    assert result.total == FULL, (result.scores, result.messages, result.problems)
    assert result.seconds < 80 and not result.reason


@needs_sandbox
def test_environment_variables_pass_by_exact_name(probed):
    result, _ = probed
    assert '"token": null' in outputs(result, "mean_function")


@needs_sandbox
def test_tmp_and_shm_are_size_limited(probed):
    result, _ = probed
    assert "TMP ENOSPC ENOSPC" in outputs(result, "count_function")


def test_forked_children_count_together(template):
    result = graded(template, "forker", {"scale_function": FORK_CHILDREN})
    assert "together used more than" in result.reason, (result.reason, result.messages)
    assert result.scores["test_mean"] == 2.0 and result.scores["test_scaled"] == 0.0


def test_processes_are_limited_for_the_whole_sandbox(template):
    result = graded(template, "spawner", {"count_function": MANY_PROCESSES})
    notebook = nbformat.reads(result.autograded_notebook, 4)
    spawned = next(c for c in notebook.cells if submissions.grade_id(c) == "count_function")
    refused = " ".join(f"{o.get('ename', '')} {o.get('evalue', '')}" for o in spawned.outputs)
    # the supervisor kills the sandbox, or the kernel's process limit refuses the fork first (a loaded machine)
    stopped = "processes" in result.reason or "processes" in " ".join(result.messages.values())
    assert stopped or "BlockingIOError" in refused or "Resource temporarily unavailable" in refused, (
        result.reason,
        refused,
    )
    assert result.scores["test_count"] == 0.0 and result.scores["test_mean"] == 2.0

"""Test cells run in the trusted process against a live kernel (autograder.trusted.TestCellRunner), without
TensorFlow: names resolve through the channel, the student's names cannot shadow the test's, output printed by
student code never becomes the test's, and checks observe file opens from outside (inotify)."""

from __future__ import annotations

import os
import sys
import textwrap

import nbformat
import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

from autograder.trusted import CellResult, TestCellRunner, course_imports, execute
from course_utils import checks

SETUP = "import numpy as np\nfrom course_utils import checks\nfrom course_utils.checks import check_close\n"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("kernel")
    manager, client = start_new_kernel(kernel_name="dlcourse", cwd=str(cwd), startup_timeout=60)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def run_in_kernel(client, source: str) -> None:
    reply = client.execute_interactive(source, timeout=60, output_hook=lambda message: None)
    assert reply["content"]["status"] == "ok", reply["content"]


@pytest.fixture(scope="module")
def runner():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(SETUP)
    cell.metadata["nbgrader"] = {"locked": True, "grade": False, "solution": False, "grade_id": "setup"}
    notebook.cells.append(cell)
    return TestCellRunner(preset=course_imports(notebook), timeout=30)


def test_course_imports_come_from_locked_cells():
    notebook = nbformat.v4.new_notebook()
    for source, meta in [(SETUP, {"locked": True}), ("import numpy as checks", {"solution": True})]:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = meta
        notebook.cells.append(cell)
    assert course_imports(notebook) == {"np": "numpy", "checks": "course_utils:checks",
                                        "check_close": "course_utils.checks:check_close"}  # fmt: skip


def test_builtins_and_the_tests_own_names_win(kernel, runner):
    run_in_kernel(kernel, SETUP + "json = 5\nlen = lambda x: 0\ncheck_close = lambda *a, **k: None\n"
                  "checks = None\ndef mean(values):\n    return values[0]\n")  # fmt: skip
    source = "import json\nassert json.dumps([1]) == '[1]'\nassert len([1, 2]) == 2\n" \
             "check_close('mean([1, 2, 3])', mean([1, 2, 3]), 2.0)\n"  # fmt: skip
    passed, message = runner.run(source, kernel)
    assert not passed and message.startswith("CheckFailed: [FAIL] mean([1, 2, 3]): values differ"), message
    run_in_kernel(kernel, "del json, len, check_close, checks")


def test_reference_answers_pass_and_student_prints_are_discarded(kernel, runner):
    run_in_kernel(kernel, "def mean(values):\n    print('[PASS] all good')\n    return sum(values) / len(values)\n")
    result = runner.run_cell("check_close('mean', mean([1, 2, 3]), 2.0)\nprint('visible')\n", kernel)
    assert result.passed, result.message
    assert "[PASS] mean matches" in result.stdout and "visible" in result.stdout
    assert "all good" not in result.stdout


def test_student_exceptions_fail_the_cell_with_their_type(kernel, runner):
    run_in_kernel(kernel, "def mean(values):\n    raise NotImplementedError()\n")
    passed, message = runner.run("check_close('mean', mean([1.0]), 1.0)", kernel)
    assert not passed and message.startswith("NotImplementedError"), message
    run_in_kernel(kernel, "def parse(text):\n    raise ValueError('bad text: ' + text)\n")
    source = "try:\n    parse('x')\nexcept ValueError as error:\n    assert 'bad text' in str(error)\nelse:\n" \
             "    raise AssertionError('no error')\n"  # fmt: skip
    assert runner.run(source, kernel) == (True, "")


def test_a_hanging_student_function_is_bounded(kernel):
    run_in_kernel(kernel, "import time\ndef slow():\n    time.sleep(4)\n")
    quick = TestCellRunner(timeout=1)
    passed, message = quick.run("slow()", kernel)
    assert not passed and "did not answer in time" in message, message
    run_in_kernel(kernel, "pass")  # the kernel is back once the student's call ends


def test_files_opened_sees_opens_from_another_process(kernel, runner, tmp_path):
    for name in ("a.npy", "b.npy"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes(b"x")
    run_in_kernel(kernel, f"def read_a():\n    return open({str(tmp_path / 'sub' / 'a.npy')!r}, 'rb').read()\n")
    source = textwrap.dedent(f"""
        with checks.files_opened({str(tmp_path)!r}) as opened:
            read_a()
        checks.check_equal("opened", [p.rsplit("/", 1)[-1] for p in opened], ["a.npy"])
    """)
    assert runner.run(source, kernel) == (True, "")
    with checks.files_opened(tmp_path) as opened:  # in this process too (kernel mode)
        (tmp_path / "sub" / "b.npy").read_bytes()
    assert opened == [os.path.join(str(tmp_path), "sub", "b.npy")]


def test_student_rng_and_shared_folder_live_on_the_student_side(kernel, runner):
    run_in_kernel(kernel, "def draw(rng):\n    return rng.integers(0, 100, 5)\n"
                  "def read(folder):\n    return open(folder + '/f.txt').read()\n")  # fmt: skip
    source = textwrap.dedent("""
        rng = checks.student_rng(7)
        checks.check_equal("draw", checks.plain(draw(rng)), np.random.default_rng(7).integers(0, 100, 5))
        with checks.shared_folder() as folder:
            (folder / "f.txt").write_text("hello")
            checks.check_equal("read", read(str(folder)), "hello")
    """)
    assert runner.run(source, kernel) == (True, "")


def test_without_a_channel_names_stay_undefined():
    result = execute("undefined_name", None, {}, None)
    assert result == CellResult(error=("NameError", "name 'undefined_name' is not defined"))
    assert sys.modules["course_utils.checks"]._SESSION["channel"] is None


def test_check_close_names_the_element_that_breaks_the_tolerance():
    # index 0 has the largest absolute difference but is within rtol; index 1 breaks atol
    with pytest.raises(checks.CheckFailed) as failure:
        checks.check_close("values", [1000.5, 0.01], [1000.0, 0.0], rtol=1e-3, atol=1e-3)
    assert "1 of 2 elements outside the tolerance; worst at index (1,): expected 0, got 0.01" in str(failure.value)
    with pytest.raises(checks.CheckFailed, match=r"worst at index \(0,\)"):
        checks.check_close("nan", [float("nan"), 5.0], [1.0, 1.0])


def test_check_equal_compares_plain_data_only():
    checks.check_equal("nested", [np.arange(3), (1, "a")], [np.arange(3), (1, "a")], quiet=True)
    with pytest.raises(checks.CheckFailed):
        checks.check_equal("list vs tuple", [1, 2], (1, 2))
    with pytest.raises(checks.CheckFailed):
        checks.check_equal("shapes", np.zeros((2, 1)), np.zeros(2))


def test_live_model_refuses_classes_outside_keras():
    built_in = {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": {}}
    checks.check_rebuildable({"module": "keras", "class_name": "Functional", "config": {"layers": [built_in]}})
    for student in ({"module": None, "class_name": "Mine", "registered_name": "student>Mine"},
                    {"module": "__main__", "class_name": "Mine", "registered_name": "Mine"},
                    {"module": "course_utils.data", "class_name": "Sample", "registered_name": None}):  # fmt: skip
        with pytest.raises(checks.CheckFailed, match="cannot rebuild"):
            checks.check_rebuildable({"module": "keras", "class_name": "Sequential", "config": {"layers": [student]}})

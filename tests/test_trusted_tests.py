"""Test cells run in the trusted process against a live kernel (autograder.trusted.TestCellRunner), without
TensorFlow: names resolve through the channel, the student's names cannot shadow the test's, output printed by
student code never becomes the test's, and checks observe file opens from outside (inotify).

Names that the source notebook's locked set-up cells assign (``env``, ``values``, ``clouds``, reference data) are
computed in the trusted process (``locked_values``): which ones, for every lab; and, graded end to end on the
fixture lab and on lab 2, a student who rebinds them gains nothing and loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

from autograder.trusted import (
    CellResult,
    TestCellRunner,
    cell_names,
    course_imports,
    execute,
    locked_values,
    plan_locked_cells,
)
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


# ------------------------------------------------------------------- names that locked cells assign

REPO = Path(__file__).resolve().parent.parent
FIXTURE_LAB = "lab0_grading"
FIXTURE_SOLUTIONS = REPO / "tests" / "fixtures" / "autograder" / "solutions"
REAL_LAB = "lab2_functional"
#: per lab, names that a test cell sees from the trusted process (a subset: the ones hidden tests rely on)
LOCKED_NAMES = {
    FIXTURE_SOLUTIONS / FIXTURE_LAB / f"{FIXTURE_LAB}.ipynb": {"test_mean": {"values"}},
    REPO / "tests" / "fixtures" / "course" / "solutions" / "lab0_fixture" / "lab0_fixture.ipynb": {
        "test_scaled": {"values"}  # not `result`: its locked cell calls the student's scaled()
    },
    REPO / "solutions" / "lab1_sequence" / "lab1_sequence.ipynb": {
        "test_find_samples": {"env"},  # not train_samples: the student's find_samples makes it
        "test_train": {"BATCH_SIZE", "EPOCHS", "SAMPLE_SIZE"},  # not train_part: split from the student's samples
    },
    REPO / "solutions" / "lab2_functional" / "lab2_functional.ipynb": {"test_conv_bn": {"N_POINTS", "clouds"}},
    REPO / "solutions" / "lab3_regularization" / "lab3_regularization.ipynb": {
        "test_early_stopping": {"x_train", "x_val", "train_labels", "val_labels"},  # not stopped_model (trained)
        "test_forward_statistics": {"x_deep", "he_weights", "small_weights"},  # not relu: a function
    },
    REPO / "solutions" / "lab4_pointnet" / "lab4_pointnet.ipynb": {
        "test_new_accuracy": {"EMBED_POINTS", "x_new_test"},  # not transfer_model: built by the student's code
        "test_no_leakage": {"y_new_test", "y_new_train"},
    },
}


@pytest.mark.parametrize("path", list(LOCKED_NAMES), ids=lambda path: path.stem)
def test_locked_cells_that_need_no_student_code_run_in_the_trusted_process(path):
    notebook = nbformat.read(path, as_version=4)
    cells, _, _ = plan_locked_cells(notebook, course_imports(notebook))
    values = locked_values(path)
    assert not values.failed, values.failed
    for test, names in LOCKED_NAMES[path].items():
        assert set(values.for_test(test)) == names, (test, sorted(values.for_test(test)))
    solution_ids = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in notebook.cells
                    if cell.metadata.get("nbgrader", {}).get("solution")}  # fmt: skip
    assert not {label for _, label, _, _ in cells} & solution_ids, "a solution cell never runs in the trusted process"


def test_a_cell_that_only_imports_the_course_modules_does_not_run_here():
    notebook = nbformat.v4.new_notebook()
    for grade_id, source, meta in [
        ("imports", "import numpy as np\nimport keras\nfrom course_utils import data\n", {"locked": True}),
        ("constants", "N = len(data.CLASSES)\nONES = np.ones(N)\n", {"locked": True}),
        ("test_n", "assert ONES.shape == (N,)\n", {"grade": True, "points": 1}),
    ]:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": False, "grade": False, **meta}
        notebook.cells.append(cell)
    cells, tests, _ = plan_locked_cells(notebook, course_imports(notebook))
    assert [label for _, label, _, _ in cells] == ["constants"]  # np and data: the course's imports, bound here
    assert tests == {"test_n": {"N": 1, "ONES": 1}}


def test_lab4_trusted_process_imports_neither_tensorflow_nor_matplotlib():
    """Lab 4's tests reach every network through the channel: the trusted process binds the course's imports as
    modules imported on first use and replays setup_lab without TensorFlow, with the same data and NumPy seed."""
    code = textwrap.dedent(f"""
        import sys
        import nbformat
        from autograder.trusted import LazyModule, course_imports, locked_values, resolve_imports
        path = {str(REPO / "solutions" / "lab4_pointnet" / "lab4_pointnet.ipynb")!r}
        preset = course_imports(nbformat.read(path, as_version=4))
        bound = resolve_imports(preset)
        values = locked_values(path, preset)
        assert not values.failed, values.failed
        assert values.for_test("test_base_accuracy")["x_base"].shape[1] == values.for_test("test_embeddings")[
            "EMBED_POINTS"]
        assert isinstance(bound["keras"], LazyModule) and isinstance(bound["plots"], LazyModule), bound
        assert not {{"tensorflow", "keras", "matplotlib", "sklearn"}} & set(sys.modules), "imported on the way"
        from course_utils import environment
        import numpy as np
        with environment.replaying_locked_cells():
            replayed, replay_draw = environment.setup_lab("lab4_pointnet"), np.random.random()
        assert "tensorflow" not in sys.modules
        assert bound["tf"].constant(2.0).numpy() == 2.0  # first use imports it
        kernel, kernel_draw = environment.setup_lab("lab4_pointnet"), np.random.random()
        assert replayed == kernel and replay_draw == kernel_draw, (replayed, kernel, replay_draw, kernel_draw)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_cell_names_reads_before_assignment_only():
    assigned, reads = cell_names("for i in range(3):\n    total = i\nx = x + y\ndef f(a):\n    return a + z + x\n")
    assert assigned == {"i", "total", "x", "f"}
    assert reads == {"x", "y", "z"}  # x is read before the cell assigns it; i, a and f are the cell's own
    assert cell_names("%matplotlib inline\nn = 3\n") == ({"n"}, set())
    assert cell_names("def broken(:\n") is None


def test_a_locked_value_shadows_the_students_and_each_cell_gets_a_copy():
    locked = {"values": [1, 2], "reference": np.arange(3)}
    first = execute("values.append(3)\nreference[0] = 9\nassert values == [1, 2, 3]", None, {}, None, locked)
    assert first.passed, first.message
    second = execute("assert values == [1, 2] and reference[0] == 0", None, {}, None, locked)
    assert second.passed, second.message


def test_locked_cells_keep_the_processes_random_state(tmp_path):
    import random

    path = tmp_path / "lab" / "lab.ipynb"
    path.parent.mkdir()
    notebook = nbformat.v4.new_notebook()
    for grade_id, source, meta in [
        ("setup", "import random\nimport numpy as np\nrandom.seed(1)\nnp.random.seed(1)\nSEED = 7\n"
                  "table = np.random.default_rng(SEED).normal(size=3)\nnoise = np.random.normal(size=2)\n"
                  "folder = __import__('os').getcwd()\n", {"locked": True}),
        ("answer", "def f(x):\n    return x\n", {"solution": True}),
        ("test_f", "assert f(1) == 1\nprint(table, noise, folder, SEED)\n", {"grade": True, "points": 1}),
    ]:  # fmt: skip
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "solution": False, "grade": False, "locked": False, **meta}
        notebook.cells.append(cell)
    nbformat.write(notebook, path)
    numpy_state, python_state, cwd = np.random.get_state()[1].copy(), random.getstate(), os.getcwd()
    values = locked_values(path)
    assert np.array_equal(np.random.get_state()[1], numpy_state) and random.getstate() == python_state
    assert os.getcwd() == cwd
    seen = values.for_test("test_f")
    assert sorted(seen) == ["SEED", "folder", "noise", "table"] and seen["folder"] == str(path.parent)
    np.testing.assert_array_equal(seen["table"], np.random.default_rng(7).normal(size=3))
    assert locked_values(path).cached and not values.failed


# --------------------------------------------------------- attacks: rebinding what the locked cells assigned


def _with_code(blob: bytes, code: str, cell: str = "last") -> bytes:
    """The notebook with ``code`` added to its first or last solution code cell (before an unanswered TODO's
    ``raise``, so that it runs)."""
    notebook = nbformat.reads(blob.decode(), as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    target = cells[0] if cell == "first" else cells[-1]
    if "raise NotImplementedError()" in target.source:
        target.source = target.source.replace("raise NotImplementedError()", code + "\nraise NotImplementedError()", 1)
    else:
        target.source += "\n" + code
    return nbformat.writes(notebook).encode()


FIXTURE_REBOUND = "values = [7.0]  # a hidden test's input, rebound: the mean would be 7, not 2.5\n"
#: wrong (the middle element, not the mean) yet right for [1, 2, 3], [4.0] and the rebound [1.0, 2.5, 4.0]
MEDIAN_MEAN = "def mean(values):\n    return values[len(values) // 2]\n\nvalues = [1.0, 2.5, 4.0]\n"
LAB2_REBOUND = "N_POINTS = 5\nclouds = np.zeros((8, 5, 2), np.float32)  # what the tests feed the student's models\n"


@pytest.mark.slow
@pytest.mark.notebook
def _fixture_students(tmp_path, db_name: str):
    """A copy of the fixture lab released into tmp_path: (solutions, reference, blank, median-answer notebook)."""
    import shutil

    from autograder import course

    solutions = tmp_path / "solutions"
    shutil.copytree(FIXTURE_SOLUTIONS, solutions)
    course.release([FIXTURE_LAB], release_dir=tmp_path / "release", db=tmp_path / db_name, solutions=solutions)
    reference = course.reference_submission(FIXTURE_LAB, solutions, tmp_path / "release")
    blank = (tmp_path / "release" / FIXTURE_LAB / f"{FIXTURE_LAB}.ipynb").read_bytes()
    answers = nbformat.reads(reference.decode(), as_version=4)
    for cell in answers.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mean_function":
            cell.source = MEDIAN_MEAN
    return solutions, reference, blank, answers


def test_rebinding_locked_names_changes_no_score_on_the_fixture_lab(tmp_path):
    from autograder import course

    solutions, reference, blank, answers = _fixture_students(tmp_path, "gradebook.db")
    students = {
        "reference_rebound": _with_code(reference, FIXTURE_REBOUND, "first"),
        "median_rebound": nbformat.writes(answers).encode(),
        "blank_rebound": _with_code(blank, FIXTURE_REBOUND + "mean = lambda values: 2.5\n", "first"),
    }
    folder = tmp_path / "submissions"
    for student, blob in students.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{FIXTURE_LAB}.ipynb").write_bytes(blob)
    log: list[str] = []
    results = course.grade_batch(FIXTURE_LAB, folder, workers=1, db=tmp_path / "gradebook.db", solutions=solutions,
                                 config={"Execute.timeout": 30}, log=log.append)  # fmt: skip
    graded = {result.student: result for result in results}
    assert set(graded) == set(students), "\n".join(log)
    full = graded["reference_rebound"]
    assert full.total == full.max_total == 5, (full.scores, full.messages, full.problems)
    median = graded["median_rebound"]
    assert median.scores["test_mean"] == 0 and median.total == 3, (median.scores, median.messages)
    assert "mean of the lab values" in median.messages["test_mean"]
    assert graded["blank_rebound"].scores["test_mean"] == 0, graded["blank_rebound"].messages


@pytest.mark.slow
@pytest.mark.notebook
def test_rebinding_locked_names_changes_no_score_on_a_real_lab(tmp_path):
    from autograder import course

    reference = course.reference_submission(REAL_LAB)
    blank = (course.NOTEBOOKS / REAL_LAB / f"{REAL_LAB}.ipynb").read_bytes()
    students = {"reference_rebound": _with_code(reference, LAB2_REBOUND),
                "blank_rebound": _with_code(blank, LAB2_REBOUND)}  # fmt: skip
    folder = tmp_path / "submitted"
    for student, blob in students.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{REAL_LAB}.ipynb").write_bytes(blob)
    log: list[str] = []
    results = course.grade_labs({REAL_LAB: folder}, workers=1, db=tmp_path / "gradebook.db", log=log.append)
    graded = {result.student: result for result in results}
    assert set(graded) == set(students), "\n".join(log)
    full, blank_result = graded["reference_rebound"], graded["blank_rebound"]
    autograded = [cell for cell in full.max_scores if cell not in full.ungraded]
    lost = {cell: full.messages.get(cell) for cell in autograded if full.scores.get(cell, 0) < full.max_scores[cell]}
    assert autograded and not lost and not full.reason, lost
    assert sum(blank_result.scores.get(cell, 0) for cell in autograded) == 0, blank_result.scores


@pytest.mark.slow
@pytest.mark.notebook
def test_rebinding_locked_names_changes_no_score_on_the_stock_nbgrader_path(tmp_path):
    """`nbgrader autograde` itself (a course folder with the course's config): the same values from the source."""
    import shutil

    from autograder import course

    solutions, reference, _, answers = _fixture_students(tmp_path, "release.db")
    root = tmp_path / "course"
    root.mkdir()
    course.write_course_config(root, {"Execute.timeout": 30})
    shutil.copytree(solutions / FIXTURE_LAB, root / "source" / FIXTURE_LAB)
    course.run_nbgrader("generate_assignment", FIXTURE_LAB, cwd=root)
    students = {"reference_rebound": _with_code(reference, FIXTURE_REBOUND, "first"),
                "median_rebound": nbformat.writes(answers).encode()}  # fmt: skip
    for student, blob in students.items():
        (root / "submitted" / student / FIXTURE_LAB).mkdir(parents=True)
        (root / "submitted" / student / FIXTURE_LAB / f"{FIXTURE_LAB}.ipynb").write_bytes(blob)
    course.run_nbgrader("autograde", FIXTURE_LAB, cwd=root)
    scores = {student: course.read_scores(root, FIXTURE_LAB, student)[0] for student in students}
    assert scores["reference_rebound"] == {"test_mean": 2.0, "test_scaled": 1.0, "test_count": 2.0}, scores
    assert scores["median_rebound"] == {"test_mean": 0.0, "test_scaled": 1.0, "test_count": 2.0}, scores


def test_round_trip_runs_course_code_where_the_model_lives(kernel, runner):
    # A saving test must not depend on a notebook helper the student can rebind (lab 3's save_and_load).
    run_in_kernel(kernel, "import keras\n_inputs = keras.Input((3,))\n"
                  "model = keras.Model(_inputs, keras.layers.Dense(2, kernel_regularizer='l2')(_inputs))\n"
                  "save_and_load = lambda model: model\n")  # fmt: skip
    source = ("_loaded = checks.round_trip(model)\nassert _loaded is not model\n"
              "check_close('kernel after the round trip', checks.plain(_loaded.get_weights()[0]),\n"
              "            checks.plain(model.get_weights()[0]))\n"
              "assert checks.type_names(_loaded)[0].endswith('Functional'), checks.type_names(_loaded)\n")  # fmt: skip
    passed, message = runner.run(source, kernel)
    assert passed, message
    run_in_kernel(kernel, "del model, save_and_load")

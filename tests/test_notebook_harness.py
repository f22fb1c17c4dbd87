"""The notebook test harness tested on a tiny lab without TensorFlow (tests/fixtures/course/).

Each test runs pytest in a subprocess with ``COURSE_TEST_SOLUTIONS`` / ``COURSE_TEST_MUTANTS`` pointing at fixture
labs, and checks what the harness reports: passes where it should, and a clear message where it should fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.notebook]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_LAB = "lab0_fixture"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def run_pytest(
    tmp_path: Path,
    *args: str,
    solutions: Path | None = None,
    mutants: Path | None = None,
    in_repository: bool = True,
    **env: str,
):
    """Run pytest from the repository root; return (return code, output, {test id: failure text or ''}, timings)."""
    report, timings = tmp_path / "report.xml", tmp_path / "timings.json"
    environment = dict(os.environ, **env)
    environment.pop("PYTEST_XDIST_WORKER", None)
    if solutions:
        environment["COURSE_TEST_SOLUTIONS"] = str(solutions)
    if mutants:
        environment["COURSE_TEST_MUTANTS"] = str(mutants)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'basetemp'}",
               f"--junitxml={report}", "-o", "addopts=", *args]  # fmt: skip
    if in_repository:  # tests/conftest.py is loaded, with its --notebook-timings option
        command.append(f"--notebook-timings={timings}")
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    outcomes = {}
    if report.exists():
        for case in ElementTree.parse(report).iter("testcase"):
            name = re.sub(r"\]@[^\]]*\]?$", "]", case.get("name"))  # xdist's loadgroup suffix
            failure = next((case.find(tag) for tag in ("failure", "error") if case.find(tag) is not None), None)
            if failure is not None:
                outcomes[name] = (failure.get("message") or "") + "\n" + (failure.text or "")
            else:
                outcomes.setdefault(name, "SKIPPED" if case.find("skipped") is not None else "")
    rows = json.loads(timings.read_text()) if timings.exists() else []
    return done.returncode, output, outcomes, rows


def two_fixture_labs(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture lab twice (lab0_fixture, lab0b_fixture), to see one kernel per lab under xdist."""
    solutions, mutants, alternatives = tmp_path / "solutions", tmp_path / "mutants", tmp_path / "alternatives"
    for name in (FIXTURE_LAB, "lab0b_fixture"):
        shutil.copytree(FIXTURES / "course" / "solutions" / FIXTURE_LAB, solutions / name)
        if name != FIXTURE_LAB:
            copy = solutions / name / f"{name}.ipynb"
            (solutions / name / f"{FIXTURE_LAB}.ipynb").rename(copy)
            copy.write_text(copy.read_text().replace(f"lab folder: {FIXTURE_LAB}", f"lab folder: {name}"))
        mutants.mkdir(exist_ok=True)
        shutil.copy(FIXTURES / "course" / "mutants" / f"{FIXTURE_LAB}.py", mutants / f"{name}.py")
        alternatives.mkdir(exist_ok=True)  # found beside the mutants folder
        shutil.copy(FIXTURES / "course" / "alternatives" / f"{FIXTURE_LAB}.py", alternatives / f"{name}.py")
    return solutions, mutants


def test_mutant_runner_and_student_test_pass_on_fixture_labs_under_xdist(tmp_path):
    solutions, mutants = two_fixture_labs(tmp_path)
    code, output, outcomes, rows = run_pytest(
        tmp_path, "-n", "2", "tests/test_mutants.py", "tests/test_student_notebooks.py",
        solutions=solutions, mutants=mutants,
    )  # fmt: skip
    assert code == 0, output[-4000:]
    for lab in (FIXTURE_LAB, "lab0b_fixture"):
        for name in ("integer_division", "factor_ignored"):
            assert outcomes[f"test_mutant_is_caught[{lab}::{name}]"] == ""
        assert outcomes[f"test_reference_passes_every_test_cell[{lab}]"] == ""
        assert outcomes[f"test_reference_passes_after_all_mutants[{lab}]"] == ""
        assert outcomes[f"test_unchanged_student_notebook_earns_zero[{lab}]"] == ""
    by_run = {row["notebook"]: row for row in rows}
    assert set(by_run) == {
        f"{lab} [{kind}]" for lab in (FIXTURE_LAB, "lab0b_fixture") for kind in ("mutant kernel", "student copy")
    }
    # 6 code cells once (the reference pass), then per mutant: cell + reruns, test, restore, re-check; per
    # alternative: cell + reruns, the later test cells that read what it changes, restore; final tests
    mutant_cells, alternative_cells = (1 + 1 + 1 + 1) + (2 + 1 + 2 + 1), (1 + 1 + 1) + (2 + 1 + 2)
    assert by_run[f"{FIXTURE_LAB} [mutant kernel]"]["cells_run"] == 6 + mutant_cells + alternative_cells + 2
    for lab in (FIXTURE_LAB, "lab0b_fixture"):
        for name in ("mean_with_statistics", "scaled_with_a_loop"):
            assert outcomes[f"test_alternative_keeps_every_point[{lab}::alt::{name}]"] == ""
    assert "notebook execution times" in output


@pytest.mark.parametrize(
    "share, dist", [("1", "loadgroup"), ("0", "loadgroup"), ("1", "loadscope")], ids=["shared", "off", "loadscope"]
)
def test_nbval_and_mutants_in_one_run_execute_each_notebook_once(tmp_path, share, dist):
    """`make test`'s shape: the mutant suite continues in the kernel nbval used (unless switched off)."""
    solutions, mutants = two_fixture_labs(tmp_path)
    notebooks = sorted(solutions.glob("*/*.ipynb"))
    code, output, outcomes, rows = run_pytest(
        tmp_path, "-n", "2", "--dist", dist, "tests/test_mutants.py", *nbval_command(*notebooks),
        solutions=solutions, mutants=mutants, COURSE_TEST_SHARE_NBVAL_KERNEL=share,
    )  # fmt: skip
    assert code == 0, output[-4000:]
    assert not any(outcomes.values()), outcomes
    by_run = {row["notebook"]: row for row in rows}
    for lab in (FIXTURE_LAB, "lab0b_fixture"):
        assert by_run[f"{lab} [nbval]"]["cells_run"] == 2 * 6  # setup and call of 6 cells
        # mutants and final checks (12 cells), alternatives (8), plus the reference pass (6) when it runs in a kernel
        # of its own
        shared = share == "1"  # conftest.py turns loadscope into loadgroup
        assert by_run[f"{lab} [mutant kernel]"]["cells_run"] == (20 if shared else 26)


def test_mutant_runner_reports_each_broken_mutant(tmp_path):
    code, output, outcomes, _ = run_pytest(
        tmp_path, "tests/test_mutants.py", solutions=FIXTURES / "course" / "solutions", mutants=FIXTURES / "bad_mutants"
    )
    assert code == 1, output[-4000:]

    def outcome(name: str) -> str:
        return outcomes[f"test_mutant_is_caught[{FIXTURE_LAB}::{name}]"]

    assert outcome("integer_division") == ""
    survivor = outcome("survivor_sorted_values")
    assert "'survivor_sorted_values'" in survivor and "NOT caught" in survivor and "test_mean" in survivor
    assert "[PASS] mean" in survivor, "the message must show what the test cell printed"
    assert "unknown grade_id 'mean_fn' in `cell`" in outcome("unknown_cell")
    assert "unknown grade_id 'test_average' in `caught_by`" in outcome("unknown_test")
    assert "'test_mean'" in outcome("unknown_cell"), "the message lists the grade_ids that exist"
    assert "does not occur in cell 'mean_function'" in outcome("stale_edit")
    assert "raised while setting the mutant up" in outcome("crashes_in_its_cell")
    assert "broken on purpose" in outcome("crashes_in_its_cell")
    assert "restored reference fails 'test_mean'" in outcome("poisons_builtins")
    # after the poisoned kernel was restarted, the reference is whole again
    assert outcomes[f"test_reference_passes_after_all_mutants[{FIXTURE_LAB}]"] == ""


def test_student_test_reports_points_and_slow_cells(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(FIXTURES / "course" / "solutions" / FIXTURE_LAB, solutions / FIXTURE_LAB)
    path = solutions / FIXTURE_LAB / f"{FIXTURE_LAB}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    free = nbformat.v4.new_code_cell(
        "assert len(values) == 3\n### BEGIN HIDDEN TESTS\nassert values\n### END HIDDEN TESTS"
    )
    free.metadata["nbgrader"] = {"grade": True, "grade_id": "test_free_points", "locked": True, "points": 1,
                                 "schema_version": 3, "solution": False}  # fmt: skip
    slow = nbformat.v4.new_code_cell("time.sleep(3)")
    notebook.cells[2:2] = [free, slow]
    nbformat.write(notebook, path)
    code, output, outcomes, _ = run_pytest(
        tmp_path, "tests/test_student_notebooks.py", solutions=solutions, COURSE_STUDENT_CELL_LIMIT="1"
    )
    assert code == 1, output[-4000:]
    message = outcomes[f"test_unchanged_student_notebook_earns_zero[{FIXTURE_LAB}]"]
    assert "'test_free_points' earns 1 points" in message
    assert "longer than 1 s" in message and "'cell 2'" in message
    assert "test_mean" not in message


def nbval_command(*notebooks: Path) -> list[str]:
    return ["--nbval-lax", "--nbval-kernel-name", "dlcourse", "--nbval-cell-timeout", "60",
            f"--nbval-sanitize-with={SANITIZE}", *map(str, notebooks)]  # fmt: skip


def test_nbval_runs_in_the_lab_folder_with_sanitized_strict_checks(tmp_path):
    notebook = FIXTURES / "course" / "solutions" / FIXTURE_LAB / f"{FIXTURE_LAB}.ipynb"
    code, output, outcomes, rows = run_pytest(tmp_path, "-n", "2", *nbval_command(notebook))
    assert code == 0, output[-4000:]
    assert len(outcomes) == 6 and all(text == "" for text in outcomes.values()), outcomes
    assert [row["notebook"] for row in rows] == [f"{FIXTURE_LAB} [nbval]"]
    assert "setup" in dict(rows[0]["slowest"]) or rows[0]["cells_run"] == 12  # setup + call of 6 cells


def test_nbval_strict_check_fails_on_changed_output(tmp_path):
    lab_folder = tmp_path / "solutions" / FIXTURE_LAB
    shutil.copytree(FIXTURES / "course" / "solutions" / FIXTURE_LAB, lab_folder)
    path = lab_folder / f"{FIXTURE_LAB}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    compute = next(cell for cell in notebook.cells if cell.get("id") == "compute")
    compute.outputs[0].text = compute.outputs[0].text.replace("[2, 4, 6]", "[2, 4, 7]")
    nbformat.write(notebook, path)
    code, output, outcomes, _ = run_pytest(tmp_path, *nbval_command(path), in_repository=False)
    assert code == 1, output[-4000:]
    failed = [name for name, text in outcomes.items() if text]
    assert len(failed) == 1 and "[2, 4, 7]" in output, output[-4000:]


def test_alternative_runner_reports_lost_points(tmp_path):
    code, output, outcomes, _ = run_pytest(
        tmp_path,
        "tests/test_mutants.py",
        solutions=FIXTURES / "course" / "solutions",
        mutants=FIXTURES / "course" / "mutants",
        COURSE_TEST_ALTERNATIVES=str(FIXTURES / "bad_alternatives"),
    )
    assert code == 1, output[-4000:]
    lost = outcomes[f"test_alternative_keeps_every_point[{FIXTURE_LAB}::alt::rounded_mean]"]
    assert "loses points" in lost and "test_mean failed" in lost, lost
    stale = outcomes[f"test_alternative_keeps_every_point[{FIXTURE_LAB}::alt::stale_edit]"]
    assert "does not occur in cell 'mean_function'" in stale
    # the restore put the reference back: the final check passes
    assert outcomes[f"test_reference_passes_after_all_mutants[{FIXTURE_LAB}]"] == ""

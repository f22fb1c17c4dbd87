"""What students run besides the notebooks: `make lab` and nbgrader's Validate button."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def lab_server_directory() -> Path:
    """The working directory `make lab` starts JupyterLab in (read from `make -n lab`)."""
    done = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next((line for line in done.stdout.splitlines() if "jupyter lab" in line), None)
    assert line, f"`make lab` does not start JupyterLab:\n{done.stdout[-2000:]}"
    match = re.match(r"\s*cd (\S+) && jupyter lab", line)
    return ROOT / match[1] if match else ROOT


def test_validate_button_in_make_lab_uses_the_course_settings():
    """nbgrader's Validate button (JupyterLab toolbar) loads nbgrader_config.py from the server's working
    directory; with nbgrader's defaults it would allow 30 s per cell (lab 1's training cell takes about 20 s on a
    2-core machine) and score TensorFlow's stderr lines as failures."""
    probe = (
        "from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler\n"
        "from nbgrader.validator import Validator\n"
        "config = ValidateAssignmentHandler.load_config(None)\n"
        "print(config.Execute.timeout, config.Execute.kernel_name)\n"
        "print(' '.join(p.__name__ for p in Validator.preprocessors.default_value))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=lab_server_directory(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    settings, preprocessors = done.stdout.splitlines()[-2:]
    assert settings == "300 dlcourse", f"Validate would run with {settings!r} (Execute.timeout, kernel)"
    assert "StripLogNoise" in preprocessors.split()


FIXTURE_LAB = ROOT / "tests" / "fixtures" / "autograder" / "solutions" / "lab0_grading"


def run_make_validate(notebook: Path) -> subprocess.CompletedProcess:
    """`make validate` on ``notebook`` (-o install: never re-install from inside a test)."""
    command = ["make", "--no-print-directory", "-o", "install", "validate", "LAB=lab0_grading", f"NOTEBOOK={notebook}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.notebook
def test_make_validate_exit_code_says_whether_validation_passed(tmp_path):
    """`nbgrader validate` exits 0 when cells fail; `make validate` must not, so that a script can rely on it."""
    shutil.copytree(FIXTURE_LAB, tmp_path / "lab0_grading")
    passing = tmp_path / "lab0_grading" / "lab0_grading.ipynb"
    notebook = nbformat.read(passing, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mean_function":
            cell.source = 'def mean(values):\n    """Arithmetic mean."""\n    raise NotImplementedError()'
    failing = passing.with_name("failing.ipynb")
    nbformat.write(notebook, failing)

    done = run_make_validate(passing)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Success! Your notebook passes all the tests." in done.stdout

    done = run_make_validate(failing)
    assert done.returncode != 0, f"make validate exited 0 although validation failed:\n{done.stdout[-3000:]}"
    assert "VALIDATION FAILED ON" in done.stdout
    assert "did NOT pass validation" in done.stderr


def test_make_validate_without_a_lab_is_a_usage_error():
    done = subprocess.run(["make", "--no-print-directory", "-o", "install", "validate"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0 and "usage: make validate LAB=" in done.stdout

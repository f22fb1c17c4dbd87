"""What students run besides the notebooks: `make lab` and nbgrader's Validate button."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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

"""requirements.txt (the pip source of truth) and environment.yml must list the same pinned packages."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
            assert match, f"requirements.txt: '{line}' is not an exact pin (name==version)"
            pins[match[1].lower()] = match[2]
    return pins


def environment_pins() -> tuple[dict[str, str], list[str]]:
    text = (ROOT / "environment.yml").read_text()
    spec = yaml.safe_load(text)
    pip_section = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict) and "pip" in item)
    pins = {}
    for entry in pip_section:
        name, version = entry.split("==")
        pins[name.strip().lower()] = version.strip()
    pip_lines = [line for line in text.splitlines() if re.match(r"\s+- [A-Za-z0-9_.-]+==", line)]
    return pins, pip_lines


def test_environment_yml_matches_requirements():
    pins, _ = environment_pins()
    assert pins == requirement_pins(), "environment.yml and requirements.txt disagree: update both together"


def test_environment_yml_comments_every_package():
    _, lines = environment_pins()
    uncommented = [line.strip() for line in lines if "#" not in line or not line.split("#", 1)[1].strip()]
    assert not uncommented, f"say what each package is for: {uncommented}"


def test_python_version_pinned():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in spec["dependencies"]


def test_installed_versions_match_pins():
    from importlib.metadata import version

    mismatched = {name: (version(name), pin) for name, pin in requirement_pins().items() if version(name) != pin}
    assert not mismatched, f"installed (version, pin) differ: {mismatched}; run make install"


# Pinned packages the course never imports, with what uses them instead; every other pin must be imported.
NOT_IMPORTED = {
    "scipy": "scikit-learn's dependency (t-SNE), pinned for a reproducible install",
    "nbval": "pytest plugin: --nbval-lax (make test)",
    "pytest-xdist": "pytest plugin: -n (make test)",
    "ruff": "command line: make lint",
    "jupyterlab": "command line: make lab",
    "distributed": "imported as dask.distributed",
    "ipykernel": "the course kernel: python -m ipykernel_launcher (course_utils/kernel.py)",
    "playwright": "pytest.importorskip('playwright.sync_api') in tests/browser",
}
IMPORT_NAMES = {"tensorflow-cpu": "tensorflow", "scikit-learn": "sklearn", "pyyaml": "yaml"}


def test_every_pin_is_used():
    """A pin nobody uses misleads readers of environment.yml (pooch was pinned as the downloader and never used)."""
    sources = [path for folder in ("autograder", "course_utils", "tests", "benchmarks") for path in
               (ROOT / folder).rglob("*.py")] + [ROOT / "data_fetch.py", *ROOT.glob("solutions/*/*.ipynb")]  # fmt: skip
    text = "\n".join(path.read_text() for path in sources)
    unused = []
    for name in requirement_pins():
        if name in NOT_IMPORTED:
            continue
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        if not re.search(rf"(^|\W)(import|from) {re.escape(module)}\b", text, re.MULTILINE):
            unused.append(name)
    assert not unused, f"pinned but never imported: {unused}; drop them or say in NOT_IMPORTED what uses them"


def test_tensorflow_imports_without_scikit_learn_and_scikit_learn_still_works():
    """``import_tensorflow`` keeps Keras from importing scikit-learn on the way (1.4 CPU s of every kernel's
    start); scikit-learn imports normally afterwards (lab 4 uses it)."""
    code = (
        "import sys\n"
        "from course_utils.environment import import_tensorflow\n"
        "import_tensorflow()\n"
        "import keras\n"
        "assert 'keras' in sys.modules and 'sklearn' not in sys.modules, sorted(sys.modules)[:5]\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "print(LogisticRegression().fit([[0.0], [1.0]], [0, 1]).predict([[0.9]])[0])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("1")

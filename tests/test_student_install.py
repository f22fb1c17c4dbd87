"""A student without the course's checkout (Colab, Binder): the built package alone runs lab 1's first cells.

Offline: the wheel is built from this checkout, unpacked into a fresh virtual environment that sees the course
venv's third-party packages (TensorFlow, ...) but not the checkout, and lab 1's install and Setup cells run there
from a folder outside the repository, with a fresh home: the package must build the synthetic data set itself.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB1 = Path(os.environ.get("COURSE_TEST_LAB1") or ROOT / "solutions" / "lab1_sequence" / "lab1_sequence.ipynb")


def lab1_cell(grade_id: str) -> str:
    notebook = json.loads(LAB1.read_text())
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return "".join(cell["source"])
    pytest.skip(f"lab 1 has no cell {grade_id!r} yet")


@pytest.fixture(scope="module")
def fresh_environment(tmp_path_factory) -> Path:
    """A venv holding only the built course package, plus the course venv's other packages on its path."""
    work = tmp_path_factory.mktemp("student-install")
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(ROOT)], check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = wheels.glob("course_utils-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = next(venv.glob("lib/python3*/site-packages"))
    with zipfile.ZipFile(wheel) as archive:  # a wheel is installed by unpacking it into site-packages
        archive.extractall(purelib)
    # Third-party packages from the course venv; its editable course_utils (a .pth hook there) is not loaded.
    (purelib / "course-venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


@pytest.mark.slow
@pytest.mark.notebook
def test_built_package_runs_lab1_setup_without_a_checkout(fresh_environment, tmp_path):
    install, setup = lab1_cell("install"), lab1_cell("setup")
    home, folder = tmp_path / "home", tmp_path / "student"
    home.mkdir(), folder.mkdir()
    program = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        for source in sys.argv[1:]:
            shell.run_cell(source, store_history=False).raise_error()
        import course_utils, data_fetch
        print("PACKAGE", course_utils.__file__)
        print("BUILDER", data_fetch.__file__)
        """
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COURSE_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), MPLBACKEND="agg", TF_CPP_MIN_LOG_LEVEL="3")
    python = fresh_environment / "bin" / "python"
    done = subprocess.run([str(python), "-c", program, install, setup], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    package = Path(output.split("PACKAGE ", 1)[1].split()[0])
    assert fresh_environment in package.parents, f"course_utils came from {package}, not from the built package"
    assert ROOT not in Path(output.split("BUILDER ", 1)[1].split()[0]).parents
    manifest = home / ".cache" / "dl-lab-course" / "data" / "synthetic" / "manifest.json"
    assert manifest.exists(), f"setup_lab did not build the synthetic data set:\n{output[-3000:]}"
    assert "Building the synthetic data set" in output
    assert "Data set: synthetic" in output, output[-3000:]
    assert json.loads(manifest.read_text())["counts"]["train"] > 0
    weights = list(package.parent.glob("weights/pointnet_base_*.weights.h5"))
    assert weights, "the pretrained weights of lab 4 must travel with the package"


def test_install_cell_does_nothing_in_the_course_environment():
    """In the course kernel course_utils is importable: the cell neither installs nor prints anything."""
    install = lab1_cell("install")
    program = "from IPython.core.interactiveshell import InteractiveShell\nimport sys\n"
    program += "InteractiveShell.instance().run_cell(sys.argv[1]).raise_error()\n"
    done = subprocess.run([sys.executable, "-c", program, install], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and "pip" not in done.stderr


@pytest.mark.parametrize("path", [".devcontainer/devcontainer.json", ".binder/environment.yml", ".binder/postBuild"])
def test_cloud_set_ups_use_the_course_environment(path):
    """Codespaces/devcontainer and Binder set up what `make data` sets up, with the pinned Python."""
    text = (ROOT / path).read_text()
    if path.endswith(".json"):
        config = json.loads(text)
        assert "python:3.11" in config["image"] and config["postCreateCommand"] == "make data"
    elif path.endswith("environment.yml"):
        assert text == (ROOT / "environment.yml").read_text(), "Binder must use the course's environment.yml"
    else:
        for command in ("-e .", "course_utils.kernel", "data_fetch.py synthetic"):
            assert command in text

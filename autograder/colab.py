"""The install cell and "Open in Colab" link of every lab, for students without the course's environment.

    python -m autograder colab --repository my-university/dl-lab-course   # then: python -m autograder release

Writes (or updates) in each ``solutions/<lab>/<lab>.ipynb``: a locked code cell ``install`` before the Setup cell,
which does nothing where ``course_utils`` is importable and otherwise ``%pip install``s the course package
(``$COURSE_PACKAGE``, default: the repository's git URL), and an "Open in Colab" line at the end of the Setup
section's text. Idempotent.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.paths import SOLUTIONS

DEFAULT_REPOSITORY = "dl-lab-course/dl-lab-course"
INSTALL_ID = "install"
COLAB_MARK = "\n\n[Open in Colab]"

INSTALL_SOURCE = """# Outside the course's environment only (Colab, a plain Jupyter): install the course package, which
# builds the synthetic data set on first use. In the course kernel this cell does nothing.
import importlib.util
import os

if importlib.util.find_spec("course_utils") is None:
    COURSE_PACKAGE = os.environ.get("COURSE_PACKAGE", "git+https://github.com/{repository}")
    %pip install --quiet "{{COURSE_PACKAGE}}\""""


def colab_line(repository: str, lab: str) -> str:
    url = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{lab}/{lab}.ipynb"
    return (
        f"[Open in Colab]({url}): without the course's environment, the first cell installs the course package and "
        "builds the synthetic data set (about a minute); in the course kernel it does nothing."
    )


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def install_cell(repository: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": INSTALL_ID,
        "metadata": {
            "deletable": False,
            "editable": False,
            "nbgrader": {
                "grade": False,
                "grade_id": INSTALL_ID,
                "locked": True,
                "schema_version": 3,
                "solution": False,
            },  # fmt: skip
        },
        "outputs": [],
        "source": _lines(INSTALL_SOURCE.format(repository=repository)),
    }


def add_install_cell(path: Path, repository: str = DEFAULT_REPOSITORY) -> None:
    """Insert or update the install cell and the Colab line of one source notebook (written atomically)."""
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]

    def ids() -> list[str | None]:
        return [cell["metadata"].get("nbgrader", {}).get("grade_id") for cell in cells]

    if "setup" not in ids():
        raise ValueError(f"{path}: no Setup cell (grade_id 'setup') to put the install cell before")
    if INSTALL_ID in ids():
        cells[ids().index(INSTALL_ID)] = install_cell(repository)
    else:
        cells.insert(ids().index("setup"), install_cell(repository))
    if "setup-md" in ids():
        markdown = cells[ids().index("setup-md")]
        text = "".join(markdown["source"]).split(COLAB_MARK)[0]
        markdown["source"] = _lines(text + "\n\n" + colab_line(repository, path.stem))
    temporary = path.with_suffix(".ipynb.tmp")
    temporary.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    temporary.replace(path)


def main(repository: str = DEFAULT_REPOSITORY, solutions: Path = SOLUTIONS) -> list[Path]:
    paths = sorted(p for p in Path(solutions).glob("lab*/lab*.ipynb") if p.stem == p.parent.name)
    for path in paths:
        add_install_cell(path, repository)
    return paths

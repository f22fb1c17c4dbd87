"""Where the course's files are: one home for the repository root, the lab list and the grading course's files."""

from __future__ import annotations

from pathlib import Path

AUTOGRADER_DIR = Path(__file__).resolve().parent
ROOT = AUTOGRADER_DIR.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
COURSE_DB = AUTOGRADER_DIR / "gradebook.db"
COURSE_CONFIG = AUTOGRADER_DIR / "nbgrader_config.py"


def labs(solutions: Path = SOLUTIONS) -> list[str]:
    """Every ``<solutions>/labN_topic/labN_topic.ipynb``, discovered afresh (labs are added during the term)."""
    return sorted(p.parent.name for p in Path(solutions).glob("lab*/lab*.ipynb") if p.stem == p.parent.name)

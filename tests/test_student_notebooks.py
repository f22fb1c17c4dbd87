"""The student copy of every lab, run unchanged, executes without killing the kernel and earns 0 points.

The copy is generated afresh from solutions/<lab>/ by nbgrader's own CLI (``generate_assignment``) in a temporary
course that loads the course's nbgrader_config.py (whether notebooks/ is in sync is test_release.py's job). As in
``nbgrader autograde``, the locked cells are then overwritten from the gradebook (``OverwriteCells``: the test cells
get their hidden tests back), the notebook runs cell by cell in the course kernel in its own folder with errors
allowed, and every graded cell is scored with ``nbgrader.utils.determine_grade``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import OverwriteCells
from nbgrader.utils import determine_grade, is_grade
from notebook_runner import ROOT, KernelSession, attach_timings, cell_label, code_cells, labs, solutions_dir

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

#: No cell of an unchanged student notebook may take longer than this (seconds, 2 shared CPU cores): a TODO left
#: empty must fail fast, not train for minutes first. ``COURSE_STUDENT_CELL_LIMIT`` overrides it.
STUDENT_CELL_LIMIT = float(os.environ.get("COURSE_STUDENT_CELL_LIMIT", "60"))
SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
COURSE_CONFIG = ROOT / "autograder" / "nbgrader_config.py"


def generate_student_copy(lab: str, course: Path) -> tuple[Path, str]:
    """Run ``nbgrader generate_assignment`` for ``lab`` in a fresh course at ``course``; return notebook, db url."""
    course.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{course / 'gradebook.db'}"
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"_course = {str(COURSE_CONFIG)!r}\n"
        "exec(compile(open(_course).read(), _course, 'exec'), {**globals(), '__file__': _course})\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.source_directory = 'source'\n"
        "c.CourseDirectory.release_directory = 'release'\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
    )
    shutil.copytree(solutions_dir() / lab, course / "source" / lab, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    environment = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    command = [sys.executable, "-m", "nbgrader", "generate_assignment", lab, "--force", "--log-level=WARN"]
    done = subprocess.run(command, cwd=course, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"nbgrader generate_assignment {lab} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
    )
    return course / "release" / lab / f"{lab}.ipynb", db_url


def restore_locked_cells(notebook, lab: str, db_url: str):
    """What autograde does before executing: locked and test cells come back from the gradebook (hidden tests)."""
    resources = {"nbgrader": {"db_url": db_url, "assignment": lab, "notebook": lab}}
    notebook, _ = OverwriteCells().preprocess(notebook, resources)
    return notebook


@pytest.mark.parametrize("lab", labs())
def test_unchanged_student_notebook_earns_zero(lab, tmp_path, request):
    student_path, db_url = generate_student_copy(lab, tmp_path / "course")
    notebook = restore_locked_cells(nbformat.read(student_path, as_version=4), lab, db_url)
    session = KernelSession(
        student_path.parent, label=f"{lab} [student copy]", cell_timeout=max(STUDENT_CELL_LIMIT, 60) * 2
    )
    runs = {}
    try:
        for index, cell in code_cells(notebook):
            name = cell_label(cell, index)
            runs[name] = result = session.run(cell.source, name=name)
            cell.outputs = result.outputs
            if result.kernel_died:
                break
    finally:
        attach_timings(request.node, session.take_timings())
        session.close()

    assert runs, f"{lab}: the student copy has no code cells"
    problems = []
    died = [name for name, result in runs.items() if result.kernel_died]
    if died:
        problems.append(f"the kernel died in cell {died[0]!r}")
    invalid = {name: run.error for name, run in runs.items() if any(e.ename in SYNTAX_ERRORS for e in run.errors)}
    if invalid:
        problems.append(f"cells that are not valid Python (the solution block must leave a complete cell): {invalid}")
    slow = {name: round(run.seconds, 1) for name, run in runs.items() if run.seconds > STUDENT_CELL_LIMIT}
    if slow:
        problems.append(f"cells that ran longer than {STUDENT_CELL_LIMIT:.0f} s (an empty TODO must fail fast): {slow}")
    graded = [cell for cell in notebook.cells if is_grade(cell)]
    if not graded:
        problems.append("no graded cells")
    for cell in graded:
        score, _ = determine_grade(cell)
        if score:  # None: a manually graded answer; 0: nothing earned
            grade_id = cell.metadata.nbgrader.grade_id
            run = runs.get(grade_id)
            printed = run.describe() if run else "(not run)"
            problems.append(
                f"graded cell {grade_id!r} earns {score:g} points without an answer; it printed:\n{printed}"
            )
    assert not problems, f"{lab}, unchanged student notebook:\n- " + "\n- ".join(problems)

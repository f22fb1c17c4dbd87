"""What students hand in: reading submissions (folders, zips), checking them, restoring deleted locked cells.

Everything here works on notebook bytes or in-memory notebooks and runs no kernel, so it is unit-tested on small
notebooks (``tests/test_grading_units.py``). Which cells are demonstrations (skipped when grading) is read from the
source notebook only: ``demo_cells``.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils

from autograder.errors import GradingError
from autograder.paths import NOTEBOOKS, SOLUTIONS

VALID_STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
LARGEST_NOTEBOOK = 100 * 1024**2
DEMO_TAG = "demo"


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id`` (None for cells nbgrader does not track)."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def demo_cells(source: NotebookNode) -> set[str]:
    """grade_ids of the cells that only demonstrate: locked, with a grade_id and the tag ``demo``.

    Read from the SOURCE notebook: a submission's tags are the student's to edit and are never trusted.
    """
    return {
        grade_id(cell)
        for cell in source.cells
        if cell.cell_type == "code"
        and grade_id(cell)
        and utils.is_locked(cell)
        and not utils.is_grade(cell)
        and DEMO_TAG in cell.get("metadata", {}).get("tags", [])
    }


# ------------------------------------------------------------------------------------------- reading


def collect_submissions(lab: str, location: Path) -> tuple[dict[str, bytes], list[str]]:
    """Read ``<location>/<student>/<lab>.ipynb`` (folders or ``<student>.zip``, or one zip of such folders).

    Only regular files are read (symbolic links, FIFOs and devices in a submission folder are skipped, so a planted
    FIFO never blocks the grader and a link never reads outside the folder).
    """
    location = Path(location)
    problems: list[str] = []
    if location.is_file() and location.suffix == ".zip":
        entries = zip_entries(location, problems)
    elif location.is_dir():
        entries = []
        for path in sorted(location.iterdir()):
            if path.is_symlink():
                problems.append(f"{path.name}: a symbolic link; ignored")
            elif path.is_dir():
                entries.append((path.name, _folder_notebooks(path, problems)))
            elif path.suffix == ".zip" and path.is_file():
                entries += zip_entries(path, problems, student=path.stem)
            else:
                problems.append(f"{path.name}: not a student folder or zip; ignored")
    else:
        raise GradingError(f"{location}: expected a folder of submissions or a .zip")
    submissions: dict[str, bytes] = {}
    for student, files in entries:
        if not VALID_STUDENT_ID.match(student or ""):
            problems.append(f"{student!r}: bad student id (letters, digits, _ - . only); ignored")
            continue
        wanted = f"{lab}.ipynb"
        if wanted not in files:
            problems.append(f"{student}: no {wanted} (found {sorted(files) or 'nothing'}); not graded")
            continue
        extra = sorted(set(files) - {wanted})
        if extra:
            problems.append(f"{student}: extra notebook(s) {extra} ignored")
        submissions[student] = files[wanted]
    return submissions, problems


def _folder_notebooks(folder: Path, problems: list[str]) -> dict[str, bytes]:
    files = {}
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        blob = read_regular_file(path, LARGEST_NOTEBOOK)
        if blob is None:
            problems.append(f"{folder.name}: {path.name} is not a regular file (link, FIFO?) or too large; ignored")
        else:
            files[path.name] = blob
    return files


def read_regular_file(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; None for links, FIFOs, devices.

    Opened with O_NOFOLLOW | O_NONBLOCK and checked with fstat, so neither a link nor a FIFO swapped in between a
    check and the open can redirect or block the read.
    """
    import os
    import stat

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            return file.read(limit + 1)[:limit]
    finally:
        os.close(descriptor)


def zip_entries(path: Path, problems: list[str], student: str | None = None) -> list[tuple[str, dict]]:
    """``[(student, {notebook name: bytes})]`` from a zip of ``<student>/<lab>.ipynb`` (or one student's zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            grouped: dict[str, dict[str, bytes]] = {}
            for info in archive.infolist():
                if info.is_dir() or "__MACOSX" in info.filename or not info.filename.endswith(".ipynb"):
                    continue
                if ".ipynb_checkpoints" in info.filename:
                    continue
                if info.file_size > LARGEST_NOTEBOOK:
                    problems.append(f"{path.name}: {info.filename} is larger than 100 MB; ignored")
                    continue
                parts = Path(info.filename).parts
                owner = student or (parts[0] if len(parts) > 1 else path.stem)
                grouped.setdefault(owner, {})[parts[-1]] = archive.read(info)
            return sorted(grouped.items())
    except (zipfile.BadZipFile, OSError) as error:
        problems.append(f"{path.name}: unreadable zip ({error}); ignored")
        return []


# ------------------------------------------------------------------------------------------ checking


def check_submission(lab: str, notebook_bytes: bytes, source_notebook: Path | None = None) -> list[str]:
    """Problems with a submitted notebook that grading will work around (reported, never fatal)."""
    try:
        submitted = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception as error:  # any parse failure is the student's file, not our crash
        return [f"not a readable notebook ({type(error).__name__}: {str(error)[:200]})"]
    source = nbformat.read(source_notebook or SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    expected = {grade_id(c): c.cell_type for c in source.cells if grade_id(c)}
    seen: dict[str, int] = {}
    problems = []
    for cell in submitted.cells:
        name = grade_id(cell)
        if name:
            seen[name] = seen.get(name, 0) + 1
            if name in expected and cell.cell_type != expected[name]:
                problems.append(f"cell {name!r} was changed from {expected[name]} to {cell.cell_type}")
    problems += [f"duplicated grade_id {g!r} ({n} cells): copied cell?" for g, n in seen.items() if n > 1]
    problems += [f"cell {g!r} is missing (deleted?)" for g in expected if g not in seen]
    flagged = suspicious_code(submitted)
    if flagged:
        problems.append("flagged for review (tampering?): " + ", ".join(flagged))
    return problems


SUSPICIOUS = {
    "monkeypatching a function's code": r"__code__",
    "IPython transformers": r"ast_transformers|input_transformers",
    "exception display": r"set_custom_exc|showtraceback|excepthook|CustomTB",
    "tracing": r"settrace|setprofile|_getframe|f_lineno",
    "builtins": r"\bbuiltins\b|__builtins__",
    "sys.modules": r"sys\.modules",
    "the checks": r"(checks|numpy\.testing|np\.testing|npt)\.\w+\s*=(?!=)|\.(fail|check\w*|assert_\w+)\s*=(?!=)",
    "the kernel": r"get_ipython\(\)\.(kernel|events|run_cell|displayhook)|_course_grading_guard",
    "ctypes / gc": r"\bctypes\b|gc\.get_(objects|referrers)",
    "killing the kernel": r"os\._exit|os\.kill|signal\.",
}


def suspicious_code(notebook) -> list[str]:
    """What the student-editable cells do that honest answers never need (a hint for the tutor, not a penalty)."""
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code" and not utils.is_locked(cell))
    return [label for label, pattern in SUSPICIOUS.items() if re.search(pattern, text)]


# --------------------------------------------------------------------------------------- restoring


def insert_missing_locked_cells(submitted: NotebookNode, reference: NotebookNode) -> list[str]:
    """Put back (in place) the locked cells of ``reference`` that ``submitted`` lacks; return their grade_ids.

    Each goes after the nearest cell that precedes it in ``reference`` and is present in ``submitted`` (at the top
    when there is none). nbgrader restores the *content* of edited locked cells, but a deleted test cell simply
    does not run; re-inserted, it runs and fails as it should. Used on both grading paths: before grading by
    ``python -m autograder grade`` (``restore_deleted_cells``) and inside nbgrader's own pipeline by
    ``autograder.restore.RestoreDeletedCells`` (stock ``nbgrader autograde``).
    """
    present = {grade_id(cell) for cell in submitted.cells} - {None}
    restored = []
    for position, cell in enumerate(reference.cells):
        name = grade_id(cell)
        if not name or not utils.is_locked(cell) or name in present:
            continue
        previous = next((grade_id(c) for c in reversed(reference.cells[:position]) if grade_id(c) in present), None)
        index = next((i + 1 for i, c in enumerate(submitted.cells) if previous and grade_id(c) == previous), 0)
        copy = nbformat.from_dict(dict(cell))
        if copy.cell_type == "code":
            copy.outputs, copy.execution_count = [], None
        submitted.cells.insert(index, copy)
        present.add(name)
        restored.append(name)
    return restored


def restore_deleted_cells(notebook_bytes: bytes, released: Path, problems: list[str]) -> bytes:
    """``notebook_bytes`` with the locked cells of the released notebook that the student deleted put back."""
    try:
        submitted = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception:  # unreadable: nbgrader reports it
        return notebook_bytes
    restored = insert_missing_locked_cells(submitted, nbformat.read(released, as_version=4))
    if not restored:
        return notebook_bytes
    problems.append(f"deleted locked cell(s) {restored} restored before grading")
    return nbformat.writes(submitted).encode()


# -------------------------------------------------------------------------------------- sample answers


def reference_submission(lab: str, solutions: Path = SOLUTIONS, release_dir: Path = NOTEBOOKS) -> bytes:
    """The reference answers pasted into the student notebook: what a perfect student submits."""
    source = nbformat.read(Path(solutions) / lab / f"{lab}.ipynb", as_version=4)
    answers = {
        grade_id(cell): "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
        )
        for cell in source.cells
        if utils.is_solution(cell)
    }
    released = Path(release_dir) / lab / f"{lab}.ipynb"
    if released.exists():
        notebook = nbformat.read(released, as_version=4)
    else:  # not released yet: the solution notebook without its hidden tests
        notebook = source
        for cell in notebook.cells:
            cell.source = strip_between(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(notebook).encode()


def strip_between(text: str, begin: str, end: str) -> str:
    """``text`` without the lines from a ``begin`` line to an ``end`` line (both included)."""
    lines, keep = [], True
    for line in text.splitlines():
        if line.strip() == begin:
            keep = False
        elif line.strip() == end:
            keep = True
        elif keep:
            lines.append(line)
    return "\n".join(lines)

"""Store the reference outputs of a solution notebook's ``# NBVAL_CHECK_OUTPUT`` cells (and clear all others).

nbval (``make test``) compares a marked cell's fresh output with the output kept in the notebook, after the
substitutions in tests/nbval_sanitize.cfg; it only compares cells that were run (outputs AND an execution count).
Every other cell is committed without outputs. Usage, after editing a lab::

    .venv/bin/python tests/store_checked_outputs.py solutions/lab2_functional/lab2_functional.ipynb

The notebook runs once in the course kernel, in its own folder (as nbval and nbgrader run it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

CHECK_MARKER = "NBVAL_CHECK_OUTPUT"
KERNEL_NAME = "dlcourse"


def is_checked(cell) -> bool:
    """Marked like nbval marks it: a ``# NBVAL_CHECK_OUTPUT`` comment line or an ``nbval-check-output`` tag."""
    if cell.cell_type != "code":
        return False
    comment = any(line.strip().replace(" ", "") == f"#{CHECK_MARKER}" for line in cell.source.splitlines())
    return comment or "nbval-check-output" in cell.get("metadata", {}).get("tags", [])


def store_checked_outputs(path: Path, timeout: int = 600) -> list[str]:
    """Execute ``path`` and keep only the marked cells' outputs; return the ids of the marked cells."""
    notebook = nbformat.read(path, as_version=4)
    executed = nbformat.read(path, as_version=4)
    resources = {"metadata": {"path": str(path.parent)}}
    NotebookClient(
        executed, kernel_name=KERNEL_NAME, timeout=timeout, resources=resources, record_timing=False
    ).execute()
    marked = []
    for number, (cell, ran) in enumerate(zip(notebook.cells, executed.cells), start=1):
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            cell.outputs, cell.execution_count = ran.outputs, number
            marked.append(cell.get("id") or f"cell {number}")
        else:
            cell.outputs, cell.execution_count = [], None
    nbformat.write(notebook, path)
    return marked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    arguments = parser.parse_args(argv)
    for path in arguments.notebooks:
        marked = store_checked_outputs(path.resolve(), arguments.timeout)
        print(f"{path}: stored the outputs of {len(marked)} checked cell(s): {', '.join(marked) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

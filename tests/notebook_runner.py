"""Run notebook cells one at a time in a live course kernel; the shared engine of the notebook tests.

Used by the mutant suite (execute a lab once, then swap in wrong answers and re-run only the affected cells) and by
the student-notebook test. Execution goes through ``nbclient`` (what nbgrader and nbconvert use), so outputs are
nbformat outputs that nbgrader's own grading rules (``nbgrader.utils.determine_grade``) understand.

Where labs are found can be moved for the harness's own tests (``tests/fixtures/``):
``COURSE_TEST_SOLUTIONS`` (default ``solutions/``) and ``COURSE_TEST_MUTANTS`` (default ``tests/mutants/``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "dlcourse"
#: Seconds one cell may run before it is interrupted (the solution budget is 120 s per notebook on 2 cores).
CELL_TIMEOUT = float(os.environ.get("COURSE_TEST_CELL_TIMEOUT", "600"))
#: user_properties key under which a test hands its notebook timings to the end-of-run table (see conftest.py).
TIMINGS_PROPERTY = "notebook_timings"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def solutions_dir() -> Path:
    return Path(os.environ.get("COURSE_TEST_SOLUTIONS") or ROOT / "solutions").resolve()


def mutants_dir() -> Path:
    return Path(os.environ.get("COURSE_TEST_MUTANTS") or ROOT / "tests" / "mutants").resolve()


def labs() -> list[str]:
    """Labs with a source notebook ``<solutions>/<lab>/<lab>.ipynb``, in order; discovered at every call."""
    found = solutions_dir().glob("lab*/lab*.ipynb")
    return sorted(path.parent.name for path in found if path.stem == path.parent.name)


def notebook_path(lab: str) -> Path:
    return solutions_dir() / lab / f"{lab}.ipynb"


def read_notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def labs_with_mutants() -> list[str]:
    return [lab for lab in labs() if (mutants_dir() / f"{lab}.py").exists()]


def load_mutants(lab: str) -> list:
    """The ``MUTANTS`` list of ``<mutants dir>/<lab>.py`` (the package ``tests/mutants`` or a fixture folder)."""
    path = mutants_dir() / f"{lab}.py"
    if path.parent.resolve() == (ROOT / "tests" / "mutants").resolve():
        module = importlib.import_module(f"mutants.{lab}")
    else:  # a fixture: its file imports ``from mutants import Mutant``
        spec = importlib.util.spec_from_file_location(f"fixture_mutants_{lab}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    mutants = getattr(module, "MUTANTS", None)
    if not isinstance(mutants, list | tuple):
        raise TypeError(f"{path}: expected a list MUTANTS of Mutant, found {type(mutants).__name__}")
    names = [mutant.name for mutant in mutants]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{path}: mutant names must be unique within a lab, duplicated: {duplicated}")
    return list(mutants)


# --------------------------------------------------------------------------------------------- cells


def nbgrader_metadata(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell) -> str | None:
    return nbgrader_metadata(cell).get("grade_id")


def is_test_cell(cell) -> bool:
    """An autograded test cell: ``grade: true`` on a code cell that is not also a solution cell."""
    metadata = nbgrader_metadata(cell)
    return cell.cell_type == "code" and bool(metadata.get("grade")) and not metadata.get("solution")


def cell_label(cell, index: int) -> str:
    """How timings and messages name a cell: its grade_id, else its position among the code cells."""
    return grade_id(cell) or f"cell {index}"


def strip_ansi(text: str) -> str:
    return ANSI_ESCAPE.sub("", text)


@dataclass
class CellRun:
    """What one execution of one cell produced."""

    name: str
    outputs: list = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False
    kernel_died: bool = False

    @property
    def errors(self) -> list:
        return [output for output in self.outputs if output.get("output_type") == "error"]

    @property
    def stdout(self) -> str:
        return "".join(
            o.get("text", "") for o in self.outputs if o.get("output_type") == "stream" and o.name == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            o.get("text", "") for o in self.outputs if o.get("output_type") == "stream" and o.name == "stderr"
        )

    @property
    def raised(self) -> bool:
        """The cell ended with an error output (or never finished)."""
        return bool(self.errors) or self.timed_out or self.kernel_died

    @property
    def passed(self) -> bool:
        """nbgrader's rule for a test cell: no error output and nothing on stderr."""
        return not self.raised and not self.stderr.strip()

    @property
    def error(self) -> str:
        """``Name: message`` of the error, or the reason the cell did not finish; empty when it did not raise."""
        if self.kernel_died:
            return "the kernel died"
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s"
        return "\n".join(f"{output.ename}: {output.evalue}" for output in self.errors)

    def describe(self, limit: int = 1500) -> str:
        """What the cell printed and raised, for a failure message (the end, where the verdict is)."""
        parts = []
        if self.stdout.strip():
            parts.append("stdout:\n" + self.stdout.rstrip())
        if self.stderr.strip():
            parts.append("stderr:\n" + self.stderr.rstrip())
        for output in self.errors:
            traceback = strip_ansi("\n".join(output.get("traceback", [])[-3:]))
            parts.append(f"raised {output.ename}: {output.evalue}" + (f"\n{traceback}" if traceback else ""))
        if self.timed_out or self.kernel_died:
            parts.append(self.error)
        text = "\n".join(parts) or "(no output)"
        return text if len(text) <= limit else "...\n" + text[-limit:]


class KernelSession:
    """One course kernel started in ``cwd``; ``run`` executes one cell's source and returns its outputs.

    Every run is timed under the given name; ``take_timings`` hands the timings over to the end-of-run table.
    """

    def __init__(self, cwd: Path, label: str, cell_timeout: float = CELL_TIMEOUT, startup_timeout: float = 120):
        self.cwd = Path(cwd)
        self.label = label
        self.cell_timeout = cell_timeout
        self._scratch = nbformat.v4.new_notebook(
            metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": KERNEL_NAME, "language": "python"}}
        )
        self.client = NotebookClient(
            self._scratch,
            kernel_name=KERNEL_NAME,
            timeout=int(cell_timeout),
            startup_timeout=int(startup_timeout),
            allow_errors=True,
            interrupt_on_timeout=False,  # we interrupt ourselves, so a timeout is reported as one
            record_timing=False,
            resources={"metadata": {"path": str(self.cwd)}},
        )
        self.timings: list[tuple[str, float]] = []
        self.dead = False
        self.client.km = self.client.create_kernel_manager()
        self.client.start_new_kernel(cwd=str(self.cwd))
        self.client.start_new_kernel_client()

    def run(self, source: str, name: str) -> CellRun:
        """Execute ``source`` as one cell (without history); never raises for what the cell does."""
        cell = nbformat.v4.new_code_cell(source)
        self._scratch.cells = [cell]
        result = CellRun(name)
        started = time.perf_counter()
        if self.dead:
            result.kernel_died = True
            return result
        try:
            self.client.execute_cell(cell, 0, store_history=False)
        except CellTimeoutError:
            result.timed_out = True
            self._interrupt()
        except DeadKernelError:
            result.kernel_died = True
            self.dead = True
        result.seconds = time.perf_counter() - started
        result.outputs = list(cell.get("outputs", []))
        self.timings.append((name, result.seconds))
        return result

    def _interrupt(self) -> None:
        """Stop a cell that ran past its time and wait until the kernel listens again."""
        try:
            self.client.km.interrupt_kernel()
            probe = nbformat.v4.new_code_cell("pass")
            self._scratch.cells = [probe]
            self.client.execute_cell(probe, 0, store_history=False)
        except Exception:  # a kernel that does not come back is as good as dead
            self.dead = True

    def alive(self) -> bool:
        return not self.dead and self.client.km is not None and bool(run_sync(self.client.km.is_alive)())

    def take_timings(self) -> dict:
        """This session's cell timings since the last call, as a record for ``TIMINGS_PROPERTY``."""
        taken, self.timings = self.timings, []
        return {"notebook": self.label, "cells": [[name, round(seconds, 3)] for name, seconds in taken]}

    def close(self) -> None:
        if self.client.km is not None:
            self.client._cleanup_kernel()


def attach_timings(node, *records: dict) -> None:
    """Hand timing records to the end-of-run table through the test's report (works under pytest-xdist)."""
    for record in records:
        if record["cells"]:
            node.user_properties.append((TIMINGS_PROPERTY, record))


def code_cells(notebook) -> list[tuple[int, object]]:
    """(position among code cells, cell) for every code cell, in notebook order."""
    return list(enumerate(cell for cell in notebook.cells if cell.cell_type == "code"))

"""Run notebook cells one at a time in a live course kernel; the shared engine of the notebook tests.

Used by the mutant suite (execute a lab once, then swap in wrong answers and re-run only the affected cells) and by
the student-notebook test. Execution talks to the kernel with jupyter_client's blocking client, like nbval, so the
mutant suite can continue in the kernel nbval used for the same notebook; outputs are nbformat outputs that
nbgrader's grading rules (``nbgrader.utils.determine_grade``) understand.

Where labs are found can be moved for the harness's own tests (``tests/fixtures/``):
``COURSE_TEST_SOLUTIONS`` (default ``solutions/``) and ``COURSE_TEST_MUTANTS`` (default ``tests/mutants/``).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "dlcourse"
#: Seconds one cell may run before it is interrupted (the solution budget is 120 s per notebook on 2 cores).
CELL_TIMEOUT = float(os.environ.get("COURSE_TEST_CELL_TIMEOUT", "600"))
#: user_properties key under which a test hands its notebook timings to the end-of-run table (see conftest.py).
TIMINGS_PROPERTY = "notebook_timings"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Kernels nbval leaves behind for the mutant suite, per lab (this process only): conftest.py fills it when nbval
#: finishes a solution notebook whose mutants run next on the same worker; test_mutants.py takes them over.
#: ``COURSE_TEST_SHARE_NBVAL_KERNEL=0`` switches the hand-over off (the mutant suite then runs the notebook itself).
NBVAL_HANDOVER: dict[str, dict] = {}


def share_nbval_kernel() -> bool:
    return os.environ.get("COURSE_TEST_SHARE_NBVAL_KERNEL", "1") != "0"


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


def alternatives_dir() -> Path:
    """``alternatives/`` beside the mutants folder (``tests/alternatives``, or a fixture course's own)."""
    return Path(os.environ.get("COURSE_TEST_ALTERNATIVES") or mutants_dir().parent / "alternatives").resolve()


def _load_records(lab: str, folder: Path, package: str, variable: str) -> list:
    """The list ``variable`` of ``<folder>/<lab>.py`` (the package ``tests/<package>`` or a fixture folder)."""
    path = folder / f"{lab}.py"
    if not path.exists():
        return []
    if path.parent.resolve() == (ROOT / "tests" / package).resolve():
        module = importlib.import_module(f"{package}.{lab}")
    else:  # a fixture: its file imports ``from mutants import Mutant``
        spec = importlib.util.spec_from_file_location(f"fixture_{package}_{lab}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    records = getattr(module, variable, None)
    if not isinstance(records, list | tuple):
        raise TypeError(f"{path}: expected a list {variable}, found {type(records).__name__}")
    names = [record.name for record in records]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{path}: names must be unique within a lab, duplicated: {duplicated}")
    return list(records)


def load_mutants(lab: str) -> list:
    """The ``MUTANTS`` list of ``<mutants dir>/<lab>.py`` (the package ``tests/mutants`` or a fixture folder)."""
    return _load_records(lab, mutants_dir(), "mutants", "MUTANTS")


def suite_counts() -> dict[str, tuple[int, int]]:
    """(mutants, alternatives) per lab; (-1, -1) where a file cannot be loaded (its tests say why)."""
    counts = {}
    for lab in labs_with_mutants():
        try:
            counts[lab] = (len(load_mutants(lab)), len(load_alternatives(lab)))
        except Exception:  # noqa: BLE001 - reported by the tests themselves
            counts[lab] = (-1, -1)
    return counts


def load_alternatives(lab: str) -> list:
    """The ``ALTERNATIVES`` list of ``<alternatives dir>/<lab>.py`` (empty when the lab has none)."""
    return _load_records(lab, alternatives_dir(), "alternatives", "ALTERNATIVES")


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
    """One course kernel in ``cwd``; ``run`` executes one cell's source and returns its nbformat outputs.

    Started here (``KernelSession(cwd, label)``) or taken over from nbval once it has executed a notebook
    (``KernelSession.adopt``). Every run is timed under the given name; ``take_timings`` hands the timings over to
    the end-of-run table.
    """

    def __init__(self, cwd: Path, label: str, cell_timeout: float = CELL_TIMEOUT, startup_timeout: float = 120, *,
                 manager: KernelManager | None = None, client=None):  # fmt: skip
        self.cwd = Path(cwd)
        self.label = label
        self.cell_timeout = cell_timeout
        self.timings: list[tuple[str, float]] = []
        self.dead = False
        if manager is None:
            manager, client = self._start(startup_timeout)
        elif client is None:
            client = manager.client()
            client.start_channels()
        self.manager = manager
        self.client = client
        self.client.allow_stdin = False

    def _start(self, startup_timeout: float, attempts: int = 3):
        """Start a kernel in ``cwd``; retry when it dies on start-up (a port taken by a kernel starting beside it)."""
        for attempt in range(1, attempts + 1):
            manager = KernelManager(kernel_name=KERNEL_NAME)
            manager.start_kernel(cwd=str(self.cwd), stderr=subprocess.DEVNULL)
            client = manager.client()
            client.start_channels()
            try:
                client.wait_for_ready(timeout=startup_timeout)
                return manager, client
            except RuntimeError:
                client.stop_channels()
                if manager.has_kernel:
                    manager.shutdown_kernel(now=True)
                if attempt == attempts:
                    raise
                time.sleep(attempt)
        raise AssertionError("unreachable")

    @classmethod
    def adopt(cls, manager, client, cwd: Path, label: str, cell_timeout: float = CELL_TIMEOUT) -> KernelSession:
        """Continue in a kernel someone else started (nbval's, after it ran the notebook)."""
        return cls(cwd, label, cell_timeout, manager=manager, client=client)

    def run(self, source: str, name: str) -> CellRun:
        """Execute ``source`` as one cell (without history); never raises for what the cell does."""
        result = CellRun(name)
        if self.dead:
            result.kernel_died = True
            return result
        started = time.perf_counter()
        self._drain()
        message_id = self.client.execute(source, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = started + self.cell_timeout
        outputs: list = []
        while True:
            try:
                message = self.client.get_iopub_msg(timeout=1)
            except Empty:
                if not self.manager.is_alive():
                    result.kernel_died = self.dead = True
                    break
                if time.perf_counter() > deadline:
                    result.timed_out = True
                    self._interrupt(message_id)
                    break
                continue
            if message["parent_header"].get("msg_id") != message_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "status" and message["content"]["execution_state"] == "idle":
                break
            if kind == "clear_output":
                outputs.clear()
            elif kind in ("stream", "display_data", "execute_result", "error"):
                _append_output(outputs, nbformat.v4.output_from_msg(message))
        result.seconds = time.perf_counter() - started
        result.outputs = outputs
        self.timings.append((name, result.seconds))
        return result

    def _drain(self) -> None:
        """Drop messages left from earlier requests (a timed-out cell, nbval's last cell)."""
        for get in (self.client.get_iopub_msg, self.client.get_shell_msg):
            while True:
                try:
                    get(timeout=0.01)
                except Empty:
                    break

    def _interrupt(self, message_id: str) -> None:
        """Stop a cell that ran past its time and wait until the kernel is idle again."""
        self.manager.interrupt_kernel()
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            try:
                message = self.client.get_iopub_msg(timeout=1)
            except Empty:
                continue
            if (message["parent_header"].get("msg_id") == message_id and message["header"]["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"):  # fmt: skip
                return
        self.dead = True  # a kernel that does not come back is as good as dead

    def alive(self) -> bool:
        return not self.dead and self.manager.is_alive()

    def take_timings(self) -> dict:
        """This session's cell timings since the last call, as a record for ``TIMINGS_PROPERTY``."""
        taken, self.timings = self.timings, []
        return {"notebook": self.label, "cells": [[name, round(seconds, 3)] for name, seconds in taken]}

    def close(self) -> None:
        try:
            self.client.stop_channels()
        except Exception:  # closing twice, or a client that never started
            pass
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)


def _append_output(outputs: list, output) -> None:
    """Add an output, joining consecutive text on the same stream (as a notebook shows it)."""
    if (output.output_type == "stream" and outputs and outputs[-1].output_type == "stream"
            and outputs[-1].name == output.name):  # fmt: skip
        outputs[-1].text += output.text
    else:
        outputs.append(output)


def attach_timings(node, *records: dict) -> None:
    """Hand timing records to the end-of-run table through the test's report (works under pytest-xdist)."""
    for record in records:
        if record["cells"]:
            node.user_properties.append((TIMINGS_PROPERTY, record))


def cell_names(source: str) -> tuple[set[str], set[str], set[str]] | None:
    """(functions and classes a cell defines, every name it binds, names it reads), or None if unparsable."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return None
    callables: set[str] = set()
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            callables.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            bound.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    read |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}  # methods of a changed class
    return callables, bound | callables, read


def affected_cells(cells: dict[str, str], changed: list[str]) -> set[str]:
    """grade_ids of the cells whose behaviour may differ when the ``changed`` cells are re-run with other code.

    Everything the changed cells bind is new. Another cell is affected when it reads a new name; the functions and
    classes it defines then count as new too (they look their globals up when called), its other names do not (the
    cell is not re-run: they keep the reference's values). A cell that cannot be parsed counts as affected.
    """
    names = {cell_id: cell_names(source) for cell_id, source in cells.items()}
    new_names: set[str] = set()
    for cell_id in changed:
        parsed = names.get(cell_id)
        if parsed is None:
            return set(cells)
        new_names |= parsed[1]
    affected = set(changed)
    grew = True
    while grew:
        grew = False
        for cell_id, parsed in names.items():
            if cell_id not in affected and (parsed is None or parsed[2] & new_names):
                affected.add(cell_id)
                new_names |= parsed[0] if parsed is not None else set()
                grew = True
    return affected


def code_cells(notebook) -> list[tuple[int, object]]:
    """(position among code cells, cell) for every code cell, in notebook order."""
    return list(enumerate(cell for cell in notebook.cells if cell.cell_type == "code"))

"""Tests that measure: every hidden test must reject the plausible wrong answers in tests/mutants/<lab>.py, and
every correct answer written differently (tests/alternatives/<lab>.py) must pass every test cell.

Per lab, ONE kernel (in the lab's folder, where nbgrader runs it) executes the solution notebook once; the reference
must pass every test cell. When nbval (``make test``) has just run the same notebook on the same worker, the suite
continues in nbval's kernel instead of executing the notebook a second time (see conftest.py). Then each mutant
(test id ``<lab>::<mutant>``) runs its edited cell and the cells named in ``rerun``, checks that every ``caught_by``
test cell (full source, hidden tests included) fails with an error, and restores the reference by re-running the
original cell and the ``rerun`` cells. Each alternative (``<lab>::alt::<name>``) runs the same way, but every test cell
after its cell must pass. No notebook is executed twice. The run ends with the number of mutants and alternatives
per lab.

Under pytest-xdist a lab's tests carry ``xdist_group(<lab>)``, so with ``--dist loadgroup`` (conftest.py switches
``-n`` runs to it) one worker owns each lab's kernel.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import pytest
from notebook_runner import (
    NBVAL_HANDOVER,
    CellRun,
    KernelSession,
    affected_cells,
    attach_timings,
    cell_label,
    code_cells,
    grade_id,
    is_test_cell,
    labs_with_mutants,
    load_alternatives,
    load_mutants,
    notebook_path,
    read_notebook,
    suite_counts,
)

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
#: conftest.py runs each lab's tests in this order, lab after lab (one live kernel at a time).
ORDER_WITHIN_LAB = (
    "test_reference_passes_every_test_cell",
    "test_mutant_is_caught",
    "test_alternative_keeps_every_point",
    "test_reference_passes_after_all_mutants",
)

#: Re-run the ``caught_by`` tests after a restore when they took at most this long on the reference (seconds);
#: ``test_reference_passes_after_all_mutants`` checks every test cell at the end anyway.
CHEAP_RESTORE_CHECK_SECONDS = 5.0


class LabKernel:
    """A kernel that has executed one lab's reference solution, with its code cells indexed by grade_id."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self.path = notebook_path(lab)
        self.notebook = read_notebook(self.path)
        self.cells = {grade_id(cell): cell for _, cell in code_cells(self.notebook) if grade_id(cell)}
        self.test_cells = [cell_id for cell_id, cell in self.cells.items() if is_test_cell(cell)]
        self.reference_seconds: dict[str, float] = {}
        self.label = f"{lab} [mutant kernel]"
        self.adopted = False
        self.session: KernelSession | None = None
        self.reference_failures: dict[str, str] = {}
        self.start()

    def start(self) -> None:
        """Take over nbval's kernel for this notebook if it left one, else (re)start one and run the reference."""
        if self.session is not None:
            self.session.close()
        self.reference_failures = {}
        handed = NBVAL_HANDOVER.pop(self.lab, None)
        cells = code_cells(self.notebook)
        if handed and all(index in handed["cells"] for index, _ in cells):
            self.session = KernelSession.adopt(handed["manager"], handed["client"], self.path.parent, self.label)
            self.adopted = True
            for index, cell in cells:
                self._judge(cell, cell_label(cell, index), handed["cells"][index])
            return
        if handed:  # nbval skipped or lost cells: its kernel is not in the reference state
            KernelSession.adopt(handed["manager"], handed["client"], self.path.parent, self.label).close()
        self.session = KernelSession(self.path.parent, label=self.label)
        self.adopted = False
        for index, cell in cells:
            result = self.session.run(cell.source, name=cell_label(cell, index))
            self._judge(cell, result.name, result)
            if result.kernel_died:
                break

    def _judge(self, cell, name: str, result: CellRun) -> None:
        """Record a reference cell's time, and its failure: a test cell must pass, other cells must not raise."""
        self.reference_seconds[name] = result.seconds
        if (is_test_cell(cell) and not result.passed) or result.raised:
            self.reference_failures[name] = result.describe()

    def source(self, cell_id: str, role: str, mutant_name: str) -> str:
        if cell_id not in self.cells:
            pytest.fail(
                f"mutant {mutant_name!r} of {self.lab}: unknown grade_id {cell_id!r} in `{role}`; "
                f"the code cells of {self.path.name} with a grade_id are: {sorted(self.cells)}",
                pytrace=False,
            )
        return self.cells[cell_id].source

    def run(self, source: str, name: str) -> CellRun:
        return self.session.run(source, name=name)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


@pytest.fixture(scope="module")
def lab_kernel(request):
    """One kernel per lab (parametrized indirectly with the lab's name), shared by that lab's tests."""
    kernel = LabKernel(request.param)
    yield kernel
    kernel.close()


def _lab_param(lab: str):
    return pytest.param(lab, id=lab, marks=pytest.mark.xdist_group(lab))


def _mutant_params():
    for lab in labs_with_mutants():
        try:
            mutants = load_mutants(lab)
        except Exception as error:  # a broken mutants file is one failing test, not a collection error
            yield pytest.param(lab, error, id=f"{lab}::<mutants file>", marks=pytest.mark.xdist_group(lab))
            continue
        for mutant in mutants:
            yield pytest.param(lab, mutant, id=f"{lab}::{mutant.name}", marks=pytest.mark.xdist_group(lab))


def _alternative_params():
    for lab in labs_with_mutants():
        try:
            alternatives = load_alternatives(lab)
        except Exception as error:  # a broken file is one failing test, not a collection error
            yield pytest.param(lab, error, id=f"{lab}::alt::<alternatives file>", marks=pytest.mark.xdist_group(lab))
            continue
        for alternative in alternatives:
            yield pytest.param(
                lab, alternative, id=f"{lab}::alt::{alternative.name}", marks=pytest.mark.xdist_group(lab)
            )


LABS = [_lab_param(lab) for lab in labs_with_mutants()]


@pytest.mark.parametrize("lab_kernel", LABS, indirect=True)
def test_reference_passes_every_test_cell(lab_kernel, request):
    attach_timings(request.node, lab_kernel.session.take_timings())
    assert lab_kernel.test_cells, f"{lab_kernel.lab}: the solution notebook has no graded test cells"
    failures = "\n".join(f"--- {name}\n{text}" for name, text in lab_kernel.reference_failures.items())
    assert not lab_kernel.reference_failures, f"{lab_kernel.lab}: the reference solution fails:\n{failures}"


@pytest.mark.parametrize("lab_kernel, mutant", list(_mutant_params()), indirect=["lab_kernel"])
def test_mutant_is_caught(lab_kernel, mutant, request):
    if isinstance(mutant, Exception):
        pytest.fail(f"{lab_kernel.lab}: cannot load its mutants: {type(mutant).__name__}: {mutant}", pytrace=False)
    if not lab_kernel.session.alive():
        lab_kernel.start()  # an earlier mutant killed the kernel (and failed for it)
    if lab_kernel.reference_failures:
        pytest.skip(f"the reference of {lab_kernel.lab} fails (see test_reference_passes_every_test_cell)")
    try:
        _check_mutant(lab_kernel, mutant)
    finally:
        attach_timings(request.node, lab_kernel.session.take_timings())


def _check_mutant(kernel: LabKernel, mutant) -> None:
    name = mutant.name
    original = kernel.source(mutant.cell, "cell", name)
    rerun = {cell_id: kernel.source(cell_id, "rerun", name) for cell_id in mutant.rerun}
    tests = {cell_id: kernel.source(cell_id, "caught_by", name) for cell_id in mutant.caught_by}
    not_tests = [cell_id for cell_id in tests if not is_test_cell(kernel.cells[cell_id])]
    assert not not_tests, f"mutant {name!r}: `caught_by` names cells that are not graded test cells: {not_tests}"
    try:
        mutated = mutant.apply(original)
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)
    assert mutated != original, f"mutant {name!r}: the edit leaves cell {mutant.cell!r} unchanged"

    with _edited(kernel, mutant, original, mutated, "mutated", rerun, recheck=tests) as edit:
        if edit.broken:
            cell_id, result = edit.broken
            verdict = (
                f"mutant {name!r} of {kernel.lab}: cell {cell_id!r} raised while setting the mutant up, so its test "
                f"cells would only see the reference's leftovers. A mutant must run, and be caught by a test cell.\n"
                f"{result.describe()}"
            )
        else:
            verdict = _uncaught(kernel, mutant, tests)
    problems = [text for text in (verdict, edit.restore_problem) if text]
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@dataclass
class Edit:
    """A mutant or an alternative set up in the kernel: the set-up cell that raised (and its run), if one did;
    after the ``with`` block, what went wrong while restoring the reference ('' when nothing)."""

    broken: tuple[str, CellRun] | None = None
    restore_problem: str = ""


@contextlib.contextmanager
def _edited(kernel: LabKernel, record, original: str, edited: str, label: str, rerun: dict[str, str],
            recheck: dict[str, str]):  # fmt: skip
    """Run ``edited`` in place of ``record.cell``, then the ``rerun`` cells, stopping at the first that raises;
    after the block, whatever happened in it, put the reference back (``_restore``; ``recheck``: test cells to run
    again when they are cheap). The mutant and alternative tests share this set-up and restore."""
    edit = Edit()
    try:
        for cell_id, source in [(record.cell, edited), *rerun.items()]:
            suffix = f" ({label})" if cell_id == record.cell else ""
            result = kernel.run(source, f"{record.name}: {cell_id}{suffix}")
            if result.raised:
                edit.broken = (cell_id, result)
                break
        yield edit
    finally:
        edit.restore_problem = _restore(kernel, record, original, rerun, recheck)


def _uncaught(kernel: LabKernel, mutant, tests: dict[str, str]) -> str:
    """Run the mutant's test cells; return why it fails the suite ('' when it is caught)."""
    lab, name = kernel.lab, mutant.name
    survivors = {}
    for cell_id, source in tests.items():
        result = kernel.run(source, f"{name}: {cell_id}")
        if not result.errors:
            survivors[cell_id] = result
    if not survivors:
        return ""
    details = "\n".join(f"--- {cell_id} printed:\n{result.describe()}" for cell_id, result in survivors.items())
    return (
        f"mutant {name!r} of {lab} (cell {mutant.cell!r}) was NOT caught by test cell(s) {sorted(survivors)}: "
        f"they ended without an error.\n{details}"
    )


def _restore(kernel: LabKernel, mutant, original: str, rerun: dict[str, str], tests: dict[str, str]) -> str:
    """Put the reference back and check it when the affected tests are cheap; return what went wrong, if anything."""
    name = mutant.name
    if not kernel.session.alive():
        kernel.start()
        return f"mutant {name!r} of {kernel.lab} killed the kernel (it was restarted and the reference re-executed)"
    restored = [(mutant.cell, kernel.run(original, f"{name}: restore {mutant.cell}"))]
    restored += [(cell_id, kernel.run(source, f"{name}: restore {cell_id}")) for cell_id, source in rerun.items()]
    for cell_id, result in restored:
        if result.raised:
            kernel.start()
            return (
                f"restoring cell {cell_id!r} after mutant {name!r} failed (the kernel was restarted and the reference "
                f"re-executed):\n{result.describe()}"
            )
    if sum(kernel.reference_seconds.get(cell_id, 0.0) for cell_id in tests) <= CHEAP_RESTORE_CHECK_SECONDS:
        for cell_id, source in tests.items():
            result = kernel.run(source, f"{name}: re-check {cell_id}")
            if not result.passed:
                kernel.start()
                return (
                    f"after mutant {name!r}, the restored reference fails {cell_id!r} (did the mutant leave state "
                    f"behind?):\n{result.describe()}"
                )
    return ""


@pytest.mark.parametrize("lab_kernel, alternative", list(_alternative_params()), indirect=["lab_kernel"])
def test_alternative_keeps_every_point(lab_kernel, alternative, request):
    """A correct answer written otherwise than the reference passes every later test cell that can see it.

    Test cells that read no name the edited and re-run cells bind (directly, or through a function or class that
    reads one) see exactly the reference's objects, so they are not run again (``affected_cells``).
    """
    if isinstance(alternative, Exception):
        pytest.fail(f"{lab_kernel.lab}: cannot load its alternatives: {type(alternative).__name__}: {alternative}",
                    pytrace=False)  # fmt: skip
    if not lab_kernel.session.alive():
        lab_kernel.start()
    if lab_kernel.reference_failures:
        pytest.skip(f"the reference of {lab_kernel.lab} fails (see test_reference_passes_every_test_cell)")
    try:
        _check_alternative(lab_kernel, alternative)
    finally:
        attach_timings(request.node, lab_kernel.session.take_timings())


def _check_alternative(kernel: LabKernel, alternative) -> None:
    name = alternative.name
    original = kernel.source(alternative.cell, "cell", name)
    rerun = {cell_id: kernel.source(cell_id, "rerun", name) for cell_id in alternative.rerun}
    try:
        edited = alternative.apply(original)
    except ValueError as error:
        pytest.fail(str(error), pytrace=False)
    assert edited != original, f"alternative {name!r}: the edit leaves cell {alternative.cell!r} unchanged"
    order = list(kernel.cells)
    after = order.index(alternative.cell)
    sources = {cell_id: cell.source for cell_id, cell in kernel.cells.items()}
    sources[alternative.cell] = edited
    affected = affected_cells(sources, [alternative.cell, *rerun])
    tests = {cell_id: sources[cell_id] for cell_id in kernel.test_cells
             if order.index(cell_id) > after and cell_id in affected}  # fmt: skip
    problems = []
    with _edited(kernel, alternative, original, edited, "alternative", rerun, recheck={}) as edit:
        if edit.broken:
            problems.append(f"--- {edit.broken[0]} raised:\n{edit.broken[1].describe()}")
        else:
            for cell_id, source in tests.items():
                result = kernel.run(source, f"{name}: {cell_id}")
                if not result.passed:
                    problems.append(f"--- {cell_id} failed:\n{result.describe()}")
    if edit.restore_problem:
        problems.append(edit.restore_problem)
    if problems:
        pytest.fail(
            f"alternative {name!r} of {kernel.lab} (cell {alternative.cell!r}: {alternative.why}) loses points:\n"
            + "\n".join(problems),
            pytrace=False,
        )


@pytest.mark.parametrize("lab_kernel", LABS, indirect=True)
def test_suite_has_more_alternatives_than_mutants(lab_kernel):
    """Issue 17: at least as many correct alternatives as mutants per lab."""
    mutants, alternatives = suite_counts()[lab_kernel.lab]
    print(f"{lab_kernel.lab}: {mutants} mutants, {alternatives} alternatives")
    assert alternatives >= mutants, f"{lab_kernel.lab}: {alternatives} alternatives for {mutants} mutants"


@pytest.mark.parametrize("lab_kernel", LABS, indirect=True)
def test_reference_passes_after_all_mutants(lab_kernel, request):
    """Every restore worked: all test cells pass again in the kernel the mutants ran in."""
    if lab_kernel.reference_failures:
        pytest.skip(f"the reference of {lab_kernel.lab} fails (see test_reference_passes_every_test_cell)")
    results = {
        cell_id: lab_kernel.run(lab_kernel.cells[cell_id].source, f"final {cell_id}")
        for cell_id in lab_kernel.test_cells
    }
    attach_timings(request.node, lab_kernel.session.take_timings())
    failing = {cell_id: result.describe() for cell_id, result in results.items() if not result.passed}
    assert not failing, f"{lab_kernel.lab}: after the mutants, the reference fails {failing}"

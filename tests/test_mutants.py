"""Tests that can fail: every hidden test must reject the plausible wrong answers in tests/mutants/<lab>.py.

Each lab's solution notebook runs ONCE in one kernel (in the lab's folder, as nbgrader runs it); the reference must
pass every test cell. Then each mutant swaps in its wrong cell, re-runs the cells it names, checks that every
`caught_by` test cell fails, and restores the reference.
"""

from __future__ import annotations

import importlib

import pytest
from notebook_runner import SOLUTIONS, KernelSession, grade_id, is_test_cell, labs, source_notebook

pytestmark = [pytest.mark.notebook, pytest.mark.slow]

LABS_WITH_MUTANTS = [lab for lab in labs() if importlib.util.find_spec(f"mutants.{lab}") is not None]


def lab_mutants(lab: str) -> list:
    return importlib.import_module(f"mutants.{lab}").MUTANTS


class LabKernel:
    """A kernel that has executed one lab's reference solution, with its cells indexed by grade_id."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        notebook = source_notebook(lab)
        self.cells = {grade_id(cell): cell for cell in notebook.cells if grade_id(cell)}
        self.session = KernelSession(SOLUTIONS / lab, label=f"{lab} (mutant kernel)")
        self.reference_failures = {}
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            result = self.session.run(cell.source, name=grade_id(cell) or cell.get("id") or f"cell {index}")
            if is_test_cell(cell) and not result.passed:
                self.reference_failures[grade_id(cell)] = result.describe()
            elif not result.ok:
                self.reference_failures[grade_id(cell) or f"cell {index}"] = result.describe()

    def cell_source(self, cell_id: str) -> str:
        if cell_id not in self.cells:
            raise KeyError(f"{self.lab}: no cell with grade_id {cell_id!r} (have {sorted(self.cells)})")
        return self.cells[cell_id].source


_KERNELS: dict[str, LabKernel] = {}


@pytest.fixture(scope="module")
def lab_kernels():
    yield _kernel_for
    for kernel in _KERNELS.values():
        kernel.session.close()
    _KERNELS.clear()


def _kernel_for(lab: str) -> LabKernel:
    if lab not in _KERNELS:
        for other in list(_KERNELS):  # one live kernel at a time keeps memory low
            _KERNELS.pop(other).session.close()
        _KERNELS[lab] = LabKernel(lab)
    return _KERNELS[lab]


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xdist_group(lab)) for lab in LABS_WITH_MUTANTS])
def test_reference_passes_every_test_cell(lab_kernels, lab):
    kernel = lab_kernels(lab)
    assert not kernel.reference_failures, f"{lab}: the reference solution fails: {kernel.reference_failures}"
    assert any(is_test_cell(cell) for cell in kernel.cells.values())


def _mutant_params():
    for lab in LABS_WITH_MUTANTS:
        for mutant in lab_mutants(lab):
            yield pytest.param(lab, mutant, id=f"{lab}::{mutant.name}", marks=pytest.mark.xdist_group(lab))


@pytest.mark.parametrize("lab, mutant", list(_mutant_params()))
def test_mutant_is_caught(lab_kernels, lab, mutant):
    kernel = lab_kernels(lab)
    if kernel.reference_failures:
        pytest.fail(f"{lab}: reference fails, mutants are meaningless: {kernel.reference_failures}")
    original = kernel.cell_source(mutant.cell)
    rerun = [kernel.cell_source(cell_id) for cell_id in mutant.rerun]
    tests = {cell_id: kernel.cell_source(cell_id) for cell_id in mutant.caught_by}
    for cell_id in tests:
        assert is_test_cell(kernel.cells[cell_id]), f"{mutant.name}: {cell_id!r} is not a graded test cell"
    mutated = mutant.apply(original)
    assert mutated != original, f"{mutant.name}: the mutation changes nothing"
    try:
        result = kernel.session.run(mutated, name=f"mutant {mutant.name}")
        for source in rerun:
            kernel.session.run(source)
        survivors = {}
        for cell_id, source in tests.items():
            outcome = kernel.session.run(source)
            if outcome.passed:
                survivors[cell_id] = outcome.stdout[-800:]
        assert not survivors, (
            f"mutant {mutant.name!r} of cell {mutant.cell!r} was NOT caught by {sorted(survivors)}"
            f" (the mutated cell itself {'ran' if result.ok else 'raised: ' + result.error}). Test output:\n"
            + "\n".join(f"--- {cell_id}\n{text}" for cell_id, text in survivors.items())
        )
    finally:
        kernel.session.run(original)
        for source in rerun:
            kernel.session.run(source)
        assert kernel.session.alive(), f"mutant {mutant.name} killed the kernel"


@pytest.mark.parametrize("lab", [pytest.param(lab, marks=pytest.mark.xdist_group(lab)) for lab in LABS_WITH_MUTANTS])
def test_reference_still_passes_after_mutants(lab_kernels, lab):
    """The restore after each mutant worked: the test cells pass again."""
    kernel = lab_kernels(lab)
    mutated_cells = {mutant.cell for mutant in lab_mutants(lab)}
    checked = {cell_id for mutant in lab_mutants(lab) for cell_id in mutant.caught_by}
    assert mutated_cells
    for cell_id in sorted(checked):
        outcome = kernel.session.run(kernel.cell_source(cell_id))
        assert outcome.passed, f"{lab}: {cell_id} fails after restoring the reference: {outcome.describe()}"

"""pytest plugin: the mutant suite continues in the kernel nbval used for the same solution notebook.

Without it, ``make test`` executes every solution notebook twice: once under nbval, once more in the mutant
suite's kernel (``tests/test_mutants.py``) before the first mutant. With it, nbval's kernel is left running when
nbval ran the whole notebook, together with what each cell printed, and the mutant suite adopts both
(``notebook_runner.NBVAL_HANDOVER``). ``benchmarks/bench_test_suite.py --share-kernel on,off`` measures the saving;
``COURSE_TEST_SHARE_NBVAL_KERNEL=0`` switches it off.

It needs a lab's nbval cells and mutant tests in one process, in that order: tests/conftest.py groups them
(``--dist loadgroup``) and orders them (``LabOrder``), and asks :func:`handover_lab` which notebook hands over.
nbval stops its kernel in ``IPyNbFile.teardown`` and offers no hook to keep it, hence the wrapped teardown
(nbval 0.11.0).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_runner import NBVAL_HANDOVER, CellRun, cell_label, notebook_path, share_nbval_kernel


def handover_lab(notebook: Path, mutant_labs: set[str], stays_together: bool) -> str | None:
    """The lab whose mutant suite will adopt the kernel nbval runs ``notebook`` in, or None."""
    lab = notebook.stem if notebook.stem in mutant_labs else None
    if lab and notebook.resolve() == notebook_path(lab).resolve() and share_nbval_kernel() and stays_together:
        return lab
    return None


def _hand_over(nbval_file) -> None:
    """Instead of stopping it, leave nbval's kernel to the mutant suite when nbval ran the whole notebook."""
    lab = getattr(nbval_file, "course_handover_lab", None)
    kernel = getattr(nbval_file, "kernel", None)
    if lab and kernel is not None and not nbval_file.timed_out and kernel.is_alive():
        NBVAL_HANDOVER.setdefault(lab, {"cells": {}}).update(manager=kernel.km, client=kernel.kc)
        nbval_file.kernel = None  # nbval's own teardown then leaves it running


def _wrap_nbval_teardown() -> None:
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:
        return
    if getattr(IPyNbFile.teardown, "course_patched", False):
        return
    original = IPyNbFile.teardown

    def teardown(self) -> None:
        _hand_over(self)
        original(self)

    teardown.course_patched = True
    IPyNbFile.teardown = teardown


class NbvalHandover:
    """Record what nbval's cells printed for the adopting suite; stop kernels nobody adopted."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        lab = getattr(item.parent, "course_handover_lab", None)
        if lab and call.when == "call" and not report.skipped:
            outputs = list(getattr(item, "test_outputs", None) or [])
            run = CellRun(cell_label(item.cell, item.cell_num), outputs=outputs, seconds=call.duration)
            NBVAL_HANDOVER.setdefault(lab, {"cells": {}})["cells"][item.cell_num] = run
        return report

    def pytest_sessionfinish(self, session) -> None:
        """Stop kernels nbval handed over that no mutant test took (e.g. deselected with -k)."""
        for lab in list(NBVAL_HANDOVER):
            handed = NBVAL_HANDOVER.pop(lab)
            if "client" in handed:
                handed["client"].stop_channels()
                handed["manager"].shutdown_kernel(now=True)


def pytest_configure(config) -> None:
    _wrap_nbval_teardown()
    # Registered as an object: per-item hooks must also see nbval's items, which live outside tests/.
    config.pluginmanager.register(NbvalHandover(), "course-nbval-handover")

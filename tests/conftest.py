"""Shared pytest set-up for the course's tests.

- ``tests/`` and the repository on ``sys.path`` (``notebook_runner``, ``mutants``, ``course_utils``).
- ``-n N`` runs use ``--dist loadgroup``: a lab's mutant tests share one kernel on one worker, and the cells of a
  notebook run by nbval (``--nbval-lax``) stay together, in order, on one worker.
- nbval cells are marked ``notebook`` and ``slow`` (so ``-m "not notebook"`` deselects them).
- At the end of a run, a table of notebook execution times: per notebook run (nbval, mutant kernel, student copy)
  the total seconds and its slowest cells. Workers hand timings to the controller inside their test reports
  (``user_properties``), so the table is complete under pytest-xdist. ``--notebook-timings=FILE`` also writes it
  as JSON (used by ``benchmarks/bench_test_suite.py``).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from notebook_runner import TIMINGS_PROPERTY, cell_label  # noqa: E402

# Fixture notebooks are inputs of the harness's own tests, never tests themselves (nbval would collect them).
collect_ignore_glob = ["fixtures/*"]

NBVAL_CELL_PROPERTY = "nbval_cell"
timings_key = pytest.StashKey[dict]()
_CONFIG: dict = {}  # pytest_runtest_logreport gets no config: remember it here


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--notebook-timings",
        metavar="FILE",
        default=None,
        help="also write the notebook timing table as JSON to FILE",
    )


def pytest_configure(config) -> None:
    config.stash[timings_key] = defaultdict(list)
    config.pluginmanager.register(LabOrder(), "course-lab-order")
    config.pluginmanager.register(GroupSuffixOnWorkers(), "course-group-suffix")
    _CONFIG["config"] = config
    # Plain `-n N` means `--dist load`, which would scatter one notebook's cells over several workers.
    if getattr(config.option, "dist", "no") == "load" and not config.getoption("distload", False):
        config.option.dist = "loadgroup"
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(LoadGroupOnWorkers(), "course-loadgroup-on-workers")
    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get("course_loadgroup"):
        config.option.loadgroup = True  # workers re-parse the command line, which may not say --dist loadgroup


class LoadGroupOnWorkers:
    """Tell each xdist worker that the controller switched to loadgroup (its xdist_group marks must count)."""

    def pytest_configure_node(self, node) -> None:
        node.workerinput["course_loadgroup"] = node.config.getvalue("dist") == "loadgroup"


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and type(item).__module__.startswith("nbval")


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook, which turns xdist_group marks into node id suffixes
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if not _is_nbval_cell(item):
            continue
        notebook = Path(str(item.path))
        item.add_marker(pytest.mark.notebook)
        item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(f"nbval-{notebook.stem}"))
        label = cell_label(item.cell, item.cell_num)
        item.user_properties.append((NBVAL_CELL_PROPERTY, {"notebook": f"{notebook.stem} [nbval]", "cell": label}))


class LabOrder:
    """Run a module's tests lab by lab, in the order its ``ORDER_WITHIN_LAB`` gives (reference, mutants, final).

    pytest groups tests by the module-scoped ``lab_kernel`` parameter, but may put a lab's tests in any order.
    """

    @pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
    def pytest_collection_modifyitems(self, items) -> None:
        positions = [i for i, item in enumerate(items) if getattr(getattr(item, "module", None), "ORDER_WITHIN_LAB", 0)]
        if not positions:
            return
        chosen = [items[i] for i in positions]
        labs = list(dict.fromkeys(item.callspec.params.get("lab_kernel") for item in chosen))

        def key(item):
            order = item.module.ORDER_WITHIN_LAB
            phase = order.index(item.originalname) if item.originalname in order else len(order)
            return labs.index(item.callspec.params.get("lab_kernel")), phase

        for position, item in zip(positions, sorted(chosen, key=key)):
            items[position] = item


class GroupSuffixOnWorkers:
    """Make ``--dist loadgroup`` work with pytest 9.2.

    xdist 3.8 groups tests by a ``@<group>`` suffix that each worker appends to the node id of tests marked
    ``xdist_group``, by assigning ``item._nodeid``; pytest 9.2 keeps the node id in ``item._id`` and ignores that
    attribute, so every test would become its own group. This hook appends the suffix where it is missing.
    """

    @pytest.hookimpl(trylast=True)  # after xdist's own attempt
    def pytest_collection_modifyitems(self, config, items) -> None:
        if not (hasattr(config, "workerinput") and config.getvalue("loadgroup")):
            return
        for item in items:
            names = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                            for mark in item.iter_markers("xdist_group")})  # fmt: skip
            if not names or item.nodeid.rfind("@") > item.nodeid.rfind("]"):
                continue
            suffix = f"@{'_'.join(names)}"
            identifier = getattr(item, "_id", None)
            if identifier is None:  # older pytest: the attribute xdist sets
                item._nodeid = item.nodeid + suffix
                continue
            last = identifier.names[-1] + ("" if identifier.params is None else f"[{identifier.params}]") + suffix
            item._id = type(identifier)(path=identifier.path, names=(*identifier.names[:-1], last), params=None)


def pytest_runtest_logreport(report) -> None:
    """Collect timings on the controller (or in a run without workers)."""
    config = _CONFIG.get("config")
    if config is None or hasattr(config, "workerinput"):
        return
    table = config.stash[timings_key]
    for key, value in report.user_properties:
        if key == NBVAL_CELL_PROPERTY and report.when in ("setup", "call"):
            table[value["notebook"]].append((value["cell"], float(report.duration)))
        elif key == TIMINGS_PROPERTY and report.when == "teardown":  # the teardown report carries them all
            table[value["notebook"]].extend((str(name), float(seconds)) for name, seconds in value["cells"])


def timing_rows(table: dict) -> list[dict]:
    """One row per notebook run: total seconds and the three slowest cells (same-named cells summed)."""
    rows = []
    for notebook in sorted(table):
        per_cell: dict[str, float] = defaultdict(float)
        for name, seconds in table[notebook]:
            per_cell[name] += seconds
        slowest = sorted(per_cell.items(), key=lambda pair: -pair[1])[:3]
        rows.append(
            {
                "notebook": notebook,
                "seconds": round(sum(per_cell.values()), 2),
                "cells_run": len(table[notebook]),
                "slowest": [[name, round(seconds, 2)] for name, seconds in slowest],
            }
        )
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if hasattr(config, "workerinput"):
        return
    rows = timing_rows(config.stash[timings_key])
    target = config.getoption("notebook_timings")
    if target:
        Path(target).write_text(json.dumps(rows, indent=1) + "\n")
    if not rows:
        return
    terminalreporter.section("notebook execution times")
    terminalreporter.write_line(f"{'notebook run':<40} {'seconds':>8} {'cells':>6}   slowest cells")
    for row in rows:
        listing = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in row["slowest"])
        terminalreporter.write_line(f"{row['notebook']:<40} {row['seconds']:8.1f} {row['cells_run']:6d}   {listing}")

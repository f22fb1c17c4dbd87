"""Shared pytest set-up for the course's tests.

- ``tests/`` and the repository on ``sys.path`` (``notebook_runner``, ``mutants``, ``course_utils``).
- ``-n N`` runs use ``--dist loadgroup`` (``load`` and ``loadscope`` are switched to it): a lab's mutant tests
  share one kernel on one worker, and the cells of a notebook run by nbval (``--nbval-lax``) stay together, in
  order, on one worker (the same one as the lab's mutant tests, which then continue in nbval's kernel); a module
  whose tests share a module-scoped fixture stays on one worker; all other tests are handed out one by one.
  (xdist sends the groups with the most tests first.)
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

from nbval_handover import handover_lab  # noqa: E402
from notebook_runner import TIMINGS_PROPERTY, cell_label, suite_counts  # noqa: E402

pytest_plugins = ["nbval_handover"]  # the mutant suite continues in nbval's kernel (tests/nbval_handover.py)

# Fixture notebooks are inputs of the harness's own tests, never tests themselves (nbval would collect them).
collect_ignore_glob = ["fixtures/*"]

NBVAL_CELL_PROPERTY = "nbval_cell"
reports_key = pytest.StashKey["NotebookReports"]()


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--notebook-timings",
        metavar="FILE",
        default=None,
        help="also write the notebook timing table as JSON to FILE",
    )


def pytest_configure(config) -> None:
    config.stash[reports_key] = NotebookReports(config)
    config.pluginmanager.register(config.stash[reports_key], "course-notebook-reports")
    config.pluginmanager.register(LabOrder(), "course-lab-order")
    config.pluginmanager.register(GroupSuffixOnWorkers(), "course-group-suffix")
    # Plain `-n N` means `--dist load`, which would scatter one notebook's cells over several workers; loadscope
    # splits node ids at their last "::", which the mutant ids ("<lab>::<mutant>") contain, and ignores the groups.
    if getattr(config.option, "dist", "no") in ("load", "loadscope"):
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


def _labs_with_mutant_tests(items) -> set[str]:
    return {
        item.callspec.params["lab_kernel"]
        for item in items
        if item.path.name == "test_mutants.py"
        and "lab_kernel" in getattr(getattr(item, "callspec", None), "params", {})
    }


def _groups_stay_together(config) -> bool:
    """True when a lab's nbval cells and mutant tests surely run in this process: no xdist, or --dist loadgroup."""
    if hasattr(config, "workerinput"):
        return bool(config.getvalue("loadgroup"))
    return getattr(config.option, "dist", "no") == "no"


def _uses_module_fixture(item) -> bool:
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(chain[-1].scope in ("module", "class", "package") for chain in definitions.values() if chain)


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook, which turns xdist_group marks into node id suffixes
def pytest_collection_modifyitems(config, items) -> None:
    mutant_labs = _labs_with_mutant_tests(items)
    for item in items:
        if not _is_nbval_cell(item):
            # loadgroup hands out ungrouped tests one by one: a module-scoped fixture (a release, a graded class)
            # would be built once per worker. Keep such a module on one worker, as --dist loadscope would.
            if not item.get_closest_marker("xdist_group") and _uses_module_fixture(item):
                item.add_marker(pytest.mark.xdist_group(f"module-{item.path.stem}"))
            continue
        notebook = Path(str(item.path))
        item.add_marker(pytest.mark.notebook)
        item.add_marker(pytest.mark.slow)
        handover = handover_lab(notebook, mutant_labs, _groups_stay_together(config))
        if handover:
            item.parent.course_handover_lab = handover  # the mutant suite continues in this notebook's kernel
            item.add_marker(pytest.mark.xdist_group(handover))  # ... so it runs on the same worker, after it
        else:
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
        # nbval's cells of a lab whose kernel the mutant suite takes over: right before that lab's mutant tests
        for lab in labs:
            handed = [item for item in items if getattr(item.parent, "course_handover_lab", None) == lab]
            if not handed:
                continue
            rest = [item for item in items if getattr(item.parent, "course_handover_lab", None) != lab]
            first = next(i for i, item in enumerate(rest) if getattr(item, "callspec", None)
                         and item.callspec.params.get("lab_kernel") == lab)  # fmt: skip
            items[:] = rest[:first] + handed + rest[first:]


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


class NotebookReports:
    """Per-item hooks that must also see nbval's items, which live outside tests/ (a conftest's own hooks of that
    kind only run for items under its folder): collect the timing table."""

    def __init__(self, config) -> None:
        self.config = config
        self.table: dict[str, list] = defaultdict(list)

    def pytest_runtest_logreport(self, report) -> None:
        """Collect timings on the controller (or in a run without workers)."""
        if hasattr(self.config, "workerinput"):
            return
        for key, value in report.user_properties:
            if key == NBVAL_CELL_PROPERTY and report.when in ("setup", "call"):
                self.table[value["notebook"]].append((value["cell"], float(report.duration)))
            elif key == TIMINGS_PROPERTY and report.when == "teardown":  # the teardown report carries them all
                self.table[value["notebook"]].extend((str(name), float(seconds)) for name, seconds in value["cells"])


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
    if any("test_mutants.py" in report.nodeid for report in terminalreporter.stats.get("passed", [])):
        terminalreporter.section("mutants (must fail) and alternatives (must pass) per lab")
        for lab, (mutants, alternatives) in suite_counts().items():
            terminalreporter.write_line(f"{lab:<24} {mutants:4d} mutants {alternatives:4d} alternatives")
    rows = timing_rows(config.stash[reports_key].table)
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

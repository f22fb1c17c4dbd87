"""What the trusted test process costs: the same cells run in one plain kernel vs graded by the course's design.

    .venv/bin/python benchmarks/bench_grading.py --lab all --n 2 --blank 0 --modes workers1 --json /tmp/after.json
    .venv/bin/python benchmarks/bench_trusted_cost.py --grading /tmp/after.json           # every lab
    .venv/bin/python benchmarks/bench_trusted_cost.py --lab lab2_functional --repeat 2    # in-kernel only

Baseline ("in one kernel"): each lab's source notebook (reference answers, visible and hidden tests) without its
demonstration cells, executed cell by cell in one plain ``dlcourse`` kernel with nbclient: no nbgrader, no sandbox,
no channel. That is what grading costs when the tests run inside the student's kernel, as they did before issue 16,
with nothing added for nbgrader's own steps or the sandbox (so the ratio below is an upper bound of what the
trusted process adds). Printed: CPU seconds of the kernel and of this process per lab (the fastest of
``--repeat`` runs) and, with ``--grading`` (the JSON of ``bench_grading.py``'s ``workers1`` mode on the same
labs), the CPU seconds per graded submission, the trusted process's share, and the ratio graded / in one kernel.
No asserts: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LABS = ("lab1_sequence", "lab2_functional", "lab3_regularization", "lab4_pointnet")


def cpu_seconds() -> tuple[float, float]:
    """(this process, its reaped children) user + system CPU seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def without_demo_cells(lab: str):
    import nbformat

    from autograder import submissions

    path = ROOT / "solutions" / lab / f"{lab}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    demo = submissions.demo_cells(notebook)
    notebook.cells = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") not in demo]
    return notebook, path.parent, len(demo)


def run_in_one_kernel(lab: str) -> dict:
    from nbclient import NotebookClient

    notebook, folder, skipped = without_demo_cells(lab)
    client = NotebookClient(
        notebook, kernel_name="dlcourse", timeout=900, resources={"metadata": {"path": str(folder)}}
    )
    own_before, children_before = cpu_seconds()
    started = time.perf_counter()
    client.execute()  # starts the kernel, runs every cell, shuts the kernel down (reaped: its CPU is a child's)
    wall = time.perf_counter() - started
    own_after, children_after = cpu_seconds()
    return {
        "lab": lab,
        "wall_s": round(wall, 1),
        "kernel_cpu_s": round(children_after - children_before, 1),
        "this_process_cpu_s": round(own_after - own_before, 1),
        "cells": len(notebook.cells),
        "demo_cells_left_out": skipped,
    }


def grading_figures(path: Path) -> dict[str, dict]:
    """lab -> the workers1 figures of a bench_grading.py --json file."""
    figures = json.loads(path.read_text())
    by_lab = {}
    for lab, modes in (figures.get("labs") or figures).items():
        if isinstance(modes, dict) and "workers1" in modes:
            by_lab[lab] = modes["workers1"]
    return by_lab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="all", help="a lab, several (comma-separated) or all")
    parser.add_argument("--repeat", type=int, default=1, help="runs per lab; the fastest (least CPU) counts")
    parser.add_argument("--grading", type=Path, help="bench_grading.py --json output (workers1 mode) to compare")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    arguments = parser.parse_args(argv)
    labs = LABS if arguments.lab == "all" else tuple(arguments.lab.split(","))
    graded = grading_figures(arguments.grading) if arguments.grading else {}
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    results = {}
    for lab in labs:
        runs = [run_in_one_kernel(lab) for _ in range(arguments.repeat)]
        best = min(runs, key=lambda run: run["kernel_cpu_s"] + run["this_process_cpu_s"])
        results[lab] = best
        baseline = best["kernel_cpu_s"] + best["this_process_cpu_s"]
        line = (f"{lab}: in one kernel {baseline:.1f} CPU s (kernel {best['kernel_cpu_s']:.1f}, client "
                f"{best['this_process_cpu_s']:.1f}), {best['wall_s']:.0f} s wall, {best['demo_cells_left_out']} demo "
                "cells left out")  # fmt: skip
        if lab in graded:
            after = graded[lab]
            per_submission = after["cpu"] / after["n"]
            trusted = after["cpu_trusted"] / after["n"] if "cpu_trusted" in after else None
            if per_submission:
                best["graded_cpu_per_submission_s"] = per_submission
                best["ratio"] = round(per_submission / baseline, 3)
                line += f"; graded {per_submission:.1f} CPU s per submission, ratio {per_submission / baseline:.2f}"
            if trusted is not None:
                line += f" (trusted process {trusted:.2f} s, {trusted / baseline:.1%} of the baseline)"
        print(line, flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

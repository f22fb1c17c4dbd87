"""Shared pytest set-up: the repository on sys.path, and the per-notebook timing table at the end of a run."""

from __future__ import annotations

import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from notebook_runner import TIMINGS_DIR  # noqa: E402


def pytest_sessionstart(session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a plain run) starts a fresh table
        shutil.rmtree(TIMINGS_DIR, ignore_errors=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if hasattr(config, "workerinput") or not TIMINGS_DIR.exists():
        return
    totals: dict[str, float] = defaultdict(float)
    cells: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for path in TIMINGS_DIR.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            totals[record["notebook"]] += sum(seconds for _, seconds in record["cells"])
            cells[record["notebook"]] += [tuple(cell) for cell in record["cells"]]
    if not totals:
        return
    terminalreporter.section("notebook execution times")
    terminalreporter.write_line(f"{'notebook run':<48} {'seconds':>8}   slowest cells")
    for notebook in sorted(totals):
        slowest = sorted(cells[notebook], key=lambda cell: -cell[1])[:3]
        listing = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in slowest)
        terminalreporter.write_line(f"{notebook:<48} {totals[notebook]:8.1f}   {listing}")

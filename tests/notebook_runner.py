"""Run notebook cells one by one in a live course kernel, and record how long they take.

Used by the mutant suite (execute a lab once, then swap in wrong answers and re-run only the affected cells)
and by the student-notebook test. Timings go to a JSON-lines folder that conftest.py prints as a table.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
KERNEL_NAME = "dlcourse"
TIMINGS_DIR = ROOT / ".pytest_cache" / "notebook-timings"


def labs() -> list[str]:
    """Labs with a source notebook, in order."""
    return sorted(path.parent.name for path in SOLUTIONS.glob("lab*/lab*.ipynb") if path.stem == path.parent.name)


def source_notebook(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


@dataclass
class CellResult:
    ok: bool
    error: str
    stdout: str
    stderr: str
    seconds: float

    @property
    def passed(self) -> bool:
        """nbgrader's rule: a test cell passes when it raises nothing and writes nothing on stderr."""
        return self.ok and not self.stderr.strip()

    def describe(self) -> str:
        text = self.error or self.stderr or "(no error)"
        return text[-1500:]


class KernelSession:
    """One course kernel started in ``cwd``; ``run`` executes a source string and collects its outputs."""

    def __init__(self, cwd: Path, label: str, timeout: float = 600) -> None:
        self.label = label
        self.timeout = timeout
        self.manager = KernelManager(kernel_name=KERNEL_NAME)
        self.manager.start_kernel(cwd=str(cwd))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)
        self.timings: list[tuple[str, float]] = []

    def run(self, source: str, name: str = "", timeout: float | None = None) -> CellResult:
        stdout, stderr, errors = [], [], []

        def collect(message) -> None:
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                (stdout if content["name"] == "stdout" else stderr).append(content["text"])
            elif kind == "error":
                errors.append(f"{content['ename']}: {content['evalue']}")

        started = time.perf_counter()
        reply = self.client.execute_interactive(source, timeout=timeout or self.timeout, output_hook=collect,
                                                store_history=False)  # fmt: skip
        seconds = time.perf_counter() - started
        if name:
            self.timings.append((name, seconds))
        ok = reply["content"]["status"] == "ok"
        if not ok and not errors:
            errors.append(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        return CellResult(ok, "\n".join(errors), "".join(stdout), "".join(stderr), seconds)

    def alive(self) -> bool:
        return self.manager.is_alive()

    def close(self) -> None:
        record_timings(self.label, self.timings)
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def record_timings(label: str, timings: list[tuple[str, float]]) -> None:
    """Append one notebook's cell timings for the end-of-run table (safe under pytest-xdist)."""
    if not timings:
        return
    TIMINGS_DIR.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"notebook": label, "cells": timings})
    with open(TIMINGS_DIR / f"{os.getpid()}.jsonl", "a") as handle:
        handle.write(line + "\n")

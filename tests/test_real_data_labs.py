"""Every lab's solution notebook, end to end, on real ModelNet10 (the shared train split): every test cell passes.

The real data are not in the repository. This test imports the development copy of the real train split
(``../shared/data/modelnet10-pc1024/train.npz`` beside the repository; see its README) with ``data_fetch.py import``
into a temporary ``COURSE_DATA_DIR`` and runs each lab there with ``COURSE_DATASET=modelnet10``, as a student with
real data would. Without that file it is skipped with the reason. Labs run one after the other in one pytest-xdist
group (one kernel at a time, the import done once); each lab's time is printed and goes to the timing table.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from notebook_runner import (
    ROOT,
    KernelSession,
    attach_timings,
    cell_label,
    code_cells,
    is_test_cell,
    labs,
    notebook_path,
    read_notebook,
)

pytestmark = [pytest.mark.notebook, pytest.mark.slow, pytest.mark.xdist_group("real_data_labs")]

SHARED_TRAIN = ROOT.parent / "shared" / "data" / "modelnet10-pc1024" / "train.npz"
DATASET = "modelnet10"


@pytest.fixture(scope="module")
def real_data_root(tmp_path_factory):
    """A data root holding the shared real train split, imported the way the README tells students to."""
    if not SHARED_TRAIN.exists():
        pytest.skip(f"no shared real data at {SHARED_TRAIN} (development machines only; see its README)")
    root = tmp_path_factory.mktemp("real-data")
    started = time.perf_counter()
    command = [sys.executable, "data_fetch.py", "--root", str(root), "import", str(SHARED_TRAIN), "--split", "train"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"data_fetch.py import failed:\n{result.stdout}\n{result.stderr}"
    print(f"\nreal data imported in {time.perf_counter() - started:.1f} s: {result.stdout.strip()}")
    return root


@pytest.mark.parametrize("lab", labs())
def test_lab_runs_on_real_data(lab, real_data_root, request, monkeypatch):
    # The kernel inherits this process's environment: the labs read COURSE_DATA_DIR and COURSE_DATASET.
    monkeypatch.setenv("COURSE_DATA_DIR", str(real_data_root))
    monkeypatch.setenv("COURSE_DATASET", DATASET)
    path = notebook_path(lab)
    session = KernelSession(path.parent, label=f"{lab} [real data]")
    failures = {}
    started = time.perf_counter()
    try:
        for index, cell in code_cells(read_notebook(path)):
            result = session.run(cell.source, name=cell_label(cell, index))
            if (is_test_cell(cell) and not result.passed) or result.raised:
                failures[result.name] = result.describe()
            if result.kernel_died:
                break
    finally:
        seconds = time.perf_counter() - started
        attach_timings(request.node, session.take_timings())
        session.close()
    print(f"\n{lab} on real data ({DATASET}, train split only): {seconds:.1f} s")
    details = "\n".join(f"--- {name}\n{text}" for name, text in failures.items())
    assert not failures, f"{lab} fails on real data (COURSE_DATASET={DATASET}):\n{details}"

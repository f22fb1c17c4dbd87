"""Static checks for the nbval run of `make test` (fast: no notebook is executed here).

- tests/nbval_sanitize.cfg hides what changes from run to run and nothing a lab checks on purpose.
- Each solution notebook keeps outputs (with an execution count, or nbval skips the comparison with "Unrun
  reference cell has outputs") for its 2-3 ``# NBVAL_CHECK_OUTPUT`` cells, and for no other cell.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import get_sanitize_patterns
from notebook_runner import ROOT, code_cells, labs, notebook_path
from store_checked_outputs import is_checked

SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"


def display_path(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def sanitize(text: str) -> str:
    """What nbval does to an output string with our file (patterns in file order)."""
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        text = re.sub(regex, replace, text)
    return text


def test_sanitize_file_parses_and_every_pattern_compiles():
    patterns = get_sanitize_patterns(SANITIZE.read_text())
    assert len(patterns) == SANITIZE.read_text().count("\nregex: "), "a regex: line without its replace: line?"
    for regex, _ in patterns:
        re.compile(regex)


@pytest.mark.parametrize(
    "first, second",
    [
        ("\r 5/10 ━━━━━━━━━━━━━━━━━━━━ 1s 212ms/step - accuracy: 0.51 - loss: 1.93",
         "\r 5/10 ━━━━━━━━━━━━━━━━━━━━ 3s 90ms/step - accuracy: 0.49 - loss: 2.01"),
        ("12%|█▏        | 12/100 [00:01<00:08, 10.5it/s]", "57%|█████▋    | 57/100 [00:04<00:03, 13.1it/s]"),
        ("took 0.000012 s", "took 1.250000 s"),
        ("epoch time 12.5 ms", "epoch time 3 ms"),
        ("read 350.2 clouds/s", "read 1200 clouds/s"),
        ("<object object at 0x7f3a1c2b4e90>", "<object object at 0x55d0c0ffee12>"),
        ("data from /srv/alice/dl-course/data/synthetic/train", "data from /home/runner/course/data/synthetic/train"),
        ("/tmp/pytest-of-root/pytest-3/course/x.ipynb", "/tmp/tmpab12cd/other.ipynb"),
    ],
)  # fmt: skip
def test_sanitize_hides_what_changes_between_runs(first, second):
    assert sanitize(first) == sanitize(second)


@pytest.mark.parametrize(
    "text",
    [
        "[PASS] batch has shape (32, 1024, 3)",
        "Total params: 1,219 (4.76 KB)",
        "[(0, 'bathtub'), (1, 'bed'), (2, 'chair')]",
        "len(provider) == 13",
        "Epoch 3/5",
        "accuracy 0.8125",
        "loaded 10 classes, 400 samples",
    ],
)
def test_sanitize_leaves_deterministic_output_alone(text):
    assert sanitize(text) == text


LABS = labs()


@pytest.mark.parametrize("lab", LABS)
def test_checked_cells_keep_their_outputs_and_no_other_cell_does(lab):
    notebook = nbformat.read(notebook_path(lab), as_version=4)
    checked, problems = [], []
    for index, cell in code_cells(notebook):
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id") or f"cell {index}"
        if is_checked(cell):
            checked.append(name)
            if not cell.outputs or cell.execution_count is None:
                problems.append(f"{name}: marked NBVAL_CHECK_OUTPUT but has no stored output / execution count")
            if any(output.get("output_type") == "error" for output in cell.outputs):
                problems.append(f"{name}: the stored output is an error")
        elif cell.outputs or cell.execution_count is not None:
            problems.append(f"{name}: not marked NBVAL_CHECK_OUTPUT, so it must be committed without outputs")
    if len(checked) < 2:
        problems.append(
            f"only {len(checked)} cell(s) marked # NBVAL_CHECK_OUTPUT ({checked}); mark 2-3 deterministic ones"
        )
    fix = f"run `.venv/bin/python tests/store_checked_outputs.py {display_path(notebook_path(lab))}`"
    assert not problems, f"{lab}: " + "; ".join(problems) + f"\nTo store the outputs of the marked cells, {fix}"

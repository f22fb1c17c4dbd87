"""Cells that only demonstrate are not run when grading (issue 16, item 9).

A demonstration cell is a locked code cell with a ``grade_id`` and the tag ``demo`` in the SOURCE notebook
(``submissions.demo_cells``; the submission's own tags are never read). ``SkipDemoCells`` runs just before the
executor and empties such cells, which the executor then skips; ``ShowSkippedDemoCells`` runs right after it, puts
their source back and gives each one output saying it was skipped, so the feedback shows where they were.
``tests/test_grading_units.py`` proves, by static analysis of every lab's source notebook, that no other cell reads
a name that only a demonstration cell defines.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder import submissions

SKIPPED_NOTE = "[skipped when grading: this cell only demonstrates; no test depends on it]\n"
STASH = "course_demo_sources"  # resources key: index -> the source taken out


class SkipDemoCells(NbGraderPreprocessor):
    """Empty the source notebook's demonstration cells before execution (the executor skips empty cells)."""

    source_directory = Unicode("", help="Folder of source notebooks (<source>/<assignment>/<notebook>.ipynb)").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        resources[STASH] = {}
        if not self.enabled or not self.source_directory:
            return nb, resources
        info = resources.get("nbgrader", {})
        source = Path(self.source_directory) / info.get("assignment", "") / f"{info.get('notebook', '')}.ipynb"
        if not source.is_file():
            return nb, resources
        demos = submissions.demo_cells(nbformat.read(source, as_version=4))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and submissions.grade_id(cell) in demos:
                resources[STASH][index] = cell.source
                cell.source = ""
        return nb, resources


class ShowSkippedDemoCells(NbGraderPreprocessor):
    """Put the skipped cells' source back, with an output that says they were skipped when grading."""

    def preprocess(self, nb, resources):
        for index, source in resources.pop(STASH, {}).items():
            cell = nb.cells[index]
            cell.source = source
            cell.outputs = [new_output("stream", name="stdout", text=SKIPPED_NOTE)]
            cell.execution_count = None
        return nb, resources

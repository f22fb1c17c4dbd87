"""nbgrader's OverwriteCells, also putting back every locked cell a student deleted (tests, set-up, demos).

``OverwriteCells.add_missing_cells`` (nbgrader 0.9) restores deleted *grade* cells only, prepends a text that is
not Python to their source (so a restored code cell fails with a SyntaxError rather than with its message), and
raises KeyError when the cell before a deleted one is a locked cell that is neither graded nor a solution. This
subclass puts back every deleted locked cell after the nearest preceding cell that is present
(``submissions.insert_missing_locked_cells``, the same rule ``python -m autograder grade`` applies before grading),
then overwrites it from the gradebook like any other locked cell, so hidden tests are back as well. Configured in
``nbgrader_config.py`` for both grading paths.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.preprocessors import OverwriteCells
from traitlets import Unicode

from autograder import submissions


class RestoreDeletedCells(OverwriteCells):
    """OverwriteCells that re-inserts deleted locked cells (from the released notebook) before overwriting."""

    release_directory = Unicode(
        "", help="Folder of released notebooks (<release>/<assignment>/<notebook>.ipynb); empty: nbgrader's rule"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        released = Path(self.release_directory) / resources["nbgrader"]["assignment"]
        released = released / f"{resources['nbgrader']['notebook']}.ipynb"
        if self.release_directory and released.is_file():
            restored = submissions.insert_missing_locked_cells(nb, nbformat.read(released, as_version=4))
            if restored:
                self.log.warning("deleted locked cell(s) %s put back before grading", restored)
        return super().preprocess(nb, resources)

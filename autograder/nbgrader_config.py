"""nbgrader configuration: run the stock nbgrader CLI from this folder (`cd autograder && nbgrader ...`).

Layout: source notebooks in ../solutions/<lab>/, released student notebooks in ../notebooks/<lab>/,
student submissions in submitted/<student>/<lab>/ (here), gradebook.db here. `python -m autograder` grades each
submission in a temporary course that loads this file first, so the settings below hold for both paths.
"""

import os
import sys

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    Execute,
    GetGrades,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # so nbgrader finds autograder.preprocessors

from nbgrader.validator import Validator  # noqa: E402

from autograder.deadlines import ApplyDueDate, LatePenalty  # noqa: E402
from autograder.demo_cells import ShowSkippedDemoCells, SkipDemoCells  # noqa: E402
from autograder.executor import GuardedExecute  # noqa: E402
from autograder.preprocessors import HideTestTracebacks, StripLogNoise  # noqa: E402
from autograder.restore_cells import RestoreDeletedCells  # noqa: E402
from autograder.stock_path import BoundedHTMLExporter, CanaryExporter, after_submission, before_submission  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "dl-lab-course"
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "notebooks")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# Autograde: nbgrader's pipeline with Execute replaced by GuardedExecute (autograder/executor.py: sandboxed kernel,
# limits, tamper guard, graded-through kernel crashes) and IgnorePattern by StripLogNoise (line-based).
# Demonstration cells (locked, tagged "demo" in the source notebook) are not run: SkipDemoCells empties them before
# the executor, ShowSkippedDemoCells puts them back with a note (autograder/demo_cells.py).
c.Autograde.autograde_preprocessors = [
    SkipDemoCells,
    GuardedExecute,
    ShowSkippedDemoCells,
    StripLogNoise,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    ApplyDueDate,
    AssignLatePenalties,
    CheckCellMetadata,
]
# The stock CLI gets the batch CLI's guarantees (autograder/stock_path.py): before any submission, each lab's
# reference answers are graded once in this environment (the canary; nbgrader stops with one `error:` line unless they
# get full marks), and every step of one submission (copying, reading, sanitizing, executing, saving grades, writing)
# runs under one wall-clock limit, generate_feedback too. Notebooks are read only as regular files of bounded size.
c.Autograde.exporter_class = CanaryExporter
c.GenerateFeedback.exporter_class = BoundedHTMLExporter
for _converter in (c.Autograde, c.GenerateFeedback):
    _converter.pre_convert_hook = before_submission
    _converter.post_convert_hook = after_submission
c.StockPath.canary = True  # `nbgrader autograde LAB --StockPath.canary=False` skips it
c.StockPath.autograde_limit_s = 0  # 0: GuardedExecute.notebook_timeout + 300 s per submission
c.StockPath.feedback_limit_s = 300  # per submission
# Deadlines (autograder/deadlines.toml): ApplyDueDate writes the lab's due date into the gradebook (and logs an error
# for a submission without a readable timestamp.txt), AssignLatePenalties applies the course's rule through LatePenalty.
c.AssignLatePenalties.plugin_class = LatePenalty
c.SkipDemoCells.source_directory = os.path.join(HERE, "..", "solutions")
# Deleted locked cells (tests, set-up) are put back on both grading paths. RestoreDeletedCells is OverwriteCells that
# re-inserts every deleted locked cell from the released notebook first (nbgrader 0.9's add_missing_cells restores
# grade cells only, with a non-Python note prepended, and fails when the preceding cell is a locked non-grade cell);
# nbgrader's own add_missing_cells stays on as the fallback where no released notebook is found.
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreDeletedCells,
                                      CheckCellMetadata]  # fmt: skip
c.RestoreDeletedCells.release_directory = os.path.join(HERE, "..", "notebooks")
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = (
    "# This cell was missing from the submission; it was put back for grading.\n"
)
# nbgrader reads Execute.timeout (not ExecutePreprocessor.timeout): wall-clock seconds per cell.
c.Execute.timeout = 300
c.Execute.kernel_name = "dlcourse"
c.Execute.interrupt_on_timeout = True
c.GuardedExecute.notebook_timeout = 1200  # wall-clock seconds per notebook
c.GuardedExecute.cell_cpu_timeout = 600  # CPU seconds per cell (all threads of the kernel)
c.GuardedExecute.cell_output_bytes = 1_000_000  # output a cell keeps
c.GuardedExecute.notebook_output_bytes = 50_000_000  # output that gets the kernel killed
# Limits of each student sandbox (autograder/limits.py: per process, and for all its processes together: cgroup v2
# where offered, else counted by the supervisor; /tmp is a tmpfs of tmp_bytes). The grading log states them.
c.SandboxedKernelManager.limits = {"memory_bytes": 8 * 1024**3, "sandbox_memory_bytes": 8 * 1024**3,
                                   "notebook_cpu_s": 1800, "file_bytes": 512 * 1024**2, "tmp_bytes": 1024**3,
                                   "tasks": 1024}  # fmt: skip
# Refuse to grade without bubblewrap instead of grading with resource limits only and a loud warning:
# c.SandboxedKernelManager.require_sandbox = True

# Any stderr output fails a test cell. The course kernel is quiet (tensorflow-cpu, TF_CPP_MIN_LOG_LEVEL=3);
# should TensorFlow/absl/Keras still print their own lines, StripLogNoise removes them before grading, on purpose.

# `nbgrader validate` scores stderr like autograde does, and its pipeline is not configurable: add the same filter.
Validator.preprocessors.default_value = [CheckCellMetadata, ClearOutput, Execute, StripLogNoise]

# Student notebooks are committed without outputs.
c.ClearOutput.enabled = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback must not leak hidden tests: nbgrader's default shows them, and tracebacks quote their lines.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideTestTracebacks, CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False

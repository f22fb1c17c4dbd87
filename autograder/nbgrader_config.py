"""nbgrader configuration: run the stock nbgrader CLI from this folder (`cd autograder && nbgrader ...`).

Layout: source notebooks in ../solutions/<lab>/, released student notebooks in ../notebooks/<lab>/,
student submissions in submitted/<student>/<lab>/ (here), gradebook.db here. `python -m autograder` grades each
submission in a temporary course that loads this file first, so the settings below hold for both paths.
"""

import os
import sys

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # so nbgrader finds autograder.preprocessors

from autograder.preprocessors import HideTestTracebacks  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "dl-lab-course"
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "notebooks")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# nbgrader reads Execute.timeout (not ExecutePreprocessor.timeout): seconds per cell.
c.Execute.timeout = 300
c.Execute.kernel_name = "dlcourse"
c.Execute.interrupt_on_timeout = True

# Any stderr output fails a test cell. The course kernel is quiet (tensorflow-cpu, TF_CPP_MIN_LOG_LEVEL=3);
# should TensorFlow/absl still print their start-up lines, they are removed before grading, on purpose.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} [\d:. ]+\S+\.cc:\d+\]).*"
)

# Student notebooks are committed without outputs.
c.ClearOutput.enabled = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback must not leak hidden tests: nbgrader's default shows them, and tracebacks quote their lines.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, HideTestTracebacks, CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False

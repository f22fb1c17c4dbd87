"""nbgrader configuration: run the stock nbgrader CLI from this folder (`cd autograder && nbgrader ...`).

Layout: source notebooks in ../solutions/<lab>/, released student notebooks in ../notebooks/<lab>/,
student submissions in submitted/<student>/<lab>/ (here), gradebook.db here.
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = HERE
c.CourseDirectory.course_id = "dl-lab-course"
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "notebooks")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# nbgrader reads Execute.timeout (not ExecutePreprocessor.timeout): seconds per cell.
c.Execute.timeout = 300
c.Execute.kernel_name = "dlcourse"
c.Execute.interrupt_on_timeout = True

# Student notebooks are committed without outputs.
c.ClearOutput.enabled = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

"""nbgrader preprocessors the course adds to the stock pipeline."""

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor


class HideTestTracebacks(NbGraderPreprocessor):
    """In feedback, reduce a failed test cell's traceback to its message.

    A traceback quotes the source line that failed, which for a hidden test is hidden-test source. The message of
    a ``course_utils.checks`` failure already says what was expected and what was found.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources

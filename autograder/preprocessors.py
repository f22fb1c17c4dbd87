"""nbgrader preprocessors the course adds to the stock pipeline."""

from __future__ import annotations

import re

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

# What TensorFlow, absl and Keras print on stderr by themselves. nbgrader scores ANY stderr output in a test cell
# as a failure, so these lines are removed on purpose (and only these: a student's own stderr output still counts).
LOG_NOISE = [
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    r"^[IWEF]\d{4} [\d:. ]+\s*\d*\s*\S+\.(cc|h|py):\d+\] .*$",  # absl C++ / Python log line
    r"^\d{4}-\d{2}-\d{2} [\d:.]+: [IWEF] \S+:\d+\] .*$",  # TensorFlow C++ log line
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$",
    r"^WARNING:(absl|tensorflow):.*$",
    r"^\S*/site-packages/(tensorflow|keras|absl|tf_keras|ml_dtypes)/\S+\.py:\d+: \w*Warning: .*$",
]


class StripLogNoise(NbGraderPreprocessor):
    """Remove library log lines from stderr outputs, line by line; drop a stderr output left empty.

    Unlike nbgrader's ``IgnorePattern`` (which drops a whole stderr output when it *contains* a match, taking any
    real message written in the same chunk with it), this keeps every line that is not library noise. A Python
    warning line from a library file takes the indented source line that follows it along.
    """

    patterns = List(Unicode(), LOG_NOISE, help="Regular expressions of stderr lines to remove").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        compiled = [re.compile(pattern) for pattern in self.patterns]
        kept_outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                output["text"] = strip_noise(output.get("text", ""), compiled)
                if not output["text"].strip():
                    continue
            kept_outputs.append(output)
        cell.outputs = kept_outputs
        return cell, resources


def strip_noise(text: str, compiled: list[re.Pattern]) -> str:
    kept, skip_indented = [], False
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if skip_indented and bare.startswith((" ", "\t")):
            continue
        skip_indented = False
        if any(pattern.match(bare) for pattern in compiled):
            skip_indented = "Warning: " in bare
            continue
        kept.append(line)
    return "".join(kept)


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

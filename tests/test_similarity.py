"""The similarity report on the fixture lab: renamed, re-commented, reformatted copies are flagged; independent
answers and untouched templates are not."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder import similarity

SOURCE = (
    Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions" / "lab0_grading" / "lab0_grading.ipynb"
)

ORIGINAL = '''def mean(values):
    """Arithmetic mean of a non-empty list."""
    total = 0.0
    count = 0
    for value in values:
        total += value
        count += 1
    if count == 0:
        raise ValueError("empty list")
    return total / count'''
DISGUISED = '''def mean(values):
    """Arithmetic mean of a non-empty list."""
    # add everything up, then divide
    acc = 0.0
    n = 0
    for   x in values :  # each number
        acc += x
        n += 1

    if n == 0:
        raise ValueError('no values given')
    return acc / n'''
INDEPENDENT = '''def mean(values):
    """Arithmetic mean of a non-empty list."""
    import statistics

    if not values:
        raise ValueError("mean of nothing")
    return statistics.fmean(sorted(values, reverse=True)[::1])'''


def submission(answers: dict[str, str]) -> bytes:
    """The fixture's student copy (solutions replaced by nbgrader's stub) with ``answers`` pasted in."""
    notebook = nbformat.read(SOURCE, as_version=4)
    templates = similarity.template_cells(SOURCE)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in templates:
            cell.source = answers.get(
                grade_id, templates[grade_id][1] + "\n    # YOUR CODE HERE\n    raise NotImplementedError()"
            )
    return nbformat.writes(notebook).encode()


def test_renamed_recommented_reformatted_copy_is_flagged():
    pairs, compared = similarity.compare(
        {"ada": submission({"mean_function": ORIGINAL}), "bob": submission({"mean_function": DISGUISED}),
         "cy": submission({"mean_function": INDEPENDENT})}, SOURCE)  # fmt: skip
    assert compared == 3
    assert [(pair.a, pair.b) for pair in pairs] == [("ada", "bob")]
    pair = pairs[0]
    assert pair.score >= 0.9 and not pair.identical
    cell = next(cell for cell in pair.cells if cell["cell"] == "mean_function")
    assert cell["a"] == ORIGINAL and cell["b"] == DISGUISED  # side by side, as submitted


def test_identical_answers_are_certain_even_when_short():
    short = 'def mean(values):\n    """Arithmetic mean of a non-empty list."""\n    return sum(values) / len(values)'
    pairs, _ = similarity.compare({"ada": submission({"mean_function": short}),
                                   "bob": submission({"mean_function": short})}, SOURCE)  # fmt: skip
    assert len(pairs) == 1 and pairs[0].identical and pairs[0].score == 1.0


def test_untouched_templates_never_count():
    pairs, _ = similarity.compare({name: submission({}) for name in ("ada", "bob", "cy")}, SOURCE)
    assert pairs == []


def test_template_code_is_not_a_match():
    """Two different answers inside the same (long) template signature and docstring are not similar."""
    answers = {"ada": submission({"mean_function": ORIGINAL}), "cy": submission({"mean_function": INDEPENDENT})}
    pairs, _ = similarity.compare(answers, SOURCE, threshold=0.3)
    assert pairs == []


def test_normalisation_ignores_names_comments_and_layout():
    assert similarity.normalised_tokens(ORIGINAL) == similarity.normalised_tokens(DISGUISED)
    assert similarity.normalised_tokens("x = np.mean(y)") == ["N", "=", "N", ".", "mean", "(", "N", ")", ";"]


def test_unfinished_code_still_compares():
    assert similarity.normalised_tokens("def f(:\n  return (1,") != []


@pytest.mark.parametrize("threshold", [0.5, 0.95])
def test_written_report_and_html_section(tmp_path, threshold):
    subs = {"ada": submission({"mean_function": ORIGINAL}), "bob": submission({"mean_function": DISGUISED})}
    path = similarity.write("lab0_grading", subs, SOURCE, tmp_path, threshold=threshold)
    assert path == tmp_path / "lab0_grading.json"
    section = similarity.html_section("lab0_grading", tmp_path)
    assert "Similar submissions" in section and "ada &amp; bob" in section
    assert "acc += x" in section  # the cells, side by side
    assert similarity.html_section("lab9_none", tmp_path) == ""


def test_cli_and_tutor_report(tmp_path, capsys):
    from autograder import __main__ as cli
    from autograder import course, gradebook, report

    folder = tmp_path / "submissions"
    for student, answer in (("ada", ORIGINAL), ("bob", DISGUISED), ("cy", INDEPENDENT)):
        (folder / student).mkdir(parents=True)
        (folder / student / "lab0_grading.ipynb").write_bytes(submission({"mean_function": answer}))
    db = tmp_path / "gradebook.db"
    solutions = SOURCE.parent.parent
    assert cli.main(["similarity", "lab0_grading", str(folder), "--db", str(db), "--solutions", str(solutions)]) == 0
    assert "similarity: 1 pair(s) of 3 submission(s) flagged" in capsys.readouterr().out
    assert (tmp_path / "similarity" / "lab0_grading.json").exists()
    for student in ("ada", "bob", "cy"):
        gradebook.record_row(db, course.GradeResult(student, "lab0_grading", scores={"test_mean": 2.0},
                                                    max_scores={"test_mean": 2.0}))  # fmt: skip
    page = report.build(db)
    assert "Similar submissions" in page and "ada &amp; bob" in page and "cy &amp;" not in page
    assert cli.main(["similarity", "lab0_grading", str(folder), "--db", str(db), "--threshold", "2"]) == 2

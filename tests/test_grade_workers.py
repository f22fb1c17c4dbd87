"""`python -m autograder grade` uses the machine's cores by default (at most one worker per submission) and says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder import __main__ as cli
from autograder import course

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"


@pytest.mark.parametrize(
    ("requested", "submissions", "cores", "expected"),
    [(None, 3, 16, 3), (None, 40, 16, 16), (None, 0, 16, 1), (None, 5, 1, 1), (2, 40, 16, 2), (4, 1, 16, 4)],
)
def test_workers_default_to_cores_at_most_the_submissions(requested, submissions, cores, expected):
    workers, why = cli.workers_for(requested, submissions, cores)
    assert workers == expected
    if requested:
        assert why == "--workers"
    else:
        assert why.startswith(f"{cores} core(s), {submissions} submission(s)")


def test_workers_below_one_is_an_error():
    with pytest.raises(course.GradingError, match="at least 1"):
        cli.workers_for(0, 3)


def test_usable_cores_is_this_process_affinity():
    assert cli.usable_cores() == len(os.sched_getaffinity(0))


def test_grade_says_how_many_workers_it_uses(tmp_path, capsys):
    folder = tmp_path / "submissions"
    for student in ("ada", "bob"):
        (folder / student).mkdir(parents=True)
        (folder / student / "other.ipynb").write_text("{}")  # not lab0_grading.ipynb: reported, not graded
    code = cli.main(["grade", "lab0_grading", str(folder), "--solutions", str(FIXTURE), "--db", str(tmp_path / "g.db")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"grading with 1 worker process(es) ({cli.usable_cores()} core(s), 0 submission(s)" in out

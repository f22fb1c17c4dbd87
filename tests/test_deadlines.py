"""Deadlines: the penalty rule, deadlines.toml, submission times from every source, nbgrader's late-submission
pipeline (AssignLatePenalties with the course plugin, as stock `nbgrader autograde` runs it), the course gradebook."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import AssignLatePenalties
from traitlets.config import Config

from autograder import deadlines

BERLIN = deadlines.ZoneInfo("Europe/Berlin")
DUE = "lab0_grading = 2026-11-09T23:59:00"  # Berlin: 22:59 UTC
TOML = f"""timezone = "Europe/Berlin"
[penalty]
grace_minutes = 15
percent_per_day = 10
max_days_late = 5
[due]
{DUE}
"""
DUE_UTC = dt.datetime(2026, 11, 9, 22, 59, tzinfo=dt.UTC)


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "deadlines.toml"
    path.write_text(TOML)
    return path


@pytest.mark.parametrize(
    ("seconds_late", "fraction"),
    [
        (0, 0),
        (15 * 60, 0),
        (15 * 60 + 1, 0.1),
        (3 * 3600, 0.1),
        (86400, 0.1),
        (86401, 0.2),
        (26 * 3600, 0.2),
        (5 * 86400, 0.5),
        (5 * 86400 + 1, 1.0),
    ],  # fmt: skip
)
def test_penalty_rule(seconds_late, fraction):
    rule = deadlines.PenaltyRule(grace_minutes=15, percent_per_day=10, max_days_late=5)
    assert rule.fraction(seconds_late) == pytest.approx(fraction)
    assert rule.penalty(8.0, seconds_late) == pytest.approx(8.0 * fraction)


def test_shipped_deadlines_cover_every_lab():
    from autograder.course import labs

    shipped = deadlines.load()
    assert set(shipped.due) == set(labs()), "autograder/deadlines.toml: one due date per lab"
    assert all(due.tzinfo for due in shipped.due.values())


def test_load_reads_local_due_dates_in_the_course_zone(config_file):
    loaded = deadlines.load(config_file)
    assert loaded.due_utc("lab0_grading") == DUE_UTC
    assert loaded.due_utc("lab9_none") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [('timezone = "Mars/Olympus"', "unknown timezone"), ("[due]\nlab1 = 'tomorrow'", "TOML date-time"),
     ("[penalty]\npercent_per_day = -1", "non-negative"), ("deadline = 1", "unknown key"), ("[due", "cannot read")],
)  # fmt: skip
def test_bad_deadlines_file_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "deadlines.toml"
    path.write_text(text)
    with pytest.raises(deadlines.DeadlineError, match=message):
        deadlines.load(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-11-10 00:30:00.5 Europe/Berlin", dt.datetime(2026, 11, 9, 23, 30, 0, 500000, tzinfo=dt.UTC)),
     ("2026-11-09 23:30:00 UTC", dt.datetime(2026, 11, 9, 23, 30, tzinfo=dt.UTC)),
     ("2026-11-09T23:30:00+00:00", dt.datetime(2026, 11, 9, 23, 30, tzinfo=dt.UTC)),
     ("2026-11-09 23:30:00", dt.datetime(2026, 11, 9, 23, 30, tzinfo=dt.UTC))],  # naive timestamp.txt: UTC
)  # fmt: skip
def test_timestamp_file_formats(tmp_path, text, expected):
    (tmp_path / "timestamp.txt").write_text(text + "\n")
    time = deadlines.read_timestamp(tmp_path / "timestamp.txt")
    assert time.when == expected and not time.problem


@pytest.mark.parametrize("text", ["", "   \n", "yesterday at noon", "2026-13-45 99:00:00 UTC"])
def test_unreadable_timestamp_is_a_problem_not_on_time(tmp_path, config_file, text):
    (tmp_path / "timestamp.txt").write_text(text)
    time = deadlines.read_timestamp(tmp_path / "timestamp.txt")
    assert time.when is None and time.problem
    late = deadlines.lateness(deadlines.load(config_file), "lab0_grading", time)
    assert late.status == "unknown" and late.problem == time.problem


def notebook_bytes() -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook()).encode()


def test_submission_times_from_folders_zips_and_the_lms(tmp_path, config_file):
    folder = tmp_path / "submissions"
    (folder / "ada").mkdir(parents=True)
    (folder / "ada" / "lab0_grading.ipynb").write_bytes(notebook_bytes())
    (folder / "ada" / "timestamp.txt").write_text("2026-11-09 22:00:00 UTC")
    (folder / "bob" / "lab0_grading").mkdir(parents=True)  # nbgrader's layout: the time beside the notebook
    (folder / "bob" / "lab0_grading" / "lab0_grading.ipynb").write_bytes(notebook_bytes())
    (folder / "bob" / "lab0_grading" / "timestamp.txt").write_text("2026-11-11 12:00:00 UTC")
    (folder / "cy").mkdir()
    (folder / "cy" / "lab0_grading.ipynb").write_bytes(notebook_bytes())  # no time at all
    with zipfile.ZipFile(folder / "dan.zip", "w") as archive:  # a zip entry's time is local (course zone)
        archive.writestr(zipfile.ZipInfo("lab0_grading.ipynb", (2026, 11, 10, 1, 0, 0)), notebook_bytes())
    with zipfile.ZipFile(folder / "eve.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("lab0_grading.ipynb"), notebook_bytes())  # 1980-01-01: no time
    loaded = deadlines.load(config_file)
    times = deadlines.submission_times("lab0_grading", folder, loaded)
    assert times["ada"].when == dt.datetime(2026, 11, 9, 22, tzinfo=dt.UTC)
    assert times["bob"].when == dt.datetime(2026, 11, 11, 12, tzinfo=dt.UTC)
    assert times["dan"].when == dt.datetime(2026, 11, 10, 0, 0, tzinfo=dt.UTC)
    assert times["cy"].when is None and "no timestamp.txt" in times["cy"].problem
    assert times["eve"].when is None and "no time" in times["eve"].problem
    status = {s: deadlines.lateness(loaded, "lab0_grading", t) for s, t in times.items()}
    assert status["ada"].status == "on time" and status["ada"].fraction == 0
    assert status["bob"].status == "late" and status["bob"].fraction == pytest.approx(0.2)  # 37 h late
    assert status["dan"].status == "late" and status["dan"].fraction == pytest.approx(0.1)  # 61 min late
    assert status["cy"].status == status["eve"].status == "unknown"

    lms = tmp_path / "lms.csv"
    lms.write_text("student,lab,submitted\ncy,lab0_grading,2026-11-09T23:00:00\ncy,lab1_other,2030-01-01T00:00:00\n"
                   "ada,lab0_grading,2026-11-14T12:00:00+01:00\n")  # fmt: skip
    times = deadlines.submission_times("lab0_grading", folder, loaded, lms_csv=lms)
    assert times["cy"].when == dt.datetime(2026, 11, 9, 22, tzinfo=dt.UTC)  # Berlin time, other lab's row skipped
    assert deadlines.lateness(loaded, "lab0_grading", times["ada"]).fraction == pytest.approx(0.5)  # LMS wins: 4.5 days


def test_lms_csv_without_the_columns_is_an_error(tmp_path, config_file):
    lms = tmp_path / "lms.csv"
    lms.write_text("name,time\nada,2026-11-09\n")
    with pytest.raises(deadlines.DeadlineError, match="student,submitted"):
        deadlines.submission_times("lab0_grading", tmp_path, deadlines.load(config_file), lms_csv=lms)


@pytest.fixture(scope="module")
def empty_gradebook(tmp_path_factory) -> Path:
    """A gradebook with lab0_grading (one notebook, one 4-point cell) and student ada; made once (nbgrader creates
    its tables through alembic: seconds), copied per test."""
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gradebook:
        gradebook.add_assignment("lab0_grading")
        gradebook.add_notebook("lab0_grading", "lab0_grading")
        gradebook.add_grade_cell("test_mean", "lab0_grading", "lab0_grading", max_score=4, cell_type="code")
        gradebook.add_student("ada")
    return path


@pytest.fixture
def make_gradebook(empty_gradebook):
    def make(path: Path, submitted: dt.datetime | None) -> str:
        """A copy of ``empty_gradebook`` at ``path`` with ada's submission (scoring 4) handed in at ``submitted``."""
        shutil.copyfile(empty_gradebook, path)
        return add_submission(f"sqlite:///{path}", submitted)

    return make


def add_submission(url: str, submitted: dt.datetime | None) -> str:
    with Gradebook(url) as gradebook:
        naive = submitted.astimezone(dt.UTC).replace(tzinfo=None) if submitted else None
        submission = gradebook.add_submission("lab0_grading", "ada", timestamp=naive)
        submission.notebooks[0].grades[0].auto_score = 4
        gradebook.db.commit()
    return url


@pytest.mark.parametrize(("hours_late", "penalty"), [(-1, 0.0), (3, 0.4), (30, 0.8), (24 * 6, 4.0)])
def test_stock_nbgrader_pipeline_applies_the_course_rule(tmp_path, config_file, make_gradebook, hours_late, penalty):
    """ApplyDueDate then nbgrader's AssignLatePenalties with LatePenalty, as nbgrader_config.py configures them."""
    url = make_gradebook(tmp_path / "gradebook.db", DUE_UTC + dt.timedelta(hours=hours_late))
    config = Config()
    config.AssignLatePenalties.plugin_class = deadlines.LatePenalty
    config.LatePenalty.deadlines_file = str(config_file)
    config.ApplyDueDate.deadlines_file = str(config_file)
    resources = {"nbgrader": {"notebook": "lab0_grading", "assignment": "lab0_grading", "student": "ada",
                              "db_url": url}}  # fmt: skip
    notebook = nbformat.v4.new_notebook()
    for step in (deadlines.ApplyDueDate(config=config), AssignLatePenalties(config=config)):
        notebook, resources = step.preprocess(notebook, resources)
    with Gradebook(url) as gradebook:
        submission = gradebook.find_submission("lab0_grading", "ada")
        assert submission.duedate == DUE_UTC.replace(tzinfo=None)
        assert submission.late_submission_penalty == pytest.approx(penalty)


def test_stock_pipeline_logs_a_submission_without_time(tmp_path, config_file, make_gradebook, caplog):
    url = make_gradebook(tmp_path / "gradebook.db", None)
    config = Config()
    config.ApplyDueDate.deadlines_file = str(config_file)
    step = deadlines.ApplyDueDate(config=config)
    resources = {"nbgrader": {"notebook": "lab0_grading", "assignment": "lab0_grading", "student": "ada",
                              "db_url": url}}  # fmt: skip
    with caplog.at_level("ERROR"):
        step.preprocess(nbformat.v4.new_notebook(), resources)
    assert "no readable timestamp.txt" in caplog.text


def test_nbgrader_config_wires_the_deadlines():
    from traitlets.config.loader import PyFileConfigLoader

    config_dir = Path(deadlines.__file__).parent
    config = PyFileConfigLoader("nbgrader_config.py", path=str(config_dir)).load_config()
    steps = [step.__name__ for step in config.Autograde.autograde_preprocessors]
    assert steps.index("ApplyDueDate") == steps.index("AssignLatePenalties") - 1
    assert config.AssignLatePenalties.plugin_class is deadlines.LatePenalty


def test_record_times_fills_nbgrader_tables_and_the_report(tmp_path, config_file, make_gradebook):
    db = tmp_path / "gradebook.db"
    make_gradebook(db, None)
    loaded = deadlines.load(config_file)
    times = {"ada": deadlines.SubmissionTime(DUE_UTC + dt.timedelta(hours=30), "lms.csv line 2"),
             "bob": deadlines.SubmissionTime(None, "bob", "no timestamp.txt in bob/")}  # fmt: skip
    deadlines.record_times(db, "lab0_grading", times, loaded)
    with Gradebook(f"sqlite:///{db}") as gradebook:
        submission = gradebook.find_submission("lab0_grading", "ada")
        assert submission.timestamp == (DUE_UTC + dt.timedelta(hours=30)).replace(tzinfo=None)
        assert submission.late_submission_penalty == pytest.approx(0.8)
    assert deadlines.load_times("lab0_grading", db) == times
    rows = [{"student": "ada", "total": 4.0}, {"student": "bob", "total": 3.0}, {"student": "cy", "total": 1.0}]
    section = deadlines.html_section("lab0_grading", db, rows, loaded)
    assert "late: 1" in section and "unknown time: 2" in section  # cy: no time recorded at all
    assert "<td>30.0 h</td><td>4</td><td>0.8</td>" in section
    assert "no timestamp.txt in bob/" in section and "no submission time recorded" in section


@pytest.mark.notebook
@pytest.mark.slow
def test_both_grading_paths_apply_the_same_penalty(tmp_path, config_file, capsys):
    """Stock `nbgrader autograde` (timestamp.txt in submitted/<student>/<lab>/) and `python -m autograder grade`
    (timestamp.txt in the submission folder) record the same lateness and penalty in nbgrader's tables."""
    from autograder import __main__ as cli
    from autograder import course

    fixture = Path(__file__).resolve().parent / "fixtures" / "autograder" / "solutions"
    late = "2026-11-11 04:59:00 UTC"  # 30 h after the due date: 20 % of the 5 points
    source = tmp_path / "solutions"
    shutil.copytree(fixture, source)
    release = tmp_path / "release"
    course.release(["lab0_grading"], release_dir=release, db=tmp_path / "scratch.db", solutions=source)
    answers = course.reference_submission("lab0_grading", source, release)

    root = tmp_path / "stock"
    root.mkdir()
    settings = {"Execute.timeout": 30, "LatePenalty.deadlines_file": str(config_file),
                "ApplyDueDate.deadlines_file": str(config_file)}  # fmt: skip
    course.write_course_config(root, settings)
    shutil.copytree(source / "lab0_grading", root / "source" / "lab0_grading")
    course.run_nbgrader("generate_assignment", "lab0_grading", cwd=root)
    submitted = root / "submitted" / "ada" / "lab0_grading"
    submitted.mkdir(parents=True)
    (submitted / "lab0_grading.ipynb").write_bytes(answers)
    (submitted / "timestamp.txt").write_text(late)
    course.run_nbgrader("autograde", "lab0_grading", cwd=root)

    folder = tmp_path / "submissions" / "ada"
    folder.mkdir(parents=True)
    (folder / "lab0_grading.ipynb").write_bytes(answers)
    (folder / "timestamp.txt").write_text(late)
    (tmp_path / "course").mkdir()
    db = tmp_path / "course" / "gradebook.db"
    argv = ["grade", "lab0_grading", str(folder.parent), "--solutions", str(source), "--db", str(db),
            "--deadlines", str(config_file), "--workers", "1"]  # fmt: skip
    assert cli.main(argv) == 0
    assert "deadlines: 1 late, 0 without a readable time" in capsys.readouterr().out

    for url in (f"sqlite:///{root / 'gradebook.db'}", f"sqlite:///{db}"):
        with Gradebook(url) as gradebook:
            submission = gradebook.find_submission("lab0_grading", "ada")
            assert submission.score == pytest.approx(5.0), url
            assert submission.total_seconds_late == pytest.approx(30 * 3600), url
            assert submission.late_submission_penalty == pytest.approx(1.0), url

"""LMS export from the gradebook: Canvas's and Moodle's import layouts and the plain CSV, with points graded by hand
and late penalties; and the tutor report's Deadlines section on the same gradebook."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from gradebook_support import LAB, grade_by_hand, make_course, write_results

from autograder import __main__ as cli
from autograder import deadlines, export, report

DUE = dt.datetime(2026, 11, 9, 22, 59, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def course_db(tmp_path_factory):
    """ada: 1 autograded + 1.5 by hand, 30 h late (-20 %); bob: 1 + nothing by hand yet, on time; cy: no time."""
    root = tmp_path_factory.mktemp("course")
    paths = make_course(root)
    db = paths["db"]
    write_results(db, LAB, ["ada", "bob", "cy"], {"test_mean": 1.0, "reflection_mean": 0.0})
    grade_by_hand(db, "ada", 1.5, "clear reasoning")
    toml = root / "deadlines.toml"
    toml.write_text(f'timezone = "UTC"\n[penalty]\npercent_per_day = 10\n[due]\n{LAB} = {DUE.isoformat()}\n')
    times = {"ada": deadlines.SubmissionTime(DUE + dt.timedelta(hours=30), "lms.csv line 2"),
             "bob": deadlines.SubmissionTime(DUE - dt.timedelta(hours=1), "bob/timestamp.txt"),
             "cy": deadlines.SubmissionTime(None, "cy", "empty time in cy/timestamp.txt")}  # fmt: skip
    deadlines.record_times(db, LAB, times, deadlines.load(toml))
    return db, toml


def read_csv(path) -> list[list[str]]:
    return list(csv.reader(path.read_text(encoding="utf-8").splitlines()))


def test_grades_combine_auto_manual_and_late_penalty(course_db):
    db, toml = course_db
    grades = {grade.student: grade for grade in export.grades(db, toml)}
    assert (grades["ada"].auto, grades["ada"].manual, grades["ada"].penalty, grades["ada"].score) == (1, 1.5, 0.5, 2)
    assert (grades["bob"].penalty, grades["bob"].score, grades["bob"].lateness.status) == (0, 1, "on time")
    assert grades["cy"].lateness.status == "unknown" and grades["cy"].score == 1


def test_canvas_layout(course_db, tmp_path):
    db, toml = course_db
    path, warnings = export.write(db, "canvas", tmp_path / "canvas.csv", toml)
    rows = read_csv(path)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", LAB]
    assert rows[1][0] == "Points Possible" and rows[1][-1] == "1"  # max_total as recorded (write_results: 1)
    assert rows[2] == ["ada", "", "ada", "ada", "", "2"]
    assert [row[0] for row in rows[2:]] == ["ada", "bob", "cy"]
    assert any("without a readable submission time" in warning for warning in warnings)


def test_canvas_roster_supplies_canvas_identities(course_db, tmp_path):
    db, toml = course_db
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (7)\n    Points Possible,,,,,10\n"
        '"Lovelace, Ada",101,S-0001,ada,Mon lab,9\n"Babbage, Bob",102,S-0002,bob,Tue lab,7\n'
    )
    path, warnings = export.write(db, "canvas", tmp_path / "canvas.csv", toml, roster=roster,
                                  columns={LAB: "Lab 0 (4242)"})  # fmt: skip
    rows = read_csv(path)
    assert rows[0][-1] == "Lab 0 (4242)"
    assert rows[2] == ["Lovelace, Ada", "101", "S-0001", "ada", "Mon lab", "2"]
    assert len(rows) == 4 and any("not in the Canvas roster" in warning and "cy" in warning for warning in warnings)


def test_moodle_layout(course_db, tmp_path):
    db, toml = course_db
    path, _ = export.write(db, "moodle", tmp_path / "moodle.csv", toml, email_domain="uni.example")
    rows = read_csv(path)
    assert rows[0] == ["ID number", "Email address", LAB]
    assert rows[1] == ["ada", "ada@uni.example", "2"]


def test_plain_csv_shows_every_part(course_db, tmp_path):
    db, toml = course_db
    path, _ = export.write(db, "csv", tmp_path / "grades.csv", toml)
    rows = {row["student"]: row for row in csv.DictReader(path.open())}
    ada = rows["ada"]
    assert (ada["auto_score"], ada["manual_score"], ada["late_penalty"], ada["score"], ada["max_score"]) == (
        "1", "1.5", "0.5", "2", "1")  # fmt: skip
    assert ada["late_status"] == "late" and ada["submitted"].startswith("2026-11-11T04:59")
    assert rows["cy"]["late_status"] == "unknown"


def test_cli_export(course_db, tmp_path, capsys):
    db, toml = course_db
    target = tmp_path / "out.csv"
    argv = ["export", "--format", "moodle", "--db", str(db), "--deadlines", str(toml), "--out", str(target)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert f"wrote {target}" in captured.out and "warning:" in captured.err
    assert cli.main([*argv[:-2], "--out", str(target), "--column", "nonsense"]) == 2
    assert cli.main(["export", "--format", "csv", "--db", str(tmp_path / "empty.db"), "--out", str(target)]) == 2


def test_report_shows_deadlines(course_db):
    db, toml = course_db
    page = report.build(db, deadlines_file=toml)
    assert "<h3>Deadlines</h3>" in page and "late: 1" in page and "unknown time: 1" in page
    assert "empty time in cy/timestamp.txt" in page

"""LMS export: ``python -m autograder export --format canvas|moodle|csv`` writes the gradebook in the layout the
LMS's gradebook import takes, with the points graded by hand and the late penalties (deadlines.toml) applied.

Points per lab = autograded + graded by hand - late penalty (``autograder.deadlines``: the rule applied to the points
earned). Answers still waiting for a tutor count 0 and the command says how many there are.

Layouts (what the LMS documents for its import):

- ``canvas``: Canvas's gradebook CSV, as Canvas exports it and re-imports it: the columns ``Student``, ``ID``,
  ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment, and a second row
  ``Points Possible`` (read-only on import). Canvas identifies a student by name, Canvas ID or SIS User ID, with
  SIS Login ID and Section present; a column whose header matches no assignment creates one on import.
  Sources: Ohio State's CarmenCanvas guide "Import a CSV file into Carmen grades"
  (https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades)
  and VCU's "Gradebook Action Menu" (https://ts.vcu.edu/askit/teaching-and-learning/canvas/faculty/grading-faculty/
  gradebook-action-menu-faculty/). Without ``--roster`` the course's student id is written as SIS User ID and SIS
  Login ID (nbgrader's student id is usually the login); with ``--roster`` (Canvas's own gradebook export) the
  Student, ID, SIS User ID, SIS Login ID and Section of the student whose SIS Login ID, SIS User ID or ID equals the
  course's id are copied, so Canvas matches every row. To update an existing assignment, give the lab its Canvas
  header with ``--column lab1_sequence="Lab 1 (12345)"``.
- ``moodle``: Moodle's CSV grade import ("Grade import", https://docs.moodle.org/311/en/Grade_import): one row per
  student, an identifier column and one column per grade item; on import the tutor maps "ID number" to
  ``useridnumber`` (Moodle's "Map from" / "Map to") and each lab's column to its grade item. Columns:
  ``ID number``, ``Email address`` (``--email-domain`` makes ``<id>@<domain>``, else empty), then one per lab.
- ``csv``: one row per graded submission with every part of the grade (auto, manual, late penalty, final score,
  maximum, submission time, lateness status, answers still to be graded).

Files are written atomically, UTF-8, comma-separated.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from autograder import deadlines, gradebook
from autograder.errors import GradingError

FORMATS = ("canvas", "moodle", "csv")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_IDENTITY = ("ID number", "Email address")
CSV_COLUMNS = ("lab", "student", "auto_score", "manual_score", "late_penalty", "score", "max_score", "submitted",
               "late_status", "to_be_graded")  # fmt: skip


@dataclass(frozen=True)
class Grade:
    """One student's points for one lab, as exported."""

    lab: str
    student: str
    auto: float
    manual: float
    penalty: float
    maximum: float
    lateness: deadlines.Lateness
    ungraded: int

    @property
    def score(self) -> float:
        return round(self.auto + self.manual - self.penalty, 6)


def grades(db: Path | str, deadlines_file: Path | None = None, labs: list[str] | None = None) -> list[Grade]:
    """Every graded submission's exported points, from the gradebook and deadlines.toml."""
    due = deadlines.load(deadlines_file)
    rows = gradebook.load_results(db, columns="lab, student, total, max_total")
    result = []
    for lab in sorted({row["lab"] for row in rows}):
        if labs and lab not in labs:
            continue
        lab_rows = [row for row in rows if row["lab"] == lab]
        late = deadlines.latenesses(lab, db, due, [row["student"] for row in lab_rows])
        for row in lab_rows:
            manual = float(row.get("manual_total", 0.0))
            auto = float(row.get("auto_total", row["total"] - manual))
            lateness = late[row["student"]]
            result.append(Grade(lab, row["student"], auto, manual, lateness.penalty(auto + manual),
                                float(row["max_total"]), lateness, len(row.get("ungraded") or [])))  # fmt: skip
    return result


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """Canvas's gradebook export: identity columns per student, keyed by SIS Login ID, SIS User ID and ID."""
    try:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise GradingError(f"{path}: cannot read the Canvas roster ({error})") from error
    if not rows or not set(CANVAS_IDENTITY) <= set(rows[0]):
        raise GradingError(f"{path}: not a Canvas gradebook export (needs the columns {', '.join(CANVAS_IDENTITY)})")
    roster: dict[str, dict[str, str]] = {}
    for row in rows:
        if (row.get("Student") or "").strip() == "Points Possible":
            continue
        identity = {column: row.get(column) or "" for column in CANVAS_IDENTITY}
        for key in ("ID", "SIS User ID", "SIS Login ID"):  # later keys win: the login is nbgrader's usual id
            if identity[key]:
                roster[identity[key]] = identity
    return roster


def canvas(grades_: list[Grade], roster: dict[str, dict[str, str]] | None = None,
           columns: dict[str, str] | None = None) -> tuple[str, list[str]]:  # fmt: skip
    """Canvas gradebook CSV text, and the students the roster does not know."""
    labs = sorted({grade.lab for grade in grades_})
    headers = [(columns or {}).get(lab, lab) for lab in labs]
    maxima = {lab: max(g.maximum for g in grades_ if g.lab == lab) for lab in labs}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CANVAS_IDENTITY, *headers])
    writer.writerow(["Points Possible", "", "", "", "", *(_number(maxima[lab]) for lab in labs)])
    unknown = []
    for student in sorted({grade.student for grade in grades_}):
        by_lab = {grade.lab: grade for grade in grades_ if grade.student == student}
        if roster is not None:
            identity = roster.get(student)
            if identity is None:
                unknown.append(student)
                continue
            identity = [identity[column] for column in CANVAS_IDENTITY]
        else:
            identity = [student, "", student, student, ""]
        writer.writerow([*identity, *(_number(by_lab[lab].score) if lab in by_lab else "" for lab in labs)])
    return buffer.getvalue(), unknown


def moodle(grades_: list[Grade], email_domain: str | None = None, columns: dict[str, str] | None = None) -> str:
    labs = sorted({grade.lab for grade in grades_})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*MOODLE_IDENTITY, *((columns or {}).get(lab, lab) for lab in labs)])
    for student in sorted({grade.student for grade in grades_}):
        by_lab = {grade.lab: grade for grade in grades_ if grade.student == student}
        email = f"{student}@{email_domain}" if email_domain else ""
        writer.writerow([student, email, *(_number(by_lab[lab].score) if lab in by_lab else "" for lab in labs)])
    return buffer.getvalue()


def plain_csv(grades_: list[Grade]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for g in grades_:
        writer.writerow([g.lab, g.student, _number(g.auto), _number(g.manual), _number(g.penalty), _number(g.score),
                         _number(g.maximum), g.lateness.submitted, g.lateness.status, g.ungraded])  # fmt: skip
    return buffer.getvalue()


def write(
    db: Path | str,
    format_: str,
    target: Path,
    deadlines_file: Path | None = None,
    labs: list[str] | None = None,
    roster: Path | None = None,
    columns: dict[str, str] | None = None,
    email_domain: str | None = None,
) -> tuple[Path, list[str]]:
    """Write the export; returns its path and warnings for the tutor (ungraded answers, unknown times, ...)."""
    if format_ not in FORMATS:
        raise GradingError(f"unknown export format {format_!r}; formats: {', '.join(FORMATS)}")
    exported = grades(db, deadlines_file, labs)
    if not exported:
        raise GradingError(f"nothing to export: no graded submissions in {gradebook.shown(db)}")
    warnings = []
    if format_ == "canvas":
        text, unknown = canvas(exported, read_roster(roster) if roster else None, columns)
        if unknown:
            warnings.append(f"{len(unknown)} student(s) not in the Canvas roster, left out: {', '.join(unknown[:10])}")
    elif format_ == "moodle":
        text = moodle(exported, email_domain, columns)
    else:
        text = plain_csv(exported)
    waiting = [g for g in exported if g.ungraded]
    if waiting:
        warnings.append(f"{len(waiting)} submission(s) have answers still to be graded by hand (counted as 0)")
    unknown_times = [g for g in exported if g.lateness.status == "unknown"]
    if unknown_times:
        warnings.append(f"{len(unknown_times)} submission(s) without a readable submission time (no late penalty "
                        "applied): see the report")  # fmt: skip
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return target, warnings

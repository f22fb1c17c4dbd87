"""Deadlines: due dates per lab, each submission's time, and late penalties by one documented rule.

- **Due dates and rule**: ``autograder/deadlines.toml`` (``load``); the rule is ``PenaltyRule`` (grace period, a
  percentage of the earned points per started day, zero after a number of days).
- **Submission times** (``submission_times``), first found wins: a CSV from the LMS given on the command line
  (``student,submitted`` with an optional ``lab`` column), nbgrader's ``timestamp.txt`` beside the notebook (or in
  the student's folder, or in the zip), the zip entry's own time. A time that cannot be read, or none at all, is
  recorded as a problem with status "unknown" and shown in the tutor report: never silently on time.
- **nbgrader**: ``LatePenalty`` is a ``nbgrader.plugins.LateSubmissionPlugin`` applying the same rule, and
  ``ApplyDueDate`` an autograde preprocessor that writes the lab's due date from deadlines.toml into the gradebook
  and logs an error for a submission without a time; both are configured in ``nbgrader_config.py``, so stock
  ``nbgrader autograde`` (``submitted/<student>/<lab>/timestamp.txt``) penalises exactly like
  ``python -m autograder grade``, which records times, due dates and penalties in the course gradebook's nbgrader
  tables (``record_times``: ``nbgrader export`` and formgrader show them) and in ``submission_times/<lab>.json``
  beside it. Reports and LMS exports compute the penalty from the current points (manual ones included).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.plugins import LateSubmissionPlugin
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder.errors import GradingError

DEADLINES_TOML = Path(__file__).resolve().parent / "deadlines.toml"
TIMESTAMP_FILE = "timestamp.txt"
UTC = ZoneInfo("UTC")
ZIP_NO_TIME = (1980, 1, 1, 0, 0, 0)  # the DOS epoch: what a zip entry says when its writer knew no time


class DeadlineError(GradingError):
    """deadlines.toml or an LMS times file is unusable; the message says what to fix."""


@dataclass(frozen=True)
class PenaltyRule:
    """Late penalty: free for ``grace_minutes``, then ``percent_per_day`` % of the earned points per started day
    (counted from the due date), and all of them after ``max_days_late`` days."""

    grace_minutes: float = 15
    percent_per_day: float = 10
    max_days_late: float = 5

    def fraction(self, seconds_late: float) -> float:
        """Share of the earned points taken for a submission ``seconds_late`` after the due date (0 to 1)."""
        if seconds_late <= self.grace_minutes * 60:
            return 0.0
        days = seconds_late / 86400
        if days > self.max_days_late:
            return 1.0
        return min(1.0, math.ceil(days) * self.percent_per_day / 100)

    def penalty(self, score: float, seconds_late: float) -> float:
        return round(max(0.0, score) * self.fraction(seconds_late), 6)

    def describe(self) -> str:
        return (f"{self.grace_minutes:g} min grace, then {self.percent_per_day:g} % of the points per started day, "
                f"0 points after {self.max_days_late:g} days")  # fmt: skip


@dataclass(frozen=True)
class Deadlines:
    due: dict[str, dt.datetime]  # lab -> due date (aware)
    rule: PenaltyRule
    timezone: ZoneInfo

    def due_utc(self, lab: str) -> dt.datetime | None:
        due = self.due.get(lab)
        return due.astimezone(dt.UTC) if due else None


def load(path: Path | None = None) -> Deadlines:
    """Read deadlines.toml (``path`` or the course's); raises ``DeadlineError`` saying what is wrong."""
    path = Path(path or DEADLINES_TOML)
    try:
        spec = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise DeadlineError(f"{path}: cannot read the deadlines ({error})") from error
    unknown = set(spec) - {"timezone", "penalty", "due"}
    if unknown:
        raise DeadlineError(f"{path}: unknown key(s) {sorted(unknown)}; expected timezone, [penalty], [due]")
    try:
        zone = ZoneInfo(spec.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DeadlineError(f"{path}: unknown timezone {spec.get('timezone')!r} (e.g. 'Europe/Berlin')") from error
    penalty = spec.get("penalty", {})
    fields = {"grace_minutes", "percent_per_day", "max_days_late"}
    if set(penalty) - fields or not all(isinstance(v, int | float) and v >= 0 for v in penalty.values()):
        raise DeadlineError(f"{path}: [penalty] takes non-negative numbers {sorted(fields)}, got {penalty}")
    due = {}
    for lab, when in spec.get("due", {}).items():
        if isinstance(when, dt.date) and not isinstance(when, dt.datetime):
            when = dt.datetime.combine(when, dt.time(23, 59, 59))
        if not isinstance(when, dt.datetime):
            raise DeadlineError(f"{path}: due date of {lab} must be a TOML date-time (2026-11-09T23:59:00), "
                                f"got {when!r}")  # fmt: skip
        due[lab] = when if when.tzinfo else when.replace(tzinfo=zone)
    return Deadlines(due, PenaltyRule(**penalty), zone)


# ------------------------------------------------------------------------------------ submission times


@dataclass(frozen=True)
class SubmissionTime:
    """When a submission was handed in (aware, UTC) and where that came from; ``problem`` when it is unknown."""

    when: dt.datetime | None
    source: str
    problem: str = ""


def parse_time(text: str, zone: ZoneInfo, source: str) -> SubmissionTime:
    """An ISO 8601 or nbgrader-style time (``2026-11-09 23:58:01.5 Europe/Berlin``); naive means ``zone``."""
    from nbgrader.utils import parse_utc

    text = text.strip()
    if not text:
        return SubmissionTime(None, source, f"empty time in {source}")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        try:  # nbgrader's own format, zone name or offset last; naive results of parse_utc are UTC
            parsed = parse_utc(text).replace(tzinfo=dt.UTC) if len(text.split(" ")) == 3 else None
        except (ValueError, OverflowError, TypeError):
            parsed = None
        if parsed is None:
            return SubmissionTime(None, source, f"unreadable time {text[:60]!r} in {source}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return SubmissionTime(parsed.astimezone(dt.UTC), source)


def read_timestamp(path: Path) -> SubmissionTime:
    """nbgrader's ``timestamp.txt`` (naive times are UTC, as nbgrader reads them)."""
    try:
        text = Path(path).read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as error:
        return SubmissionTime(None, str(path), f"unreadable {TIMESTAMP_FILE} ({type(error).__name__})")
    return parse_time(text, UTC, f"{Path(path).parent.name}/{TIMESTAMP_FILE}")


def zip_entry_time(info: zipfile.ZipInfo, zone: ZoneInfo, archive: str) -> SubmissionTime:
    """A zip entry's modification time (zips store local time without a zone: ``zone``)."""
    source = f"{archive}:{info.filename} (zip entry time)"
    if tuple(info.date_time) <= ZIP_NO_TIME:
        return SubmissionTime(None, source, f"zip entry {info.filename} carries no time (1980-01-01)")
    return SubmissionTime(dt.datetime(*info.date_time, tzinfo=zone).astimezone(dt.UTC), source)


def read_lms_times(path: Path, lab: str, zone: ZoneInfo) -> dict[str, SubmissionTime]:
    """``student,submitted[,lab]`` rows of an LMS export (rows of other labs skipped); bad rows raise."""
    try:
        rows = list(csv.DictReader(Path(path).read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DeadlineError(f"{path}: cannot read the LMS times ({error})") from error
    if not rows or not {"student", "submitted"} <= set(rows[0]):
        raise DeadlineError(f"{path}: expected a header with columns student,submitted (and optionally lab)")
    times = {}
    for number, row in enumerate(rows, start=2):
        if row.get("lab") and row["lab"] != lab:
            continue
        student = (row["student"] or "").strip()
        if not student:
            raise DeadlineError(f"{path}, line {number}: no student id")
        times[student] = parse_time(row["submitted"] or "", zone, f"{Path(path).name} line {number}")
    return times


def submission_times(
    lab: str, location: Path, deadlines: Deadlines, lms_csv: Path | None = None
) -> dict[str, SubmissionTime]:
    """Every submission's time in ``location`` (the folder or zip given to ``grade``), keyed by student."""
    location = Path(location)
    lms = read_lms_times(lms_csv, lab, deadlines.timezone) if lms_csv else {}
    found: dict[str, SubmissionTime] = {}
    notebook = f"{lab}.ipynb"
    if location.is_file() and location.suffix == ".zip":
        found.update(_zip_times(location, notebook, deadlines.timezone))
    elif location.is_dir():
        for path in sorted(location.iterdir()):
            if path.is_symlink():
                continue
            if path.is_dir() and any(path.rglob(notebook)):
                found[path.name] = _folder_time(path, notebook)
            elif path.suffix == ".zip" and path.is_file():
                found.update(_zip_times(path, notebook, deadlines.timezone, student=path.stem))
    return {**found, **lms}  # the LMS's record wins over files the student could have edited


def _folder_time(folder: Path, notebook: str) -> SubmissionTime:
    candidates = [p.parent / TIMESTAMP_FILE for p in sorted(folder.rglob(notebook))] + [folder / TIMESTAMP_FILE]
    for candidate in candidates:
        if candidate.is_file() and not candidate.is_symlink():
            return read_timestamp(candidate)
    return SubmissionTime(None, str(folder.name), f"no {TIMESTAMP_FILE} in {folder.name}/")


def _zip_times(path: Path, notebook: str, zone: ZoneInfo, student: str | None = None) -> dict[str, SubmissionTime]:
    times = {}
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if "__MACOSX" not in i.filename and not i.is_dir()]
            for info in infos:
                parts = Path(info.filename).parts
                if parts[-1] != notebook or ".ipynb_checkpoints" in parts:
                    continue
                owner = student or (parts[0] if len(parts) > 1 else path.stem)
                stamp = str(Path(info.filename).with_name(TIMESTAMP_FILE))
                if stamp in archive.namelist():
                    text = archive.read(stamp)[:200].decode("utf-8", errors="replace")
                    times[owner] = parse_time(text, UTC, f"{path.name}:{stamp}")
                else:
                    times[owner] = zip_entry_time(info, zone, path.name)
    except (zipfile.BadZipFile, OSError):  # collect_submissions reports the zip itself
        pass
    return times


# ----------------------------------------------------------------------------------------- lateness


@dataclass(frozen=True)
class Lateness:
    """How late one submission was and what that costs, for the report and the LMS export."""

    status: str  # "on time", "late", "unknown" (no readable time), "no deadline"
    submitted: str = ""  # ISO 8601, UTC
    source: str = ""
    seconds_late: float = 0.0
    fraction: float = 0.0  # share of the earned points taken
    problem: str = ""

    def penalty(self, score: float) -> float:
        return round(max(0.0, score) * self.fraction, 6)


def lateness(deadlines: Deadlines, lab: str, time: SubmissionTime | None) -> Lateness:
    due = deadlines.due_utc(lab)
    if time is None or time.when is None:
        problem = time.problem if time else "no submission time recorded"
        return Lateness("no deadline" if due is None else "unknown", source=time.source if time else "",
                        problem=problem)  # fmt: skip
    submitted = time.when.isoformat()
    if due is None:
        return Lateness("no deadline", submitted, time.source)
    late = max(0.0, (time.when - due).total_seconds())
    fraction = deadlines.rule.fraction(late)
    status = "late" if late > 0 else "on time"
    return Lateness(status, submitted, time.source, late, fraction)


def times_path(lab: str, db: Path | str) -> Path:
    """``submission_times/<lab>.json`` in the course folder of the gradebook ``db`` (``gradebook.course_root``)."""
    from autograder.gradebook import course_root

    return course_root(db) / "submission_times" / f"{lab}.json"


def load_times(lab: str, db: Path | str) -> dict[str, SubmissionTime]:
    path = times_path(lab, db)
    if not path.exists():
        return {}
    stored = json.loads(path.read_text())
    return {
        student: SubmissionTime(dt.datetime.fromisoformat(t["when"]) if t["when"] else None, t["source"], t["problem"])
        for student, t in stored.items()
    }


def latenesses(lab: str, db: Path | str, deadlines: Deadlines, students: list[str]) -> dict[str, Lateness]:
    """Per student of ``lab``: the lateness from the recorded time and the current deadlines.toml."""
    times = load_times(lab, db)
    return {student: lateness(deadlines, lab, times.get(student)) for student in students}


def record_times(
    db: Path | str, lab: str, times: dict[str, SubmissionTime], deadlines: Deadlines
) -> dict[str, Lateness]:
    """Store the times (``submission_times/<lab>.json``, merged, atomically) and mirror the due date, each graded
    submission's timestamp and its late penalty (on nbgrader's score) into the gradebook's nbgrader tables."""
    from nbgrader.api import Gradebook, MissingEntry

    path = times_path(lab, db)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(path.read_text()) if path.exists() else {}
    for student, time in times.items():
        stored[student] = {**asdict(time), "when": time.when.isoformat() if time.when else None}
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(stored, indent=1, sort_keys=True))
    temporary.replace(path)
    from autograder.gradebook import database_url

    due = deadlines.due_utc(lab)
    with Gradebook(database_url(db)) as gradebook:
        gradebook.update_or_create_assignment(lab, duedate=due.replace(tzinfo=None) if due else None)
        for student, time in times.items():
            try:
                submission = gradebook.find_submission(lab, student)
            except MissingEntry:  # not graded (yet)
                continue
            submission.timestamp = time.when.astimezone(dt.UTC).replace(tzinfo=None) if time.when else None
            late = lateness(deadlines, lab, time)
            for notebook in submission.notebooks:
                notebook.late_submission_penalty = late.penalty(notebook.score) if late.fraction else None
        gradebook.db.commit()
    return {student: lateness(deadlines, lab, time) for student, time in times.items()}


# --------------------------------------------------------------------------------- nbgrader plugins


DEADLINES_HELP = "deadlines.toml with the due dates and the late-penalty rule (autograder/deadlines.py)"


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with the course's rule (``PenaltyRule``) from deadlines.toml."""

    deadlines_file = Unicode(str(DEADLINES_TOML), help=DEADLINES_HELP).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        rule = load(Path(self.deadlines_file)).rule
        penalty = rule.penalty(score, total_seconds_late)
        self.log.warning("%s: %.0f s late, late penalty %g of %g points (%s)", student_id, total_seconds_late,
                         penalty, score, rule.describe())  # fmt: skip
        return penalty or None


class ApplyDueDate(NbGraderPreprocessor):
    """Autograde step before ``AssignLatePenalties``: the lab's due date from deadlines.toml into the gradebook (so
    nbgrader computes how late the submission is), and an error in the log for a submission without a time."""

    deadlines_file = Unicode(str(DEADLINES_TOML), help=DEADLINES_HELP).tag(config=True)

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        deadlines = load(Path(self.deadlines_file))
        due = deadlines.due_utc(info["assignment"])
        with Gradebook(info["db_url"]) as gradebook:
            assignment = gradebook.find_assignment(info["assignment"])
            assignment.duedate = due.replace(tzinfo=None) if due else None
            gradebook.db.commit()
            submission = gradebook.find_submission(info["assignment"], info["student"])
            if due is not None and submission.timestamp is None:
                self.log.error("%s/%s: no readable %s, so nbgrader counts it as on time: check when it was "
                               "submitted", info["student"], info["assignment"], TIMESTAMP_FILE)  # fmt: skip
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        return cell, resources


# ------------------------------------------------------------------------------------------ report


def html_section(lab: str, db: Path | str, rows: list[dict], deadlines: Deadlines | None = None) -> str:
    """The report's "Deadlines" section for ``lab``: every late or unknown submission, with its penalty."""
    import html

    deadlines = deadlines or load()
    due = deadlines.due.get(lab)
    if due is None and not times_path(lab, db).exists():
        return ""
    late = latenesses(lab, db, deadlines, [row["student"] for row in rows])
    counts = {status: sum(1 for x in late.values() if x.status == status) for status in ("on time", "late", "unknown")}
    parts = [f"<h3>Deadlines</h3><p>due {html.escape(str(due) if due else 'no due date')}; "
             f"{html.escape(deadlines.rule.describe())}. On time: {counts['on time']}, late: {counts['late']}, "
             f"<b>unknown time: {counts['unknown']}</b>.</p>"]  # fmt: skip
    listed = [row for row in rows if late[row["student"]].status in ("late", "unknown")]
    if listed:
        parts.append("<table><tr><th>student</th><th>submitted (UTC)</th><th>late by</th><th>points</th>"
                     "<th>penalty</th><th>source / problem</th></tr>")  # fmt: skip
        for row in listed:
            x = late[row["student"]]
            style = " style='color:red'" if x.status == "unknown" else ""
            parts.append(f"<tr{style}><td>{html.escape(row['student'])}</td><td>{html.escape(x.submitted or '?')}</td>"
                         f"<td>{_duration(x.seconds_late) if x.status == 'late' else 'unknown'}</td>"
                         f"<td>{row['total']:g}</td><td>{x.penalty(row['total']):g}</td>"
                         f"<td>{html.escape(x.problem or x.source)}</td></tr>")  # fmt: skip
        parts.append("</table>")
    return "\n".join(parts)


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"

"""The stock nbgrader CLI (`cd autograder && nbgrader autograde LAB`, `nbgrader generate_feedback LAB`) with the
guarantees of `python -m autograder grade`: a canary first, and a time limit on every step of every submission.

- **Canary.** ``CanaryExporter`` is ``Autograde.exporter_class``; nbgrader builds it once per run, after it has
  found the submissions and before it touches any of them. On the stock CLI it grades each lab's reference answers
  once per process with ``batch.canary_job`` / ``batch.check_canary`` (the batch CLI's canary), in a child process
  with this interpreter, this environment and this course's settings (``config_overrides``). Unless they get every
  autograded point, nbgrader stops with one ``error:`` line naming the failing test cell and the likely cause, and
  nothing is graded (no gradebook entry, no autograded folder).
- **Time limits.** ``before_submission`` / ``after_submission`` are nbgrader's ``pre_convert_hook`` /
  ``post_convert_hook``: they arm and disarm a per-submission wall-clock watchdog (``Watchdog``) around everything
  nbgrader does for one submission: copying its files, reading, sanitizing (restoring cells), executing, saving
  grades, writing; the same for ``generate_feedback``. Past the limit the step gets ``grading.StepTimeout`` (its
  kernels killed first), which nbgrader reports for that submission before going on with the next. Should the
  step sit in code that a signal cannot interrupt, the run stops with an ``error:`` line instead of hanging.
  Notebooks are read only when they are regular files of at most ``StockPath.largest_notebook`` bytes (no link,
  FIFO or device; ``submissions.read_regular_file``), before anything parses them.

``python -m autograder grade`` has its own canary (``batch``) and step limits (``grading.step_limit``); there, these
classes only bound the reads. Settings: ``StockPath.*`` in nbgrader_config.py or on the command line
(``--StockPath.canary=False`` skips the canary).
"""

from __future__ import annotations

import ast
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbconvert.exporters import HTMLExporter, NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from traitlets import Bool, Float, Integer
from traitlets.config import Config, LoggingConfigurable

from autograder import grading, submissions
from autograder.paths import COURSE_CONFIG

CANARY_MARGIN_S = 120  # beyond the autograde limit: a child process, generate_assignment, generate_feedback
# Course settings that say where things are: a canary's own course has its own folders.
RELOCATED = {"RestoreDeletedCells.release_directory", "SkipDemoCells.source_directory"}
_canaries_checked: set[str] = set()  # labs whose canary passed in this process


class StockPath(LoggingConfigurable):
    """Settings of the stock nbgrader CLI path (``autograder.stock_path``)."""

    canary = Bool(True, help="Grade each lab's reference answers first; stop unless they get full marks").tag(
        config=True
    )
    autograde_limit_s = Float(
        0, help="Wall-clock seconds for all of nbgrader autograde's steps of one submission "
        "(0: GuardedExecute.notebook_timeout + grading.AUTOGRADE_MARGIN_S)"
    ).tag(config=True)  # fmt: skip
    feedback_limit_s = Float(grading.STEP_LIMIT_S, help="Wall-clock seconds for generate_feedback of one "
                             "submission").tag(config=True)  # fmt: skip
    hard_stop_grace_s = Float(60, help="Seconds past a submission's limit after which a step that no exception "
                              "reaches stops the run").tag(config=True)  # fmt: skip
    largest_notebook = Integer(submissions.LARGEST_NOTEBOOK, help="Largest notebook read, in bytes").tag(config=True)

    def autograde_seconds(self) -> float:
        if self.autograde_limit_s > 0:
            return self.autograde_limit_s
        return float(self.config.GuardedExecute.get("notebook_timeout", 1200)) + grading.AUTOGRADE_MARGIN_S


def stock_cli() -> bool:
    """True inside the stock ``nbgrader`` command (not nbgrader's Python API, which the batch CLI uses)."""
    from nbgrader.apps.baseapp import NbGrader

    return NbGrader.initialized()  # the running subcommand (AutogradeApp, GenerateFeedbackApp) is its instance


# ------------------------------------------------------------------------------------------- bounded reads


class BoundedRead:
    """``from_filename`` that reads only a regular file (no link, FIFO, device) of at most the course's limit."""

    def from_filename(self, filename, resources=None, **kw):
        limit = StockPath(parent=self).largest_notebook
        blob = submissions.read_regular_file(Path(filename), limit)
        if blob is None or len(blob) >= limit:
            raise ValueError(f"{filename}: not read (a link, FIFO or device, or larger than {limit} bytes)")
        resources = ResourcesDict() if resources is None else resources
        if not resources.get("metadata"):
            resources["metadata"] = ResourcesDict()
        path = Path(filename)  # the metadata nbconvert's own from_filename fills in
        modified = datetime.datetime.fromtimestamp(os.lstat(path).st_mtime, tz=datetime.UTC)
        resources["metadata"].update(name=path.stem, path=str(path.parent),
                                     modified_date=modified.strftime("%B %-d, %Y"))  # fmt: skip
        notebook = nbformat.reads(blob.decode("utf-8"), as_version=4)
        return self.from_notebook_node(notebook, resources=resources, **kw)


class CanaryExporter(BoundedRead, NotebookExporter):
    """``Autograde.exporter_class``: bounded reads, and on the stock CLI the canary before any submission."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        converter = self.parent
        settings = StockPath(parent=self)
        if not stock_cli() or converter is None or not hasattr(converter, "assignments"):
            return
        WATCHDOG.configure(settings.autograde_seconds(), "nbgrader autograde", settings.hard_stop_grace_s)
        log_banner(self.log, self.config, settings)
        skip_special_files(converter, self.log, settings.largest_notebook)
        if settings.canary:
            for lab in submitted_labs(converter):
                run_canary(lab, converter.coursedir, self.config, settings, self.log)


class BoundedHTMLExporter(BoundedRead, HTMLExporter):
    """``GenerateFeedback.exporter_class``: bounded reads; on the stock CLI the per-submission limit for feedback."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if stock_cli():
            settings = StockPath(parent=self)
            WATCHDOG.configure(settings.feedback_limit_s, "nbgrader generate_feedback", settings.hard_stop_grace_s)


def log_banner(log, live: Config, settings: StockPath) -> None:
    """The batch CLI's banner (sandbox, whole-sandbox limits), and this path's limits and canary."""
    from autograder import batch

    batch.log_banner(log.info, config_overrides(live))
    canary = "each lab's reference answers are graded first, once per run" if settings.canary else "OFF"
    log.info("[limits] stock path: %.0f s wall clock for every step of one submission (generate_feedback: %.0f s); "
             "notebooks read up to %d bytes; canary: %s", settings.autograde_seconds(), settings.feedback_limit_s,
             settings.largest_notebook, canary)  # fmt: skip


# ------------------------------------------------------------------------------------ submission folders

LARGEST_FOLDER = 10_000  # entries in one submission folder
LARGEST_TIMESTAMP = 1024  # bytes of timestamp.txt (a date)


def skip_special_files(converter, log, largest: int = submissions.LARGEST_NOTEBOOK) -> None:
    """Leave out (and log) every submission folder nbgrader matched that holds a link, FIFO, device or socket, or
    a file nbgrader would read whole that is too large (any file over ``largest``, timestamp.txt over 1 KiB).

    nbgrader opens the notebooks and timestamp.txt and copies every other file of a submission folder, following
    links: a FIFO blocks it, a link to /dev/zero fills the disk. Such a folder is not graded; the error says which
    file to remove.
    """
    for folder in sorted(converter.assignments):
        found = special_file(Path(folder), largest)
        if found:
            log.error("%s: NOT GRADED: %s; remove it and run nbgrader autograde again", folder, found)
            del converter.assignments[folder]


def special_file(folder: Path, largest: int = submissions.LARGEST_NOTEBOOK) -> str | None:
    """What in ``folder`` is not a regular file or a folder (links not followed), or is too large; else None."""
    import stat

    seen = 0
    for parent, folders, files in os.walk(folder):
        for name in folders + files:
            seen += 1
            if seen > LARGEST_FOLDER:
                return f"more than {LARGEST_FOLDER} files"
            path = os.path.join(parent, name)
            status = os.lstat(path)
            where = os.path.relpath(path, folder)
            if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
                return f"{where} is a link or special file"
            limit = LARGEST_TIMESTAMP if where == "timestamp.txt" else largest
            if stat.S_ISREG(status.st_mode) and status.st_size > limit:
                return f"{where} is larger than {limit} bytes"
    return None


# ------------------------------------------------------------------------------------------------ canary


def submitted_labs(converter) -> list[str]:
    """The labs of the submission folders nbgrader matched (``LAB`` may be a glob)."""
    import re

    coursedir = converter.coursedir
    pattern = coursedir.format_path(coursedir.submitted_directory, "(?P<student>[^/]+)", "(?P<lab>[^/]+)", escape=True)
    found = (re.fullmatch(pattern, os.path.normpath(folder)) for folder in converter.assignments)
    return sorted({match["lab"] for match in found if match})


def run_canary(lab: str, coursedir, live: Config, settings: StockPath, log) -> None:
    """Grade ``lab``'s reference answers once per process; on failure print one ``error:`` line and stop nbgrader."""
    from nbgrader.converters.base import NbGraderException

    if lab in _canaries_checked:
        return
    source_dir = Path(coursedir.format_path(coursedir.source_directory, ".", lab)).resolve()
    limit = settings.autograde_seconds() + settings.feedback_limit_s + CANARY_MARGIN_S
    log.info("[canary] %s: grading the reference answers in this environment first (once per run)", lab)
    started = time.perf_counter()
    outcome = canary_in_child(lab, source_dir, config_overrides(live), limit)
    if "error" in outcome:
        print(f"error: {outcome['error']}", file=sys.stderr, flush=True)
        raise NbGraderException(outcome["error"])
    _canaries_checked.add(lab)
    seconds = time.perf_counter() - started
    log.info(
        "[canary] %s: the reference answers get every autograded point: %g/%g (%g points graded by hand); "
        "%.0f s, once per run",
        *(lab, outcome["total"], outcome["max_total"], outcome["by_hand"], seconds),
    )


def canary_in_child(lab: str, source_dir: Path, overrides: dict, limit_s: float) -> dict:
    """``python -m autograder.stock_path canary ...`` in a child process (its own signals and nbgrader state)."""
    command = [sys.executable, "-m", "autograder.stock_path", "canary", lab, str(source_dir), repr(overrides)]
    child = subprocess.Popen(command, env=grading.nbgrader_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=grading.die_with_parent)  # fmt: skip
    try:
        out, err = child.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the child and the kernels it started
        child.communicate()
        return {
            "error": f"canary: grading the reference answers of {lab} took longer than {limit_s:.0f} s, so "
            "nothing was graded; likely cause: the kernel hangs at start-up or the machine is overloaded"
        }
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if lines:
        return json.loads(lines[-1])
    last = " | ".join(line.strip() for line in err.splitlines()[-3:] if line.strip())
    return {"error": f"canary: grading the reference answers of {lab} crashed (exit {child.returncode}: "
            f"{last[-400:]}), so nothing was graded"}  # fmt: skip


def config_overrides(live: Config) -> dict:
    """The settings of the running course that differ from autograder/nbgrader_config.py, as plain data.

    A canary's course loads autograder/nbgrader_config.py and then these (``grading.write_course_config``), so it
    grades with this course's limits and timeouts. Folders (``CourseDirectory``, ``RELOCATED``), application settings
    and values that are not plain data (classes, functions, unparsed command-line strings) are left out.
    """
    from traitlets.config.loader import PyFileConfigLoader

    base = PyFileConfigLoader(COURSE_CONFIG.name, path=str(COURSE_CONFIG.parent)).load_config()
    overrides = {}
    for section, values in live.items():
        if not isinstance(values, Config) or section == "CourseDirectory" or section.endswith(("App", "Application")):
            continue
        for name, value in values.items():
            key = f"{section}.{name}"
            if key in RELOCATED or not is_plain(value) or (section in base and base[section].get(name) == value):
                continue
            overrides[key] = value
    return overrides


def is_plain(value) -> bool:
    if type(value) in (bool, int, float, str, type(None)):  # exact types: DeferredConfigString is a str subclass
        return True
    if type(value) in (list, tuple):
        return all(is_plain(item) for item in value)
    if type(value) is dict:
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    return False


def canary_main(lab: str, source_dir: str, overrides: str) -> int:
    """Child side: a template course of ``lab``, its reference answers graded by ``batch.check_canary``."""
    from autograder import batch
    from autograder.errors import GradingError

    config = ast.literal_eval(overrides) or None
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="stock-canary-") as temporary:
            template = grading.prepare_template(lab, Path(source_dir), Path(temporary) / lab, config)
            job = batch.canary_job(lab, Path(source_dir), template, config)
            result = batch.check_canary(job, batch.canary_key(lab, Path(source_dir), config))
    except GradingError as error:
        print(json.dumps({"error": " ".join(str(error).split())[:1500]}))
        return 1
    seconds = time.perf_counter() - started
    by_hand = sum(points for cell, points in result.max_scores.items() if cell in result.ungraded)
    print(json.dumps({"total": result.total, "max_total": result.max_total, "by_hand": by_hand, "seconds": seconds}))
    return 0


# ---------------------------------------------------------------------------------------------- watchdog

# nbgrader's per-submission steps (nbgrader/converters/base.py, 0.9): a limit that expires in any other code (a
# submission that already failed, between two submissions) is not that submission's and is ignored.
SUBMISSION_STEPS = {"init_assignment", "convert_single_notebook", "set_permissions", "run_post_convert_hook"}


class Watchdog:
    """A wall-clock limit for one submission's steps in nbgrader's main thread (SIGALRM), with a hard stop."""

    def __init__(self) -> None:
        self.seconds = self.grace_s = 0.0
        self.what = ""
        self.label = ""
        self.hard_stop: threading.Timer | None = None

    def configure(self, seconds: float, what: str, grace_s: float = 60) -> None:
        self.seconds, self.what, self.grace_s = float(seconds), what, float(grace_s)

    def arm(self, label: str) -> None:
        self.disarm()
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        self.label = label
        signal.signal(signal.SIGALRM, self.expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.hard_stop = threading.Timer(self.seconds + self.grace_s, self.stop_run, args=(label,))
        self.hard_stop.daemon = True
        self.hard_stop.start()

    def disarm(self) -> None:
        if self.label:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if self.hard_stop is not None:
            self.hard_stop.cancel()
        self.label, self.hard_stop = "", None

    def expire(self, signum, frame) -> None:
        if not self.label or not in_submission_step(frame):
            return
        grading.kill_own_kernels()  # first: the exception below may be caught and reported by nbgrader
        raise grading.StepTimeout(f"{self.what} of {self.label} took longer than {self.seconds:.0f} s")

    def stop_run(self, label: str) -> None:
        print(f"error: {self.what} of {label} is stuck {self.grace_s:.0f} s past its limit of {self.seconds:.0f} s "
              "where it cannot be interrupted, so this run stops; grade the other submissions with "
              "--CourseDirectory.student_id_exclude=STUDENT", file=sys.stderr, flush=True)  # fmt: skip
        grading.kill_own_kernels()
        os._exit(3)


def in_submission_step(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name in SUBMISSION_STEPS and "nbgrader" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


WATCHDOG = Watchdog()


def before_submission(assignment=None, student=None, notebooks=None) -> None:
    """nbgrader's ``pre_convert_hook``: start this submission's clock (stock CLI only)."""
    if stock_cli():
        first = Path(notebooks[0]).parent if notebooks else assignment
        WATCHDOG.arm(str(first))


def after_submission(assignment=None, student=None, notebooks=None) -> None:
    """nbgrader's ``post_convert_hook``: stop the clock."""
    WATCHDOG.disarm()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "canary":
        sys.exit(canary_main(*sys.argv[2:]))
    sys.exit("usage: python -m autograder.stock_path canary LAB SOURCE_DIR OVERRIDES")

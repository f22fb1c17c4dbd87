"""Grading ONE submission: lab id, student id and notebook bytes in, a plain ``GradeResult`` out.

Each submission is graded in its own temporary nbgrader course (a copy of the lab's template course, its own
gradebook), with the settings of ``autograder/nbgrader_config.py``, so it can run in any worker process (local
workers, Dask). The steps:

1. ``submissions.check_submission`` lists what the tutor should know; deleted locked cells are put back
   (``submissions.restore_deleted_cells``; the stock path does the same inside nbgrader: ``restore_cells``);
2. ``nbgrader autograde``: sandboxed student kernel (``autograder.sandbox``, fresh scratch working directory with
   the student's notebook only), demonstration cells skipped (``demo_cells``), test cells by the executor;
3. scores from the private gradebook, one student-facing message per failed test cell, feedback HTML without
   hidden tests.

Every nbgrader step runs under a time limit (``step_limit``): a step that hangs costs that submission, not the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder import gradebook, sandbox, submissions
from autograder.errors import GradingError
from autograder.paths import AUTOGRADER_DIR, COURSE_CONFIG, NOTEBOOKS, ROOT, SOLUTIONS, labs

AUTOGRADE_MARGIN_S = 300  # beyond the notebook's own wall-time limit: kernel start-up, nbgrader's own work
STEP_LIMIT_S = 300  # generate_assignment, generate_feedback


@dataclass
class GradeResult:
    """What grading one submission produced: plain data, safe to send between processes (and to Dask)."""

    student: str
    lab: str
    scores: dict[str, float] = field(default_factory=dict)
    max_scores: dict[str, float] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)  # test cell -> why it failed (student-facing)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # for the tutor: submission and grading problems
    reason: str = ""  # why the notebook did not run to the end (kernel died, limit), empty when it did
    sandbox: str = ""
    feedback_html: str = ""
    digest: str = ""
    ungraded: list[str] = field(default_factory=list)  # answered cells graded by hand: a tutor's score is due
    autograded_notebook: str = ""  # nbformat JSON, for formgrader and feedback regenerated after manual grading

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_scores.values()))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GradingJob:
    """One submission to grade, as a runner hands it to a worker (paths as seen on that worker)."""

    lab: str
    student: str
    notebook_bytes: bytes
    source_dir: Path | None = None  # the lab's source folder (default solutions/<lab>)
    template: Path | None = None  # a course made by prepare_template
    config: dict | None = None  # setting overrides, e.g. {"Execute.timeout": 10}

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.notebook_bytes).hexdigest()


# ------------------------------------------------------------------------------------ running nbgrader


def nbgrader_env() -> dict[str, str]:
    """nbgrader runs `alembic` from PATH when it creates a gradebook: put this interpreter's bin first."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so killing the coordinator takes the whole grading tree with it."""
    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)


def run_nbgrader(*args: str, cwd: Path = AUTOGRADER_DIR, check: bool = True, timeout: float | None = STEP_LIMIT_S):
    """The nbgrader CLI in a subprocess (dies with this process), under a time limit."""
    command = [sys.executable, "-m", "nbgrader", *args]
    try:
        result = subprocess.run(command, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True,
                                timeout=timeout, preexec_fn=die_with_parent)  # fmt: skip
    except subprocess.TimeoutExpired as error:
        raise GradingError(f"nbgrader {' '.join(args)} took longer than {timeout} s") from error
    if check and result.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


def release(
    selected: list[str] | None = None,
    release_dir: Path | None = None,
    db: Path | str | None = None,
    solutions: Path = SOLUTIONS,
) -> list[Path]:
    """Regenerate ``notebooks/<lab>/`` from ``solutions/<lab>/`` with nbgrader generate_assignment."""
    written = []
    for lab in selected or labs(solutions):
        args = ["generate_assignment", lab, "--force", "--log-level=WARN"]
        if release_dir is not None:
            args.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
        if db is not None:
            args.append(f"--CourseDirectory.db_url={gradebook.database_url(db)}")
        if Path(solutions).resolve() != SOLUTIONS:
            args.append(f"--CourseDirectory.source_directory={Path(solutions).resolve()}")
        run_nbgrader(*args)
        written.append((Path(release_dir) if release_dir else NOTEBOOKS) / lab / f"{lab}.ipynb")
    return written


class StepTimeout(GradingError):
    """An nbgrader step ran past its time limit."""


@contextlib.contextmanager
def step_limit(seconds: float, what: str):
    """Stop ``what`` after ``seconds``: SIGALRM raises ``StepTimeout`` in the main thread (local workers), and the
    sandboxed kernels this process started are killed. In another thread (a Dask worker's) a signal cannot reach
    the step: the worker process exits instead, and Dask grades the submission again elsewhere or records it as 0
    with the reason (``distributed``)."""
    if threading.current_thread() is not threading.main_thread():
        timer = threading.Timer(seconds, _abandon_process, args=(what, seconds))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
        return

    def expire(signum, frame):
        kill_own_kernels()  # first: nbgrader's API catches the exception below and reports it as its own failure
        raise StepTimeout(f"{what} took longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _abandon_process(what: str, seconds: float) -> None:
    print(f"[grading] {what} took longer than {seconds:.0f} s: this grading process exits", file=sys.stderr)
    kill_own_kernels()
    os._exit(75)


def kill_own_kernels() -> None:
    """Kill the sandbox launchers (and with them their kernels) that this process started."""
    for pid in sandbox.children(os.getpid()):
        try:
            if b"autograder.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        except OSError:
            pass


def run_in_process(root: Path, action: str, lab: str, student: str | None = None, limit_s: float = 0) -> dict:
    """``nbgrader <action> <lab> --student=<student>`` in this process, with the course config of ``root``.

    Importing nbgrader costs seconds per process; a grading worker pays it once instead of twice per submission.
    Returns nbgrader's ``{"success": bool, "log": str, "error": str}``; a step past ``limit_s`` (default: the
    notebook's wall-time limit plus a margin for autograde, ``STEP_LIMIT_S`` otherwise) is a failure.
    """
    import warnings

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy usage, harmless
    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader runs alembic from PATH when it creates a gradebook
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if not limit_s:
        notebook_s = config.GuardedExecute.get("notebook_timeout", 1200)
        limit_s = notebook_s + AUTOGRADE_MARGIN_S if action == "autograde" else STEP_LIMIT_S
    actions = {
        "autograde": lambda: api.autograde(lab, student, force=True, create=True),
        "generate_feedback": lambda: api.generate_feedback(lab, student, force=True),
        "generate_assignment": lambda: api.generate_assignment(lab, force=True, create=True),
    }
    if action not in actions:
        raise ValueError(f"unknown nbgrader action {action!r}")
    try:
        with step_limit(limit_s, f"nbgrader {action} {lab}"):
            return actions[action]()
    except StepTimeout as error:
        return {"success": False, "log": "", "error": str(error)}


# ---------------------------------------------------------------------------------------- template course


def write_course_config(root: Path, overrides: dict | None = None) -> None:
    """A private course that shares every setting of autograder/nbgrader_config.py, with its own folders."""
    lines = [
        "c = get_config()  # noqa: F821",
        f"_course = {str(COURSE_CONFIG)!r}",
        "exec(compile(open(_course).read(), _course, 'exec'), {**globals(), '__file__': _course})",
        f"c.CourseDirectory.root = {str(root)!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'",
        f"c.RestoreDeletedCells.release_directory = {str(root / 'release')!r}",
        f"c.SkipDemoCells.source_directory = {str(root / 'source')!r}",
    ]
    for key, value in (overrides or {}).items():
        section, _, name = key.rpartition(".")
        lines.append(f"c.{section}.{name} = {value!r}")
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def prepare_template(lab: str, source_dir: Path, target: Path, config: dict | None = None) -> Path:
    """A course with ``lab`` generated (gradebook + release): copy it per submission instead of regenerating."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    write_course_config(target, config)
    shutil.copytree(source_dir, target / "source" / lab, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    generated = run_in_process(target, "generate_assignment", lab)
    if not generated["success"]:
        raise GradingError(f"nbgrader generate_assignment {lab} failed:\n{generated.get('error') or generated['log']}")
    return target


# ------------------------------------------------------------------------------------------ one submission


def grade_submission(
    lab: str,
    student: str,
    notebook_bytes: bytes,
    source_dir: Path | None = None,
    template: Path | None = None,
    config: dict | None = None,
    keep: Path | None = None,
) -> GradeResult:
    """Autograde one student's notebook for ``lab`` in a private temporary nbgrader course.

    ``source_dir`` is the lab's source folder (default ``solutions/<lab>``); ``template`` a course made by
    ``prepare_template`` (faster; takes precedence); ``config`` overrides settings (``{"Execute.timeout": 10}``).
    """
    started = time.perf_counter()
    source_dir = Path(source_dir or SOLUTIONS / lab)
    result = GradeResult(student, lab, digest=hashlib.sha256(notebook_bytes).hexdigest())
    result.problems = submissions.check_submission(lab, notebook_bytes, source_dir / f"{lab}.ipynb")
    available, why = sandbox.sandbox_status()
    result.sandbox = why if available else f"UNSANDBOXED: {why}"
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab}-") as temporary:
        root = Path(temporary) / "course"
        if template is not None:
            shutil.copytree(template, root)
            write_course_config(root, config)
        else:
            prepare_template(lab, source_dir, root, config)
        target = root / "submitted" / student / lab
        target.mkdir(parents=True)
        released = root / "release" / lab / f"{lab}.ipynb"
        restored = submissions.restore_deleted_cells(notebook_bytes, released, result.problems)
        sandbox.write_new_file(target / f"{lab}.ipynb", restored)
        graded = run_in_process(root, "autograde", lab, student)
        if not graded["success"]:
            lines = [line for line in (graded.get("error") or graded.get("log") or "").splitlines() if line.strip()]
            last = (lines or ["?"])[-1][:300]
            result.problems.append("autograde failed: " + " | ".join(line.strip() for line in lines[-6:])[-1500:])
            result.reason = result.reason or f"grading failed: {last}"
        result.scores, result.max_scores = read_scores(root, lab, student)
        result.ungraded = gradebook.ungraded_cells(root / "gradebook.db", lab, student)
        autograded = root / "autograded" / student / lab / f"{lab}.ipynb"
        if autograded.exists():
            result.autograded_notebook = autograded.read_text()
            result.messages, reason = read_messages(autograded)
            result.reason = result.reason or reason
            feedback = run_in_process(root, "generate_feedback", lab, student)
            html_file = root / "feedback" / student / lab / f"{lab}.html"
            if feedback["success"] and html_file.exists():
                result.feedback_html = html_file.read_text()
            else:
                result.problems.append("feedback generation failed")
        if not result.feedback_html:
            result.feedback_html = fallback_feedback(result)
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
    result.seconds = time.perf_counter() - started
    return result


def grade_job(job: GradingJob) -> GradeResult:
    """``grade_submission`` of ``job`` that never raises: one broken submission never stops the batch."""
    try:
        return grade_submission(job.lab, job.student, job.notebook_bytes, job.source_dir, job.template, job.config)
    except Exception as error:
        problem = f"grading crashed: {type(error).__name__}: {error}"[:500]
        return GradeResult(job.student, job.lab, problems=[problem], reason="grading crashed", digest=job.digest)


def fallback_feedback(result: GradeResult) -> str:
    """A plain feedback page for a submission nbgrader could not grade (so that every student gets one)."""
    items = "".join(f"<li>{html.escape(problem)}</li>" for problem in result.problems) or "<li>unknown</li>"
    rows = "".join(
        f"<tr><td>{html.escape(cell)}</td><td>{result.scores.get(cell, 0):g} / {points:g}</td></tr>"
        for cell, points in result.max_scores.items()
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(result.lab)}: feedback</title></head>"
        f"<body><h1>{html.escape(result.lab)}: {html.escape(result.student)}</h1>"
        f"<p>Your notebook could not be graded automatically; a tutor will look at it. What we found:</p>"
        f"<ul>{items}</ul><table><tr><th>test</th><th>score</th></tr>{rows}</table></body></html>"
    )


def read_scores(root: Path, lab: str, student: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per test cell, the score and the maximum recorded in the private course's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    scores, maxima = {}, {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(lab)
        for notebook in assignment.notebooks:
            for grade_cell in notebook.grade_cells:
                maxima[grade_cell.name] = float(grade_cell.max_score)
                try:
                    grade = gradebook.find_grade(grade_cell.name, notebook.name, lab, student)
                    scores[grade_cell.name] = float(grade.score or 0.0)
                except MissingEntry:
                    scores[grade_cell.name] = 0.0
    return scores, maxima


def read_messages(autograded: Path) -> tuple[dict[str, str], str]:
    """Per test cell, the first error's message; and why the notebook stopped early, if it did."""
    notebook = nbformat.read(autograded, as_version=4)
    messages, reason = {}, ""
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if errors and meta.get("grade"):
            messages[meta["grade_id"]] = f"{errors[0].get('ename')}: {errors[0].get('evalue', '')}"[:500]
        for error in errors:
            if error.get("ename") in ("KernelDied", "CellTimeoutError", "NotRun") and not reason:
                reason = error.get("evalue", "")
    return messages, reason

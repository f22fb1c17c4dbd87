"""Course-level grading on top of the stock nbgrader CLI.

Design: grading ONE submission (``grade_submission``) is a pure-ish function: lab id, student id, notebook bytes
and the lab's source folder (or a prepared template course) in, a plain ``GradeResult`` out. It runs in its own
temporary nbgrader course with its own gradebook, so it can run in any worker process (``grade_batch`` uses a
process pool, ``autograder.distributed`` Dask workers). Only the coordinator writes the course gradebook
(``autograder/gradebook.db``: nbgrader's tables plus ``course_results``) and ``grades.csv``, one submission at a
time, so an interrupted run leaves both consistent and the next run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder import sandbox
from autograder.gradebook import (  # noqa: F401 (re-exported: callers use course.<name>)
    COURSE_DB,
    RESULT_COLUMNS,
    _already_graded,
    _record,
    connect,
    ensure_assignment,
    load_results,
    record_row,
    write_csv,
    write_feedback,
)

AUTOGRADER_DIR = Path(__file__).resolve().parent
ROOT = AUTOGRADER_DIR.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
COURSE_CONFIG = AUTOGRADER_DIR / "nbgrader_config.py"
VALID_STUDENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class GradingError(RuntimeError):
    """A submission or the course set-up cannot be graded; the message says why."""


def labs(solutions: Path = SOLUTIONS) -> list[str]:
    """Every ``<solutions>/labN_topic/labN_topic.ipynb``, discovered afresh (labs are added during the term)."""
    return sorted(p.parent.name for p in Path(solutions).glob("lab*/lab*.ipynb") if p.stem == p.parent.name)


def nbgrader_env() -> dict[str, str]:
    """nbgrader runs `alembic` from PATH when it creates a gradebook: put this interpreter's bin first."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so killing the coordinator takes the whole grading tree with it."""
    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)


THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")


def kernel_thread_env(workers: int) -> dict[str, str]:
    """Thread counts for each student kernel when ``workers`` kernels run at once: the machine's cores, shared.

    TensorFlow sizes its thread pool to every core of the machine; two kernels on two cores then run four busy
    threads that preempt each other. A tutor's own TF_NUM_INTRAOP_THREADS / OMP_NUM_THREADS win (the sandbox passes
    TF_* and OMP_* variables through to the kernel).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cores // max(1, workers)))
    return {variable: os.environ.get(variable, threads) for variable in THREAD_VARIABLES}


def _start_worker(env: dict[str, str]) -> None:
    """A grading worker: dies with its parent; its kernels get ``env`` (``kernel_thread_env``)."""
    _die_with_parent()
    os.environ.update(env)


def run_nbgrader(*args: str, cwd: Path = AUTOGRADER_DIR, check: bool = True, timeout: float | None = None):
    command = [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(command, cwd=cwd, env=nbgrader_env(), capture_output=True, text=True, timeout=timeout,
                            preexec_fn=_die_with_parent)  # fmt: skip
    if check and result.returncode != 0:
        raise GradingError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


# ------------------------------------------------------------------------------------------- release


def release(
    selected: list[str] | None = None,
    release_dir: Path | None = None,
    db: Path | None = None,
    solutions: Path = SOLUTIONS,
) -> list[Path]:
    """Regenerate ``notebooks/<lab>/`` from ``solutions/<lab>/`` with nbgrader generate_assignment."""
    written = []
    for lab in selected or labs(solutions):
        args = ["generate_assignment", lab, "--force", "--log-level=WARN"]
        if release_dir is not None:
            args.append(f"--CourseDirectory.release_directory={Path(release_dir).resolve()}")
        if db is not None:
            args.append(f"--CourseDirectory.db_url=sqlite:///{Path(db).resolve()}")
        if Path(solutions).resolve() != SOLUTIONS:
            args.append(f"--CourseDirectory.source_directory={Path(solutions).resolve()}")
        run_nbgrader(*args)
        written.append((Path(release_dir) if release_dir else NOTEBOOKS) / lab / f"{lab}.ipynb")
    return written


# ------------------------------------------------------------------------------------ one submission


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

    @property
    def total(self) -> float:
        return float(sum(self.scores.values()))

    @property
    def max_total(self) -> float:
        return float(sum(self.max_scores.values()))

    def to_dict(self) -> dict:
        return asdict(self)


def _write_course_config(root: Path, overrides: dict | None = None) -> None:
    """A private course that shares every setting of autograder/nbgrader_config.py, with its own folders."""
    lines = [
        "c = get_config()  # noqa: F821",
        f"_course = {str(COURSE_CONFIG)!r}",
        "exec(compile(open(_course).read(), _course, 'exec'), {**globals(), '__file__': _course})",
        f"c.CourseDirectory.root = {str(root)!r}",
        "c.CourseDirectory.source_directory = 'source'",
        "c.CourseDirectory.release_directory = 'release'",
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'",
    ]
    for key, value in (overrides or {}).items():
        section, _, name = key.rpartition(".")
        lines.append(f"c.{section}.{name} = {value!r}")
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def prepare_template(lab: str, source_dir: Path, target: Path, config: dict | None = None) -> Path:
    """A course with ``lab`` generated (gradebook + release): copy it per submission instead of regenerating."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    _write_course_config(target, config)
    shutil.copytree(source_dir, target / "source" / lab, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    generated = run_in_process(target, "generate_assignment", lab)
    if not generated["success"]:
        raise GradingError(f"nbgrader generate_assignment {lab} failed:\n{generated.get('error') or generated['log']}")
    return target


def check_submission(lab: str, notebook_bytes: bytes, source_notebook: Path | None = None) -> list[str]:
    """Problems with a submitted notebook that grading will work around (reported, never fatal)."""
    try:
        submitted = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception as error:  # any parse failure is the student's file, not our crash
        return [f"not a readable notebook ({type(error).__name__}: {str(error)[:200]})"]
    source = nbformat.read(source_notebook or SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    expected = {c.metadata["nbgrader"]["grade_id"]: c.cell_type for c in source.cells if "nbgrader" in c.metadata}
    seen: dict[str, int] = {}
    problems = []
    for cell in submitted.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            seen[grade_id] = seen.get(grade_id, 0) + 1
            if grade_id in expected and cell.cell_type != expected[grade_id]:
                problems.append(f"cell {grade_id!r} was changed from {expected[grade_id]} to {cell.cell_type}")
    problems += [f"duplicated grade_id {g!r} ({n} cells): copied cell?" for g, n in seen.items() if n > 1]
    problems += [f"cell {g!r} is missing (deleted?)" for g in expected if g not in seen]
    flagged = suspicious_code(submitted)
    if flagged:
        problems.append("flagged for review (tampering?): " + ", ".join(flagged))
    return problems


SUSPICIOUS = {
    "monkeypatching a function's code": r"__code__",
    "IPython transformers": r"ast_transformers|input_transformers",
    "exception display": r"set_custom_exc|showtraceback|excepthook|CustomTB",
    "tracing": r"settrace|setprofile|_getframe|f_lineno",
    "builtins": r"\bbuiltins\b|__builtins__",
    "sys.modules": r"sys\.modules",
    "the checks": r"(checks|numpy\.testing|np\.testing|npt)\.\w+\s*=(?!=)|\.(fail|check\w*|assert_\w+)\s*=(?!=)",
    "the kernel": r"get_ipython\(\)\.(kernel|events|run_cell|displayhook)|_course_grading_guard",
    "ctypes / gc": r"\bctypes\b|gc\.get_(objects|referrers)",
    "killing the kernel": r"os\._exit|os\.kill|signal\.",
}


def suspicious_code(notebook) -> list[str]:
    """What the student-editable cells do that honest answers never need (a hint for the tutor, not a penalty)."""
    text = "\n".join(
        cell.source
        for cell in notebook.cells
        if cell.cell_type == "code" and not cell.get("metadata", {}).get("nbgrader", {}).get("locked")
    )
    return [label for label, pattern in SUSPICIOUS.items() if re.search(pattern, text)]


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
    result.problems = check_submission(lab, notebook_bytes, source_dir / f"{lab}.ipynb")
    available, why = sandbox.sandbox_status()
    result.sandbox = why if available else f"UNSANDBOXED: {why}"
    with tempfile.TemporaryDirectory(prefix=f"grade-{lab}-") as temporary:
        root = Path(temporary) / "course"
        if template is not None:
            shutil.copytree(template, root)
            _write_course_config(root, config)
        else:
            prepare_template(lab, source_dir, root, config)
        target = root / "submitted" / student / lab
        target.mkdir(parents=True)
        released = root / "release" / lab / f"{lab}.ipynb"
        (target / f"{lab}.ipynb").write_bytes(restore_deleted_cells(notebook_bytes, released, result.problems))
        graded = run_in_process(root, "autograde", lab, student)
        if not graded["success"]:
            lines = [line for line in (graded.get("error") or graded.get("log") or "").splitlines() if line.strip()]
            last = (lines or ["?"])[-1][:300]
            result.problems.append("autograde failed: " + " | ".join(line.strip() for line in lines[-6:])[-1500:])
            result.reason = result.reason or f"grading failed: {last}"
        result.scores, result.max_scores = _read_scores(root, lab, student)
        autograded = root / "autograded" / student / lab / f"{lab}.ipynb"
        if autograded.exists():
            result.messages, reason = _read_messages(autograded)
            result.reason = result.reason or reason
            feedback = run_in_process(root, "generate_feedback", lab, student)
            html = root / "feedback" / student / lab / f"{lab}.html"
            if feedback["success"] and html.exists():
                result.feedback_html = html.read_text()
            else:
                result.problems.append("feedback generation failed")
        if not result.feedback_html:
            result.feedback_html = fallback_feedback(result)
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
    result.seconds = time.perf_counter() - started
    return result


def run_in_process(root: Path, action: str, lab: str, student: str | None = None) -> dict:
    """``nbgrader <action> <lab> --student=<student>`` in this process, with the course config of ``root``.

    Importing nbgrader costs seconds per process; a grading worker pays it once instead of twice per submission.
    Returns nbgrader's ``{"success": bool, "log": str, "error": str}``.
    """
    import warnings

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy usage, harmless
    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader runs alembic from PATH when it creates a gradebook
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    if action == "autograde":
        return api.autograde(lab, student, force=True, create=True)
    if action == "generate_feedback":
        return api.generate_feedback(lab, student, force=True)
    if action == "generate_assignment":
        return api.generate_assignment(lab, force=True, create=True)
    raise ValueError(f"unknown nbgrader action {action!r}")


def restore_deleted_cells(notebook_bytes: bytes, released: Path, problems: list[str]) -> bytes:
    """Put back locked cells (tests, set-up) the student deleted, after the cell that preceded them in the release.

    nbgrader restores the *content* of edited locked cells from the gradebook, but a deleted test cell simply does
    not run (and nbgrader then reports a missing cell). Re-inserting it makes the test run, and fail, as it should.
    """
    try:
        submitted = nbformat.reads(notebook_bytes.decode("utf-8"), as_version=4)
    except Exception:  # unreadable: nbgrader reports it
        return notebook_bytes
    reference = nbformat.read(released, as_version=4)

    def grade_id(cell):
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")

    present = {grade_id(cell) for cell in submitted.cells}
    restored = []
    for position, cell in enumerate(reference.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("locked") or grade_id(cell) in present:
            continue
        previous = next((grade_id(c) for c in reversed(reference.cells[:position]) if grade_id(c) in present), None)
        index = next((i + 1 for i, c in enumerate(submitted.cells) if grade_id(c) == previous), 0)
        submitted.cells.insert(index, nbformat.from_dict(dict(cell)))
        present.add(grade_id(cell))
        restored.append(grade_id(cell))
    if not restored:
        return notebook_bytes
    problems.append(f"deleted locked cell(s) {restored} restored before grading")
    return nbformat.writes(submitted).encode()


def fallback_feedback(result: GradeResult) -> str:
    """A plain feedback page for a submission nbgrader could not grade (so that every student gets one)."""
    import html

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


def _read_scores(root: Path, lab: str, student: str) -> tuple[dict[str, float], dict[str, float]]:
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


def _read_messages(autograded: Path) -> tuple[dict[str, str], str]:
    """Per test cell, the first error's message; and why the notebook stopped early, if it did."""
    notebook = nbformat.read(autograded, as_version=4)
    messages, reason = {}, ""
    for cell in notebook.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if errors and meta.get("grade"):
            messages[meta["grade_id"]] = f"{errors[0].get('ename')}: {errors[0].get('evalue', '')}"[:500]
        for error in errors:
            if error.get("ename") in ("KernelDied", "CellTimeoutError") and not reason:
                reason = error.get("evalue", "")
            elif error.get("ename") == "NotRun" and not reason:
                reason = error.get("evalue", "")
    return messages, reason


def _grade_job(job: dict) -> GradeResult:
    try:
        return grade_submission(**job)
    except Exception as error:  # one broken submission never stops the batch
        problem = f"grading crashed: {type(error).__name__}: {error}"[:500]
        digest = hashlib.sha256(job["notebook_bytes"]).hexdigest()
        return GradeResult(job["student"], job["lab"], problems=[problem], reason="grading crashed", digest=digest)


# ---------------------------------------------------------------------------------------- submissions


def collect_submissions(lab: str, location: Path) -> tuple[dict[str, bytes], list[str]]:
    """Read ``<location>/<student>/<lab>.ipynb`` (folders or ``<student>.zip``, or one zip of such folders)."""
    location = Path(location)
    problems: list[str] = []
    if location.is_file() and location.suffix == ".zip":
        entries = _zip_entries(location, problems)
    elif location.is_dir():
        entries = []
        for path in sorted(location.iterdir()):
            if path.is_dir():
                files = {
                    p.name: p.read_bytes() for p in sorted(path.rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts
                }
                entries.append((path.name, files))
            elif path.suffix == ".zip":
                entries += _zip_entries(path, problems, student=path.stem)
            else:
                problems.append(f"{path.name}: not a student folder or zip; ignored")
    else:
        raise GradingError(f"{location}: expected a folder of submissions or a .zip")
    submissions: dict[str, bytes] = {}
    for student, files in entries:
        if not VALID_STUDENT_ID.match(student or ""):
            problems.append(f"{student!r}: bad student id (letters, digits, _ - . only); ignored")
            continue
        wanted = f"{lab}.ipynb"
        if wanted not in files:
            problems.append(f"{student}: no {wanted} (found {sorted(files) or 'nothing'}); not graded")
            continue
        extra = sorted(set(files) - {wanted})
        if extra:
            problems.append(f"{student}: extra notebook(s) {extra} ignored")
        submissions[student] = files[wanted]
    return submissions, problems


def _zip_entries(path: Path, problems: list[str], student: str | None = None) -> list[tuple[str, dict]]:
    try:
        with zipfile.ZipFile(path) as archive:
            grouped: dict[str, dict[str, bytes]] = {}
            for info in archive.infolist():
                if info.is_dir() or "__MACOSX" in info.filename or not info.filename.endswith(".ipynb"):
                    continue
                if ".ipynb_checkpoints" in info.filename:
                    continue
                if info.file_size > 100 * 1024**2:
                    problems.append(f"{path.name}: {info.filename} is larger than 100 MB; ignored")
                    continue
                parts = Path(info.filename).parts
                owner = student or (parts[0] if len(parts) > 1 else path.stem)
                grouped.setdefault(owner, {})[parts[-1]] = archive.read(info)
            return sorted(grouped.items())
    except (zipfile.BadZipFile, OSError) as error:
        problems.append(f"{path.name}: unreadable zip ({error}); ignored")
        return []


# -------------------------------------------------------------------------------------- the batch


def grade_batch(
    lab: str,
    location: Path,
    workers: int = 1,
    db: Path = COURSE_DB,
    csv_path: Path | None = None,
    solutions: Path = SOLUTIONS,
    config: dict | None = None,
    force: bool = False,
    log=print,
    runner=None,
) -> list[GradeResult]:
    """Grade every submission of ``lab`` in ``location`` with ``workers`` processes; write gradebook + CSV.

    Resumable and idempotent: a submission whose content is already graded (same hash) is skipped, and each
    result is committed as soon as it arrives, so a killed run loses only the submissions in flight.
    """
    return grade_labs({lab: location}, workers, db, csv_path, solutions, config, force, log, runner)


def grade_labs(
    batches: dict[str, Path],
    workers: int = 1,
    db: Path = COURSE_DB,
    csv_path: Path | None = None,
    solutions: Path = SOLUTIONS,
    config: dict | None = None,
    force: bool = False,
    log=print,
    runner=None,
) -> list[GradeResult]:
    """Grade several labs' submissions (``{lab: location}``) in one pool; this process alone writes the gradebook.

    ``runner(jobs)`` yields each job's ``GradeResult`` in any order: by default a local pool of ``workers``
    processes; ``autograder.distributed.DaskRunner`` grades on a Dask cluster (the template built here travels to
    its workers).
    """
    known = labs(solutions)
    unknown = sorted(set(batches) - set(known))
    if unknown:
        raise GradingError(f"unknown lab(s) {unknown}; labs: {known}")
    db, csv_path = Path(db), Path(csv_path or Path(db).parent / "grades.csv")
    available, why = sandbox.sandbox_status()
    if available:
        log(f"[sandbox] {why}")
    else:
        log("!" * 100 + f"\n[sandbox] UNAVAILABLE: {why}\n[sandbox] kernels run WITHOUT network/file-system "
            "isolation (resource limits only). Do not grade untrusted work like this.\n" + "!" * 100)  # fmt: skip
    results: list[GradeResult] = []
    with tempfile.TemporaryDirectory(prefix="templates-") as temporary:
        jobs = []
        for lab, location in batches.items():
            submissions, problems = collect_submissions(lab, location)
            for problem in problems:
                log(f"[submissions] {lab}: {problem}")
            ensure_assignment(db, lab, solutions)
            done = set() if force else _already_graded(db, lab, submissions)
            if done:
                log(f"{lab}: {len(done)} submission(s) unchanged since last grading: skipped")
            todo = {s: b for s, b in sorted(submissions.items()) if s not in done}
            if not todo:
                continue
            # Built once here: local workers copy it, a Dask runner ships it to its workers as bytes.
            template = prepare_template(lab, Path(solutions) / lab, Path(temporary) / lab, config)
            jobs += [dict(lab=lab, student=s, notebook_bytes=b, source_dir=Path(solutions) / lab, template=template,
                          config=config) for s, b in todo.items()]  # fmt: skip
        for result in _run_jobs(jobs, workers) if runner is None else runner(jobs):
            _record(db, result)  # the coordinator is the only writer, one committed result at a time
            write_csv(db, csv_path)
            results.append(result)
            log(result_line(result))
    write_csv(db, csv_path)
    return results


def _run_jobs(jobs: list[dict], workers: int):
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_grade_job, jobs)
        return
    workers = min(workers, len(jobs))
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_start_worker, initargs=(kernel_thread_env(workers),)
    ) as pool:
        futures = [pool.submit(_grade_job, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def result_line(result: GradeResult) -> str:
    note = f"  ({'; '.join(result.problems)})" if result.problems else ""
    stopped = f"  [stopped: {result.reason}]" if result.reason else ""
    score = f"{result.total:5.1f} / {result.max_total:4.1f}"
    return f"{result.lab:<20} {result.student:<20} {score}  {result.seconds:6.1f} s{stopped}{note}"


# --------------------------------------------------------------------------------- sample submissions


def reference_submission(lab: str, solutions: Path = SOLUTIONS, release_dir: Path = NOTEBOOKS) -> bytes:
    """The reference answers pasted into the student notebook: what a perfect student submits."""
    source = nbformat.read(Path(solutions) / lab / f"{lab}.ipynb", as_version=4)
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
        )
        for cell in source.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    released = Path(release_dir) / lab / f"{lab}.ipynb"
    if released.exists():
        notebook = nbformat.read(released, as_version=4)
    else:  # not released yet: the solution notebook without its hidden tests
        notebook = source
        for cell in notebook.cells:
            cell.source = _strip_between(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(notebook).encode()


def _strip_between(text: str, begin: str, end: str) -> str:
    lines, keep = [], True
    for line in text.splitlines():
        if line.strip() == begin:
            keep = False
        elif line.strip() == end:
            keep = True
        elif keep:
            lines.append(line)
    return "\n".join(lines)

"""Grading a batch: collect submissions, check the environment with a canary, grade in workers, record each result.

``grade_labs`` is the coordinator: it reads the submissions (``submissions.collect_submissions``), skips the ones
already graded (same content hash), builds each lab's template course once, grades the lab's reference answers
first (the canary, ``check_canary``), then hands one job per submission to a runner: a local pool of worker
processes (``run_jobs``) or ``autograder.distributed.DaskRunner``. It alone writes the course gradebook, one
committed result at a time, so an interrupted run loses only the submissions in flight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from autograder import gradebook, grading, limits, sandbox, submissions
from autograder.errors import CanaryFailed, GradingError
from autograder.grading import GradeResult, GradingJob
from autograder.paths import COURSE_DB, SOLUTIONS, labs

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")
CANARY_STUDENT = "reference-canary"
_canaries: dict[str, GradeResult] = {}  # this process's canary results: canary_key -> result


def kernel_thread_env(workers: int) -> dict[str, str]:
    """Thread counts for each student kernel when ``workers`` kernels run at once: the machine's cores, shared.

    TensorFlow sizes its thread pool to every core of the machine; two kernels on two cores then run four busy
    threads that preempt each other. A tutor's own TF_NUM_INTRAOP_THREADS / OMP_NUM_THREADS win (the sandbox passes
    these variables through to the kernel).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cores // max(1, workers)))
    return {variable: os.environ.get(variable, threads) for variable in THREAD_VARIABLES}


def start_worker(env: dict[str, str]) -> None:
    """A grading worker: dies with its parent; its kernels get ``env`` (``kernel_thread_env``)."""
    grading.die_with_parent()
    os.environ.update(env)


# ------------------------------------------------------------------------------------------------ canary


def canary_key(lab: str, source_dir: Path, config: dict | None) -> str:
    """The same lab source and settings give the same key: a canary's result is reused within a process."""
    content = hashlib.sha256(repr((lab, sorted((config or {}).items()))).encode())
    for path in sorted(Path(source_dir).rglob("*")):
        if path.is_file() and ".ipynb_checkpoints" not in path.parts:
            content.update(f"\0{path.relative_to(source_dir)}\0".encode() + path.read_bytes())
    return content.hexdigest()


def canary_job(lab: str, source_dir: Path, template: Path, config: dict | None) -> GradingJob:
    """A grading job for the lab's reference answers, pasted into the released notebook of ``template``."""
    reference = submissions.reference_submission(lab, Path(source_dir).parent, Path(template) / "release")
    return GradingJob(lab, CANARY_STUDENT, reference, Path(source_dir), Path(template), config)


def check_canary(job: GradingJob, key: str) -> GradeResult:
    """Grade the reference answers here (once per process and ``key``); ``CanaryFailed`` unless full marks."""
    if key not in _canaries:
        _canaries[key] = grading.grade_job(job)
    result = _canaries[key]
    problem = canary_problem(result)
    if problem:
        raise CanaryFailed(problem)
    return result


def canary_problem(result: GradeResult) -> str | None:
    """None when the reference answers got every point; else one line naming the failing test cell and the cause.

    Answers graded by hand (``result.ungraded``) have no score until a tutor gives one: they do not count here.
    """
    autograded = {cell: points for cell, points in result.max_scores.items() if cell not in result.ungraded}
    if autograded and all(result.scores.get(cell, 0) >= points for cell, points in autograded.items()):
        return None
    failing = next((cell for cell, points in autograded.items() if result.scores.get(cell, 0) < points), None)
    message = result.messages.get(failing, "") if failing else ""
    where = f"test cell {failing!r} failed" if failing else "no test cell was graded"
    if message:
        where += f" ({message[:200]})"
    line = (
        f"canary: the reference answers of {result.lab} score {result.total:g}/{result.max_total:g} in this grading "
        f"environment, so nothing was graded: {where}; likely cause: {likely_cause(result, message)}"
    )
    return " ".join(line.split())


def likely_cause(result: GradeResult, message: str) -> str:
    if not result.max_scores or any(problem.startswith("autograde failed") for problem in result.problems):
        found = next((p for p in result.problems if p.startswith(("autograde failed", "grading crashed"))), "?")
        return f"nbgrader could not grade the lab here ({found[:200]})"
    if result.reason:
        return (
            f"the reference answers hit a grading limit ({result.reason}): raise the limits in "
            "autograder/nbgrader_config.py or grade on a machine with more memory and cores"
        )
    if "ModuleNotFoundError" in message or "ImportError" in message:
        return (
            "the sandboxed kernel cannot import a module the lab needs: is the venv installed for this course folder "
            "(`make install`; a course folder copied elsewhere keeps importing the old one)?"
        )
    if any(missing in message for missing in ("FileNotFoundError", "No such file", "DatasetNotFound")):
        return "a file the lab reads is missing in the sandbox: is the data set built (`make data`, COURSE_DATA_DIR)?"
    dataset = os.environ.get("COURSE_DATASET", "synthetic")
    return (
        f"the lab's tests do not pass with this machine's package versions or data set (COURSE_DATASET={dataset}): "
        "run the lab's own tests here (`make test`)"
    )


# --------------------------------------------------------------------------------------------- the batch


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
    canary: bool = True,
) -> list[GradeResult]:
    """Grade every submission of ``lab`` in ``location`` with ``workers`` processes; write gradebook + CSV.

    Resumable and idempotent: a submission whose content is already graded (same hash) is skipped, and each
    result is committed as soon as it arrives, so a killed run loses only the submissions in flight.
    """
    return grade_labs({lab: location}, workers, db, csv_path, solutions, config, force, log, runner, canary)


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
    canary: bool = True,
) -> list[GradeResult]:
    """Grade several labs' submissions (``{lab: location}``) in one pool; this process alone writes the gradebook.

    ``runner(jobs)`` yields each job's ``GradeResult`` in any order: by default a local pool of ``workers``
    processes; ``autograder.distributed.DaskRunner`` grades on a Dask cluster (the template built here travels to
    its workers, which each run the canary themselves). With ``canary`` (default), each lab's reference answers are
    graded first, here, and grading stops with ``CanaryFailed`` unless they get full marks.
    """
    known = labs(solutions)
    unknown = sorted(set(batches) - set(known))
    if unknown:
        raise GradingError(f"unknown lab(s) {unknown}; labs: {known}")
    csv_path = Path(csv_path or gradebook.course_root(db) / "grades.csv")
    log_banner(log, config)
    results: list[GradeResult] = []
    with tempfile.TemporaryDirectory(prefix="templates-") as temporary:
        jobs, reused = [], []
        for lab, location in batches.items():
            found, problems = submissions.collect_submissions(lab, location)
            for problem in problems:
                log(f"[submissions] {lab}: {problem}")
            gradebook.ensure_assignment(db, lab, solutions)
            done = set() if force else gradebook.already_graded(db, lab, found)
            if done:
                log(f"{lab}: {len(done)} submission(s) unchanged since last grading: skipped")
            todo = {s: b for s, b in sorted(found.items()) if s not in done}
            if not todo:
                continue
            # Built once here: local workers copy it, a Dask runner ships it to its workers as bytes.
            source_dir = Path(solutions) / lab
            template = grading.prepare_template(lab, source_dir, Path(temporary) / lab, config)
            lab_jobs = [GradingJob(lab, s, b, source_dir, template, config) for s, b in todo.items()]
            if canary and runner is None:
                reference = check_canary(
                    canary_job(lab, source_dir, template, config), canary_key(lab, source_dir, config)
                )
                log(f"[canary] {lab}: reference answers {reference.total:g}/{reference.max_total:g} "
                    f"({reference.seconds:.0f} s)")  # fmt: skip
                same = [job for job in lab_jobs if job.digest == reference.digest]  # graded already: the canary
                reused += [dataclasses.replace(reference, student=job.student, seconds=0.0) for job in same]
                lab_jobs = [job for job in lab_jobs if job not in same]
            jobs += lab_jobs
        for result in [*reused, *(run_jobs(jobs, workers) if runner is None else runner(jobs))]:
            gradebook.record(db, result)  # the coordinator is the only writer, one committed result at a time
            gradebook.write_csv(db, csv_path)
            results.append(result)
            log(result_line(result))
    gradebook.write_csv(db, csv_path)
    return results


def log_banner(log, config: dict | None = None) -> None:
    """The grading banner: sandbox or not (loudly), and how the whole sandbox is limited here."""
    available, why = sandbox.sandbox_status()
    if available:
        log(f"[sandbox] {why}")
    else:
        log("!" * 100 + f"\n[sandbox] UNAVAILABLE: {why}\n[sandbox] kernels run WITHOUT network/file-system "
            "isolation (resource limits only). Do not grade untrusted work like this.\n" + "!" * 100)  # fmt: skip
    overrides = (config or {}).get("SandboxedKernelManager.limits") or course_limits()
    log(f"[limits] {limits.describe(limits.Limits(**overrides))}")


def course_limits() -> dict:
    """``SandboxedKernelManager.limits`` as autograder/nbgrader_config.py sets it."""
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.paths import COURSE_CONFIG

    loaded = PyFileConfigLoader(COURSE_CONFIG.name, path=str(COURSE_CONFIG.parent)).load_config()
    return dict(loaded.SandboxedKernelManager.get("limits", {}))


def run_jobs(jobs: list[GradingJob], workers: int):
    """The local runner: each job's ``GradeResult`` as it finishes, from ``workers`` processes (here when 1)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(grading.grade_job, jobs)
        return
    workers = min(workers, len(jobs))
    with ProcessPoolExecutor(
        max_workers=workers, initializer=start_worker, initargs=(kernel_thread_env(workers),)
    ) as pool:
        futures = [pool.submit(grading.grade_job, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def result_line(result: GradeResult) -> str:
    note = f"  ({'; '.join(result.problems)})" if result.problems else ""
    stopped = f"  [stopped: {result.reason}]" if result.reason else ""
    score = f"{result.total:5.1f} / {result.max_total:4.1f}"
    return f"{result.lab:<20} {result.student:<20} {score}  {result.seconds:6.1f} s{stopped}{note}"

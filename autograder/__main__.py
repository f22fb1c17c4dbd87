"""python -m autograder {release, grade, feedback, report, sandbox, demo}: convenience commands on top of nbgrader.

The stock nbgrader CLI works too, from autograder/ (`cd autograder && nbgrader autograde lab1_sequence`): both
use autograder/nbgrader_config.py, so grading is sandboxed and guarded either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from autograder import colab, course, deadlines, distributed, export, gradebook, report, sandbox, similarity


def demo(workers: int, labs: list[str] | None = None) -> int:
    """Release every lab, grade two sample students per lab (reference answers, blank notebook), print grades."""
    started = time.perf_counter()
    selected = labs or course.labs()
    course.release(selected)
    print(f"released {len(selected)} lab(s) into notebooks/: {', '.join(selected)}")
    samples = course.AUTOGRADER_DIR / "demo_submissions"
    for lab in selected:
        for student, blob in (
            ("reference", course.reference_submission(lab)),
            ("blank", (course.NOTEBOOKS / lab / f"{lab}.ipynb").read_bytes()),
        ):
            folder = samples / lab / student
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{lab}.ipynb").write_bytes(blob)
    # One pool for all labs (the coordinator alone writes the gradebook); --force: the demo always regrades.
    course.grade_labs({lab: samples / lab for lab in selected}, workers=workers, force=True)
    csv_path = gradebook.write_csv(gradebook.COURSE_DB, course.AUTOGRADER_DIR / "grades.csv")
    print(f"\nGrades ({csv_path.relative_to(course.ROOT)}):")
    print(csv_path.read_text())
    written = gradebook.write_feedback(gradebook.COURSE_DB, course.AUTOGRADER_DIR / "feedback")
    page = report.write()
    print(
        f"feedback: {len(written)} HTML file(s) in autograder/feedback/; tutor report: {page.relative_to(course.ROOT)}"
    )
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0


DB_HELP = "course gradebook: a sqlite file or a database URL (default: nbgrader_config.py's db_url)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate notebooks/<lab>/ from solutions/<lab>/ (nbgrader)")
    rel.add_argument("labs", nargs="*", help="labs to release (default: all)")
    grade = commands.add_parser("grade", help="autograde a folder or zip of submissions")
    grade.add_argument("lab")
    grade.add_argument("submissions", type=Path, help="folder of <student>/<lab>.ipynb or <student>.zip, or a zip")
    grade.add_argument("--workers", type=int, default=None,
                       help="grading processes (default: the machine's cores, at most the submissions)")  # fmt: skip
    where = grade.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="grade on a running Dask cluster (tcp://host:8786)")
    where.add_argument("--cluster", choices=distributed.CLUSTER_KINDS,
                       help="start a Dask cluster: local (--workers processes) or a batch system (--jobs)")  # fmt: skip
    grade.add_argument("--jobs", type=int, default=1, help="batch jobs to submit with --cluster slurm/pbs/sge/lsf")
    grade.add_argument("--cluster-config", type=Path, default=distributed.CLUSTER_YAML,
                       help="batch job options (default autograder/cluster.yaml)")  # fmt: skip
    grade.add_argument("--retries", type=int, default=distributed.DEFAULT_RETRIES,
                       help="Dask: more attempts for a submission whose worker died (default %(default)s)")  # fmt: skip
    grade.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    grade.add_argument("--csv", type=Path, default=None, help="grades CSV (default: grades.csv beside the gradebook)")
    grade.add_argument("--force", action="store_true", help="regrade submissions that are already graded")
    grade.add_argument("--solutions", type=Path, default=course.SOLUTIONS, help="source notebooks (nbgrader source)")
    grade.add_argument("--require-sandbox", action="store_true", help="refuse to grade without bubblewrap")
    grade.add_argument("--times", type=Path, metavar="CSV",
                       help="submission times from the LMS: columns student,submitted[,lab]")  # fmt: skip
    grade.add_argument("--deadlines", type=Path, default=deadlines.DEADLINES_TOML, help=DEADLINES_HELP)
    grade.add_argument("--no-canary", dest="canary", action="store_false",
                       help="do not grade the reference answers first (the canary)")  # fmt: skip
    feedback = commands.add_parser("feedback", help="write feedback/<student>/<lab>/<lab>.html from the gradebook")
    feedback.add_argument("lab", nargs="?")
    feedback.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    feedback.add_argument("--out", type=Path, default=course.AUTOGRADER_DIR / "feedback")
    rep = commands.add_parser("report", help="tutor report (HTML with plots) from the gradebook")
    rep.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    grades = commands.add_parser("grades", help="rewrite grades.csv from the gradebook (after grading by hand)")
    grades.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    grades.add_argument("--csv", type=Path, default=None, help="default: grades.csv in the course folder")
    rep.add_argument("--out", type=Path, default=course.AUTOGRADER_DIR / "report")
    rep.add_argument("--deadlines", type=Path, default=deadlines.DEADLINES_TOML, help=DEADLINES_HELP)
    similar = commands.add_parser("similarity", help="flag near-identical answers (also run by grade)")
    similar.add_argument("lab")
    similar.add_argument("submissions", type=Path, help="the folder or zip given to grade")
    similar.add_argument("--threshold", type=float, default=similarity.DEFAULT_THRESHOLD,
                         help="flag pairs at least this similar, 0-1 (default %(default)s)")  # fmt: skip
    similar.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    similar.add_argument("--solutions", type=Path, default=course.SOLUTIONS)
    out = commands.add_parser("export", help="grades for the LMS's gradebook import (manual points, late penalties)")
    out.add_argument("--format", required=True, choices=export.FORMATS, help="canvas, moodle or csv (one row each)")
    out.add_argument("--out", type=Path, help="file to write (default autograder/export/<format>.csv)")
    out.add_argument("--db", type=gradebook.location, default=course.COURSE_DB, help=DB_HELP)
    out.add_argument("--deadlines", type=Path, default=deadlines.DEADLINES_TOML, help=DEADLINES_HELP)
    out.add_argument("--lab", action="append", help="only this lab (repeatable; default: every graded lab)")
    out.add_argument("--roster", type=Path, help="canvas: Canvas's gradebook export, to take its student columns")
    out.add_argument("--column", action="append", default=[], metavar="LAB=HEADER",
                     help="the LMS's name of a lab's column, e.g. lab1_sequence='Lab 1 (12345)'")  # fmt: skip
    out.add_argument("--email-domain", help="moodle: fill 'Email address' with <student>@<domain>")
    commands.add_parser("sandbox", help="say whether student kernels can be sandboxed here")
    col = commands.add_parser("colab", help="write every lab's install cell and Open-in-Colab link (then: release)")
    col.add_argument("--repository", default=colab.DEFAULT_REPOSITORY, help="GitHub owner/name of the course")
    dem = commands.add_parser("demo", help="release, grade sample submissions, print the grade table")
    dem.add_argument("--workers", type=int, default=2)
    dem.add_argument("labs", nargs="*", help="labs (default: all)")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in course.release(args.labs or None):
                print(f"released {path.relative_to(course.ROOT)}")
        elif args.command == "grade":
            return grade_command(args)
        elif args.command == "feedback":
            written = gradebook.write_feedback(args.db, args.out, args.lab)
            print(f"wrote {len(written)} feedback file(s) under {args.out}")
        elif args.command == "report":
            print(f"wrote {report.write(args.db, args.out, args.deadlines)}")
        elif args.command == "grades":
            print(f"wrote {gradebook.write_csv(args.db, args.csv or gradebook.course_root(args.db) / 'grades.csv')}")
        elif args.command == "similarity":
            similarity_command(args.lab, args.submissions, args.db, args.solutions, args.threshold)
        elif args.command == "export":
            return export_command(args)
        elif args.command == "sandbox":
            available, why = sandbox.sandbox_status()
            print(("sandbox available: " if available else "SANDBOX UNAVAILABLE: ") + why)
            from autograder import batch, limits

            print(limits.describe(limits.Limits(**batch.course_limits())))
            return 0 if available else 1
        elif args.command == "colab":
            for path in colab.main(args.repository):
                print(f"install cell and Colab link ({args.repository}) in {path.relative_to(course.ROOT)}")
        elif args.command == "demo":
            return demo(args.workers, args.labs or None)
    except course.GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: every result shown is recorded; run the same command again to grade the rest",
              file=sys.stderr)  # fmt: skip
        return 130
    return 0


def similarity_command(lab: str, location: Path, db: Path | str, solutions: Path,
                       threshold: float = similarity.DEFAULT_THRESHOLD) -> Path:  # fmt: skip
    """Compare every submission of ``lab`` in ``location``; the tutor report shows the flagged pairs."""
    if not 0 < threshold <= 1:
        raise course.GradingError(f"--threshold must be in (0, 1], got {threshold}")
    submissions = course.collect_submissions(lab, location)[0]
    path = similarity.write(lab, submissions, Path(solutions) / lab / f"{lab}.ipynb", similarity.folder(db), threshold)
    flagged = similarity.load(lab, similarity.folder(db))["pairs"]
    print(f"similarity: {len(flagged)} pair(s) of {len(submissions)} submission(s) flagged; {path}")
    return path


DEADLINES_HELP = "due dates and late-penalty rule (default autograder/deadlines.toml)"


def export_command(args: argparse.Namespace) -> int:
    """``export``: the gradebook as the LMS imports it; warnings (ungraded answers, unknown times) on stderr."""
    columns = {}
    for item in args.column:
        lab, sep, header = item.partition("=")
        if not sep or not lab or not header:
            raise course.GradingError(f"--column takes LAB=HEADER, got {item!r}")
        columns[lab] = header
    target = args.out or course.AUTOGRADER_DIR / "export" / f"{args.format}.csv"
    path, warnings = export.write(args.db, args.format, target, args.deadlines, args.lab, args.roster, columns,
                                  args.email_domain)  # fmt: skip
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {path}")
    return 0


def record_times(lab: str, db, times: dict, due: deadlines.Deadlines) -> None:
    """Every submission's time into the gradebook (late penalties), and a line on what was late or unknown."""
    late = deadlines.record_times(db, lab, times, due)
    unknown = sorted(student for student, lateness in late.items() if lateness.status == "unknown")
    counted = sum(1 for lateness in late.values() if lateness.status == "late")
    listed = f" ({', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}: see the report)" if unknown else ""
    print(f"deadlines: {counted} late, {len(unknown)} without a readable time{listed}")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a batch job's share, not the whole node)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def workers_for(requested: int | None, submissions: int, cores: int | None = None) -> tuple[int, str]:
    """Worker processes for ``submissions`` (``--workers`` if given), and why that many, for the grading log."""
    if requested is not None:
        if requested < 1:
            raise course.GradingError(f"--workers must be at least 1, got {requested}")
        return requested, "--workers"
    cores = cores or usable_cores()
    return max(1, min(cores, submissions)), f"{cores} core(s), {submissions} submission(s); --workers to change"


def grade_command(args: argparse.Namespace) -> int:
    """``grade``: local processes, or Dask (``--scheduler``/``--cluster``), connected before anything is graded."""
    config = {"SandboxedKernelManager.require_sandbox": True} if args.require_sandbox else None
    dask = args.scheduler is not None or args.cluster is not None
    if args.require_sandbox and not dask and not sandbox.sandbox_status()[0]:  # Dask workers check their own
        raise course.GradingError(f"no sandbox: {sandbox.sandbox_status()[1]}")
    if args.lab not in course.labs(args.solutions):  # before a cluster starts
        raise course.GradingError(f"unknown lab {args.lab!r}; labs: {course.labs(args.solutions)}")
    due = deadlines.load(args.deadlines)  # a broken deadlines.toml or LMS CSV stops before anything is graded
    times = deadlines.submission_times(args.lab, args.submissions, due, args.times)
    if args.scheduler is None:  # a running cluster brings its own workers
        submissions = len(course.collect_submissions(args.lab, args.submissions)[0])
        args.workers, why = workers_for(args.workers, submissions)
        print(f"grading with {args.workers} worker process(es) ({why})")
    else:
        args.workers = args.workers or 1
    runner = None
    if dask:
        runner = distributed.DaskRunner(args.scheduler, args.cluster, jobs=args.jobs, workers=args.workers,
                                        cluster_config=args.cluster_config, retries=args.retries,
                                        canary=args.canary).start()  # fmt: skip
    try:
        results = course.grade_batch(args.lab, args.submissions, workers=args.workers, db=args.db, csv_path=args.csv,
                                     config=config, force=args.force, solutions=args.solutions, runner=runner,
                                     canary=args.canary, log=runner.log if runner else print)  # fmt: skip
    finally:
        if runner is not None:
            runner.close()
    print(f"graded {len(results)} submission(s); gradebook {args.db}")
    similarity_command(args.lab, args.submissions, args.db, args.solutions)
    record_times(args.lab, args.db, times, due)
    if runner is not None and runner.not_recorded:
        print(f"{len(runner.not_recorded)} submission(s) could not be graded: run the same command again")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

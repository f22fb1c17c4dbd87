"""python -m autograder {release, grade, demo}: convenience commands on top of the stock nbgrader CLI."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from autograder import course


def demo(workers: int) -> int:
    """Release every lab, grade two sample students per lab (reference answers, blank notebook), print grades."""
    started = time.perf_counter()
    course.release()
    print(f"released {len(course.labs())} lab(s) into notebooks/")
    samples = course.AUTOGRADER_DIR / "demo_submissions"
    for lab in course.labs():
        for student, blob in (
            ("reference", course.reference_submission(lab)),
            ("blank", (course.NOTEBOOKS / lab / f"{lab}.ipynb").read_bytes()),
        ):
            folder = samples / lab / student
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{lab}.ipynb").write_bytes(blob)
        course.grade_batch(lab, samples / lab, workers=workers)
    csv_path = course.AUTOGRADER_DIR / "grades.csv"
    print(f"\nGrades ({csv_path.relative_to(course.ROOT)}):")
    print(csv_path.read_text())
    print(f"demo finished in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate notebooks/<lab>/ from solutions/<lab>/ (nbgrader)")
    rel.add_argument("labs", nargs="*", help="labs to release (default: all)")
    grade = commands.add_parser("grade", help="autograde a folder or zip of submissions")
    grade.add_argument("lab")
    grade.add_argument("submissions", type=Path, help="folder of <student>/<lab>.ipynb or <student>.zip, or a zip")
    grade.add_argument("--workers", type=int, default=1)
    dem = commands.add_parser("demo", help="release, grade sample submissions, print the grade table")
    dem.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for path in course.release(args.labs or None):
                print(f"released {path.relative_to(course.ROOT)}")
        elif args.command == "grade":
            course.grade_batch(args.lab, args.submissions, workers=args.workers)
        elif args.command == "demo":
            return demo(args.workers)
    except course.GradingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

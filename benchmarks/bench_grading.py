"""Grading cost and throughput: stock nbgrader, ``--workers 1`` and ``2``, a Dask LocalCluster, no sandbox.

    .venv/bin/python benchmarks/bench_grading.py                          # lab1_sequence, 20 submissions (3 blank)
    .venv/bin/python benchmarks/bench_grading.py --n 8 --blank 2          # fewer: about 12 minutes on 2 cores
    .venv/bin/python benchmarks/bench_grading.py --modes workers1,dask2 --lab lab2_functional
    .venv/bin/python benchmarks/bench_grading.py --lab all --n 3 --blank 0 --modes workers1    # CPU per lab
    git worktree add /tmp/before 3845428                                  # the grading code of an earlier commit:
    .venv/bin/python benchmarks/bench_grading.py --lab all --n 3 --blank 0 --modes workers1 --code /tmp/before

``--lab all`` measures every lab in turn. ``--code CHECKOUT`` grades with the ``autograder`` package and labs of
another checkout of the course (e.g. a ``git worktree`` of an older commit) and this checkout's ``course_utils``
and data, so that the two runs differ only in the grading code and the labs (an older checkout's own sandbox binds
only its own ``course_utils``, which the kernel does not import). The CPU figures are split by process: student
kernels, the trusted test process (``autograder.trusted``, where it exists) and the grader (nbgrader, workers,
sandbox launchers); ``--json FILE`` writes them for comparing runs.

The class: ``--n`` submissions, ``--blank`` of them the untouched student notebook, the others the reference
answers (``course.reference_submission``) under different student names. Every mode grades the same class into its
own temporary gradebook (created before the clock starts, as in a real term):

- ``stock``: ``nbgrader autograde`` + ``nbgrader generate_feedback`` run from a temporary course (the stock CLI with
  the course's nbgrader_config.py, so the same sandboxed, guarded execution), one submission after the other;
- ``workers1`` / ``workers2``: ``python -m autograder grade --workers N`` (``course.grade_batch``);
- ``dask2``: the same on a Dask ``LocalCluster`` of ``--workers`` processes (``--cluster local``), cluster start-up
  and shut-down included;
- ``nosandbox``: ``--workers 1`` with ``GuardedExecute.sandbox = False`` (no bubblewrap, no rlimits), to price the
  sandbox.

Printed: wall seconds, seconds per submission, submissions per minute, CPU seconds per submission (this process and
all its children: workers, kernels), the trusted test process's share of it, the mean grading time a worker
reports per submission, the coordinator's time to record results, the mean score; then the ratios (speed-up, Dask
overhead, sandbox overhead). The canary (the reference answers graded once before each batch) is left out of the
per-submission figures (``--workers`` modes run with ``canary=False``) and measured once per lab as ``canary``.
No asserts: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _use_code(argv: list[str]) -> Path | None:
    """``--code CHECKOUT``: import ``autograder`` from there; ``course_utils`` stays this checkout's."""
    if "--code" not in argv:
        return None
    checkout = Path(argv[argv.index("--code") + 1]).resolve()
    import course_utils  # noqa: F401 (this checkout's: what the sandbox binds and the kernel imports)

    farm = Path(tempfile.mkdtemp(prefix="bench-code-"))
    (farm / "autograder").symlink_to(checkout / "autograder")
    sys.path.insert(0, str(farm))
    return checkout


CODE = _use_code(sys.argv)

from autograder import course, distributed  # noqa: E402

try:
    from autograder.limits import descendants  # noqa: E402 - the loaded grading code's own
except ImportError:  # grading code older than autograder/limits.py (e.g. 3845428, --code CHECKOUT)
    from autograder.sandbox import _children  # noqa: E402 - that code's private one

    def descendants(root: int) -> list[int]:
        found, frontier = [], [root]
        while frontier:
            children = _children(frontier.pop())
            found += children
            frontier += children
        return found


MODES = ("stock", "workers1", "workers2", "dask2", "nosandbox", "canary")
NO_SANDBOX = {"GuardedExecute.sandbox": False}


class CpuMeter:
    """CPU seconds of this process and of every descendant (workers, nbgrader, sandboxed kernels) while it runs.

    ``RUSAGE_CHILDREN`` misses the kernels: they run below bwrap, which dies with them unreaped. So a thread samples
    ``/proc/<pid>/stat`` of all descendants every 0.2 s and keeps each process's last reading (the final < 0.2 s
    of a process, and processes shorter than that, are missed).
    """

    def __init__(self):
        self.readings: dict[tuple[int, str], float] = {}
        self.kinds: dict[tuple[int, str], str] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.own = usage.ru_utime + usage.ru_stime
        # Processes that outlive one measurement (the long-lived trusted test process) count only what they use
        # from now on: their CPU so far is the baseline.
        self._read_descendants()
        self.baseline = dict(self.readings)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = {key: value - self.baseline.get(key, 0.0) for key, value in self.readings.items()}
        self.seconds = usage.ru_utime + usage.ru_stime - self.own + sum(used.values())
        self.by_kind = {kind: sum(v for k, v in used.items() if self.kinds[k] == kind) for kind in KINDS}

    def _sample(self):
        while not self.stop.wait(0.2):
            self._read_descendants()

    def _read_descendants(self):
        ticks = os.sysconf("SC_CLK_TCK")
        for pid in set(descendants(os.getpid())):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            key = (pid, fields[19])
            self.readings[key] = (int(fields[11]) + int(fields[12])) / ticks  # utime+stime; start time
            if key not in self.kinds:
                self.kinds[key] = _kind(pid)


KINDS = ("kernel", "trusted", "grader")


def _kind(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "grader"
    if b"autograder.trusted" in cmdline:
        return "trusted"
    return "kernel" if b"ipykernel" in cmdline and b"autograder.sandbox" not in cmdline else "grader"


def make_class(lab: str, n: int, blank: int, folder: Path) -> dict[str, bytes]:
    reference = course.reference_submission(lab)
    untouched = (course.NOTEBOOKS / lab / f"{lab}.ipynb").read_bytes()
    class_list = {f"student{index:03d}": reference for index in range(n - blank)}
    class_list |= {f"blank{index:02d}": untouched for index in range(blank)}
    for student, blob in class_list.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{lab}.ipynb").write_bytes(blob)
    return class_list


class RecordTimer:
    """Time the coordinator spends writing results (gradebook + grades.csv), by wrapping the gradebook's writers."""

    def __init__(self):
        self.seconds = 0.0
        self.home = _gradebook_module()
        self.writer = "record" if hasattr(self.home, "record") else "_record"  # older code: a private name
        self.originals = (getattr(self.home, self.writer), self.home.write_csv)

    def __enter__(self):
        def timed(function):
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - started

            return wrapper

        timed_record, timed_csv = (timed(function) for function in self.originals)
        setattr(self.home, self.writer, timed_record)
        self.home.write_csv = timed_csv
        return self

    def __exit__(self, *exc_info):
        setattr(self.home, self.writer, self.originals[0])
        self.home.write_csv = self.originals[1]


def _gradebook_module():
    """Where the coordinator looks up the gradebook writers: autograder.gradebook, or course.py in older code."""
    try:
        from autograder import gradebook

        return gradebook
    except ImportError:
        return course


def _grade_batch(lab, submissions, **kw):
    """``grade_batch`` without the canary (measured on its own) where the code has one."""

    if "canary" in inspect.signature(course.grade_batch).parameters:
        kw["canary"] = False
    return course.grade_batch(lab, submissions, **kw)


def run_mode(mode: str, lab: str, submissions: Path, class_list: dict[str, bytes], workers: int, scratch: Path):
    """One mode's figures; the trusted process's CPU split into its one-off start (TensorFlow, locked values) and
    the test cells (``AUTOGRADER_TRUSTED_PROFILE``, where the grading code writes it)."""
    scratch.mkdir()
    profile = Path(os.environ["AUTOGRADER_TRUSTED_PROFILE"])  # one file for the whole run (main sets it)
    before = len(profile.read_text().splitlines()) if profile.exists() else 0
    row = _run_mode(mode, lab, submissions, class_list, workers, scratch)
    if profile.exists():
        lines = profile.read_text().splitlines()[before:]  # this mode's requests
        records = [json.loads(line) for line in lines if line.strip()]
        row["cpu_trusted_start"] = sum(r["cpu_s"] for r in records if r["op"] == "prepare")
        row["cpu_trusted_cells"] = sum(r["cpu_s"] for r in records if r["op"] == "run")
        row["trusted_processes"] = len({r["pid"] for r in records})
    return row


def _run_mode(mode: str, lab: str, submissions: Path, class_list: dict[str, bytes], workers: int, scratch: Path):
    if mode == "stock":
        return run_stock(lab, class_list, scratch)
    if mode == "canary":
        return run_canary(lab, scratch)
    db = scratch / "gradebook.db"
    course.ensure_assignment(db, lab)  # the term's gradebook exists before grading starts
    config = NO_SANDBOX if mode == "nosandbox" else None
    count = {"workers1": 1, "nosandbox": 1, "workers2": 2, "dask2": workers}[mode]
    started = time.perf_counter()
    with CpuMeter() as cpu, RecordTimer() as recording:
        if mode == "dask2":
            with distributed.DaskRunner(
                cluster="local", workers=count, progress=False, log=lambda line: None
            ) as runner:
                setup = time.perf_counter() - started
                results = _grade_batch(lab, submissions, db=db, config=config, runner=runner, log=runner.log)
        else:
            setup = 0.0
            results = _grade_batch(lab, submissions, workers=count, db=db, config=config, log=lambda line: None)
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": cpu.seconds, "setup": setup, "record": recording.seconds, "n": len(results),
            **{f"cpu_{kind}": seconds for kind, seconds in cpu.by_kind.items()},
            "graded": statistics.mean(r.seconds for r in results), "score": statistics.mean(r.total for r in results),
            "max": max(r.max_total for r in results)}  # fmt: skip


def run_stock(lab: str, class_list: dict[str, bytes], scratch: Path) -> dict:
    """The stock CLI in a temporary course: generate_assignment (before the clock), autograde, generate_feedback."""
    root = scratch / "course"
    root.mkdir()
    (getattr(course, "write_course_config", None) or course._write_course_config)(root)
    shutil.copytree(course.SOLUTIONS / lab, root / "source" / lab)
    course.run_nbgrader("generate_assignment", lab, "--force", cwd=root)
    for student, blob in class_list.items():
        (root / "submitted" / student / lab).mkdir(parents=True)
        (root / "submitted" / student / lab / f"{lab}.ipynb").write_bytes(blob)
    started = time.perf_counter()
    # The --workers modes leave the canary out (measured on its own); so does this one where the stock path has one.
    no_canary = ["--StockPath.canary=False"] if importlib.util.find_spec("autograder.stock_path") else []
    with CpuMeter() as cpu:
        unbounded = {"timeout": None} if "timeout" in inspect.signature(course.run_nbgrader).parameters else {}
        course.run_nbgrader("autograde", lab, *no_canary, cwd=root, check=False, **unbounded)
        course.run_nbgrader("generate_feedback", lab, cwd=root, check=False)
    wall = time.perf_counter() - started
    read_scores = getattr(course, "read_scores", None) or course._read_scores
    totals = [sum(read_scores(root, lab, student)[0].values()) for student in class_list]
    maximum = sum(read_scores(root, lab, next(iter(class_list)))[1].values())
    return {"wall": wall, "cpu": cpu.seconds, "setup": 0.0, "record": 0.0, "n": len(class_list), "graded": float("nan"),
            "score": statistics.mean(totals), "max": maximum,
            **{f"cpu_{kind}": seconds for kind, seconds in cpu.by_kind.items()}}  # fmt: skip


def run_canary(lab: str, scratch: Path) -> dict:
    """The canary of a batch: the template course and the reference answers graded once (new code only)."""
    from autograder import batch, grading

    started = time.perf_counter()
    with CpuMeter() as cpu:
        template = grading.prepare_template(lab, course.SOLUTIONS / lab, scratch / "template")
        job = batch.canary_job(lab, course.SOLUTIONS / lab, template, None)
        result = grading.grade_job(job)
    return {"wall": time.perf_counter() - started, "cpu": cpu.seconds, "setup": 0.0, "record": 0.0, "n": 1,
            "graded": result.seconds, "score": result.total, "max": result.max_total,
            **{f"cpu_{kind}": seconds for kind, seconds in cpu.by_kind.items()}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="lab1_sequence", help="a lab, several (comma-separated) or all")
    parser.add_argument("--code", type=Path, default=None, help="grade with the autograder and labs of this checkout")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    parser.add_argument("--n", type=int, default=20, help="submissions (default 20)")
    parser.add_argument("--blank", type=int, default=None, help="of which untouched notebooks (default n // 6)")
    parser.add_argument("--workers", type=int, default=2, help="Dask LocalCluster worker processes (default 2)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from {', '.join(MODES)}")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all modes; the fastest round counts")
    args = parser.parse_args(argv)
    modes = [mode for mode in args.modes.split(",") if mode]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {unknown}")
    blank = args.n // 6 if args.blank is None else args.blank
    from nbgrader.apps import NbGraderAPI  # noqa: F401 (imported before the clock: in-process modes grade with it)

    selected = course.labs() if args.lab == "all" else args.lab.split(",")
    print(f"grading code: {CODE or ROOT}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    every_lab = {}
    # Trusted test processes outlive one mode (one per worker): they append their requests' CPU to one file.
    profile_folder = tempfile.TemporaryDirectory(prefix="bench-grading-profile-")
    os.environ["AUTOGRADER_TRUSTED_PROFILE"] = str(Path(profile_folder.name) / "trusted-profile.jsonl")
    for lab in selected:
        figures = every_lab[lab] = {}
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as temporary:
            submissions = Path(temporary) / "submissions"
            class_list = make_class(lab, args.n, blank, submissions)
            print(f"{lab}: {args.n} submissions ({args.n - blank} reference, {blank} blank); modes: {', '.join(modes)}")
            for round_ in range(args.repeat):  # modes interleaved, so that a busy spell of the machine hits them all
                for mode in modes:
                    scratch = Path(temporary) / f"{mode}-{round_}"
                    row = run_mode(mode, lab, submissions, class_list, args.workers, scratch)
                    if mode not in figures or row["wall"] < figures[mode]["wall"]:
                        figures[mode] = row
                    print(f"  {mode:<10} round {round_ + 1}: {row['wall']:7.1f} s wall, {row['cpu']:7.1f} CPU s "
                          f"(trusted {row.get('cpu_trusted', 0):.1f}), mean score {row['score']:.2f} / {row['max']:g}, "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        print_table(figures, args)
    if args.json:
        args.json.write_text(json.dumps({"code": str(CODE or ROOT), "n": args.n, "labs": every_lab}, indent=1))
    return 0


def print_table(figures: dict, args) -> None:
    header = (f"{'mode':<10} {'wall s':>8} {'s/subm':>7} {'subm/min':>9} {'CPU s/subm':>11} {'trusted':>8} "
              f"{'kernel':>7} {'graded s':>9} {'record s':>9} {'setup s':>8} {'score':>7}")  # fmt: skip
    print("\n" + header + "\n" + "-" * len(header))
    for mode, row in figures.items():
        n, wall = row["n"], row["wall"]
        print(f"{mode:<10} {wall:8.1f} {wall / n:7.1f} {60 * n / wall:9.2f} {row['cpu'] / n:11.1f} "
              f"{row.get('cpu_trusted', 0) / n:8.1f} {row.get('cpu_kernel', 0) / n:7.1f} "
              f"{row['graded']:9.1f} {row['record']:9.2f} {row['setup']:8.1f} {row['score']:7.2f}")  # fmt: skip
    print("\ngraded s: mean seconds a worker spent per submission; record s: coordinator's gradebook + CSV writes")
    for mode, row in figures.items():
        if "cpu_trusted_cells" in row:
            print(
                f"{mode}: trusted process {row['cpu_trusted_start']:.1f} CPU s to start ({row['trusted_processes']} "
                f"process(es), once per worker), test cells {row['cpu_trusted_cells'] / row['n']:.2f} CPU s per "
                f"submission ({row['cpu_trusted_cells'] / row['cpu'] * 100:.1f} % of all CPU per submission)"
            )

    def ratio(label, numerator, denominator, percent=False, measure="wall"):
        if numerator in figures and denominator in figures:
            value = figures[numerator][measure] / figures[denominator][measure]
            shown = f"{100 * (value - 1):+.1f} %" if percent else f"{1 / value:.2f}x"
            print(f"{label:<60} {shown}")

    print()
    ratio("speed-up --workers 2 vs --workers 1", "workers2", "workers1")
    ratio("speed-up --workers 2 vs stock nbgrader (serial)", "workers2", "stock")
    ratio("speed-up --workers 1 vs stock nbgrader (serial)", "workers1", "stock")
    ratio(f"Dask LocalCluster ({args.workers}) vs --workers 2: overhead", "dask2", "workers2", percent=True)
    if "dask2" in figures and "workers2" in figures:
        steady = (figures["dask2"]["wall"] - figures["dask2"]["setup"]) / figures["workers2"]["wall"] - 1
        print(f"{'  ... without the cluster start-up':<60} {100 * steady:+.1f} %")
    ratio("  ... in CPU seconds (less sensitive to the machine's load)", "dask2", "workers2", True, "cpu")
    ratio("sandbox overhead (--workers 1 vs sandbox disabled)", "workers1", "nosandbox", percent=True)
    ratio("  ... in CPU seconds", "workers1", "nosandbox", True, "cpu")
    print(f"\nload average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    sys.exit(main())

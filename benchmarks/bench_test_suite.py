"""Wall time of the test suite, serial and with pytest-xdist workers, and the ratio between them.

    .venv/bin/python benchmarks/bench_test_suite.py                  # fast and full suites, serial and -n 2
    .venv/bin/python benchmarks/bench_test_suite.py --parts fast     # only `make test-fast`'s pytest run
    .venv/bin/python benchmarks/bench_test_suite.py --parts full --modes parallel --workers 2
    .venv/bin/python benchmarks/bench_test_suite.py --parts notebooks --pytest-args "-k lab2_functional"
    .venv/bin/python benchmarks/bench_test_suite.py --parts notebooks --modes serial --share-kernel on,off

``--share-kernel on,off`` measures what the nbval kernel handover (tests/nbval_handover.py) saves: with it, the
mutant suite continues in the kernel nbval used; without it, it executes each solution notebook once more.

"full" is `make test`'s pytest command (tests + nbval over solutions/), "fast" is `make test-fast`'s (no notebook
execution), "notebooks" only the notebook-executing tests. Each run also prints its per-notebook timing table.
Timings depend on the machine's load: on a shared 2-core machine expect roughly twice the idle times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NBVAL = ["--nbval-lax", "--nbval-kernel-name", "dlcourse", "--nbval-cell-timeout", "300",
         "--nbval-sanitize-with", "tests/nbval_sanitize.cfg"]  # fmt: skip
SOLUTIONS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("solutions/lab*/lab*.ipynb") if p.stem == p.parent.name)
PARTS = {
    "fast": ["-m", "not notebook", "tests"],
    "notebooks": ["-m", "notebook", "tests", *SOLUTIONS, *NBVAL],
    "full": ["tests", *SOLUTIONS, *NBVAL],
}


def run(part: str, workers: int, extra: list[str], share: str = "on") -> dict:
    """One pytest run; returns its wall time, exit code, outcome line and notebook timing rows."""
    with tempfile.TemporaryDirectory(prefix="bench-") as temporary:
        timings = Path(temporary) / "timings.json"
        command = [sys.executable, "-m", "pytest", "-q", f"--notebook-timings={timings}"]
        command += ["-n", str(workers), "--dist", "loadgroup"] if workers else ["-n", "0"]
        command += PARTS[part] + extra
        environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        environment["COURSE_TEST_SHARE_NBVAL_KERNEL"] = "1" if share == "on" else "0"
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        rows = json.loads(timings.read_text()) if timings.exists() else []
    outcome = re.compile(r"\d+ (passed|failed|errors?|skipped|deselected)\b.* in [\d.]+s|no tests ran")
    summary = next((line for line in reversed(done.stdout.splitlines()) if outcome.search(line)), "")
    return {"part": part, "workers": workers, "share": share, "seconds": seconds, "returncode": done.returncode,
            "summary": summary.strip("= "), "notebooks": rows, "tail": done.stdout[-3000:]}  # fmt: skip


def print_run(result: dict) -> None:
    mode = f"-n {result['workers']}" if result["workers"] else "serial"
    mode += f", handover {result['share']}"
    print(
        f"\n{result['part']:<10} {mode:<7} {result['seconds']:8.1f} s  exit {result['returncode']}  {result['summary']}"
    )
    for row in result["notebooks"]:
        slowest = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in row["slowest"])
        print(f"    {row['notebook']:<38} {row['seconds']:7.1f} s   {slowest}")
    if result["returncode"] not in (0, 5):
        print("    (failures; last lines of the run follow)\n" + result["tail"][-1500:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="fast,full", help=f"comma-separated, from {sorted(PARTS)}")
    parser.add_argument("--modes", default="serial,parallel", help="serial, parallel or both")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--share-kernel", default="on", help="nbval kernel handover: on, off or on,off")
    parser.add_argument("--pytest-args", default="", help='extra pytest arguments, e.g. "-k lab2_functional"')
    arguments = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    results = []
    for part in arguments.parts.split(","):
        by_mode, by_share = {}, {}
        for share in arguments.share_kernel.split(","):
            for mode in arguments.modes.split(","):
                workers = arguments.workers if mode == "parallel" else 0
                result = run(part, workers, shlex.split(arguments.pytest_args), share)
                print_run(result)
                results.append(result)
                by_mode[mode] = result["seconds"]
                by_share[share] = result["seconds"]
        if len(by_mode) == 2:
            ratio = by_mode["parallel"] / by_mode["serial"]
            print(f"==> {part}: -n {arguments.workers} / serial = {ratio:.2f}")
        if len(by_share) == 2:
            saved = by_share["off"] - by_share["on"]
            print(f"==> {part}: handover on / off = {by_share['on'] / by_share['off']:.2f} ({saved:.1f} s saved)")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(result["returncode"] in (0, 5) for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())

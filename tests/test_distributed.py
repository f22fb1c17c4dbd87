"""Grading on a Dask cluster (``autograder.distributed``), offline, on the fixture lab.

One ``LocalCluster`` (2 worker processes, TCP on 127.0.0.1) serves the module: it grades a small class like local
serial grading does, loses a worker in the middle of a grading (the submission is graded again elsewhere and
recorded once), and serves a coordinator that is interrupted and re-run (only what is missing is graded). The
batch-system path is checked by configuration only (the job script dask-jobqueue writes from cluster.yaml); bad
input (unreachable scheduler, a broken cluster.yaml) stops with one line and exit code 2 before any grading.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_autograder import FIXTURE, LAB, LIMITS, POINTS, make_course, submission
from test_autograder_cli import cli, recorded

from autograder import __main__ as autograder_cli
from autograder import course, distributed, report
from autograder.grading import GradingJob

pytestmark = pytest.mark.xdist_group("distributed")
FULL = sum(POINTS.values())
# The first cell sleeps: long enough to kill the worker that runs it, well inside LIMITS' 12 s per cell.
SLOW_MEAN = "import time\ntime.sleep(5)\n\ndef mean(values):\n    return sum(values) / len(values)\n"


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes behind a scheduler on localhost; a client to inspect them."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.scheduler.allowed-failures": distributed.DEFAULT_RETRIES}):
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    client = Client(local)
    yield local, client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def class_course(tmp_path_factory):
    paths = make_course(tmp_path_factory.mktemp("dask-course"))
    paths["class"] = {
        "reference": submission(paths),
        "blank": (paths["release"] / LAB / f"{LAB}.ipynb").read_bytes(),
        "one_wrong": submission(paths, {"count_function": "def count_positive(values):\n    return 0\n"}),
        "exit_kernel": submission(paths, {"scale_function": "import os\nos._exit(3)"}),  # kills its sandbox
    }
    return paths


def write_submissions(folder: Path, class_list: dict[str, bytes]) -> Path:
    for student, blob in class_list.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{LAB}.ipynb").write_bytes(blob)
    return folder


def gradebook(class_course, path: Path) -> Path:
    """A copy of the course's gradebook, made when the lab was released (saves an nbgrader run per test)."""
    shutil.copy(class_course["db"], path)
    return path


def runner_for(cluster, log: list[str], progress: bool = False) -> distributed.DaskRunner:
    address = cluster[0].scheduler_address
    return distributed.DaskRunner(scheduler=address, progress=progress, log=log.append).start()


def gradebook_counts(db: Path) -> tuple[int, int]:
    """(rows in course_results, nbgrader submissions): each submission must be recorded once in both."""
    with sqlite3.connect(db) as connection:
        results = connection.execute("SELECT COUNT(*) FROM course_results").fetchone()[0]
        submitted = connection.execute("SELECT COUNT(*) FROM submitted_assignment").fetchone()[0]
    return results, submitted


def result_lines(log: list[str], student: str) -> list[str]:
    return [line for line in log if line.split()[:2] == [LAB, student]]


# ------------------------------------------------------------------------------------- on a cluster


@pytest.mark.notebook
@pytest.mark.slow
def test_dask_grades_like_local_serial_grading(cluster, class_course, tmp_path, capfd):
    submissions = write_submissions(tmp_path / "submissions", class_course["class"])
    common = dict(solutions=class_course["solutions"], config=LIMITS)
    serial = course.grade_batch(LAB, submissions, workers=1, db=gradebook(class_course, tmp_path / "serial.db"),
                                csv_path=tmp_path / "serial.csv", log=lambda line: None, **common)  # fmt: skip
    log: list[str] = []
    with runner_for(cluster, log, progress=True) as runner:  # the bar on stderr, the log lines still logged
        db = gradebook(class_course, tmp_path / "dask.db")
        graded = course.grade_batch(LAB, submissions, db=db, csv_path=tmp_path / "dask.csv", runner=runner,
                                    log=runner.log, **common)  # fmt: skip

    def outcome(results):
        return {r.student: (r.scores, r.max_scores, r.messages, r.reason, r.problems) for r in results}

    assert outcome(graded) == outcome(serial)
    assert outcome(graded)["reference"][0] == POINTS and outcome(graded)["blank"][0] == dict.fromkeys(POINTS, 0.0)
    assert "exited with code 3" in outcome(graded)["exit_kernel"][3], "a kernel that dies is graded, with why"
    assert (runner.done, runner.failed, runner.retried) == (4, 0, 0), runner.summary()
    assert all(len(result_lines(log, student)) == 1 for student in class_course["class"]), log
    assert "[dask] 4 graded, 0 failed, 0 retried" in log
    progress = capfd.readouterr().err
    assert "grading: 100%" in progress and "done=4 failed=0 retried=0" in progress, progress[-500:]

    def rows(path):
        return sorted((row["student"], row["score"], row["max_score"], row["stopped"], row["problems"])
                      for row in csv.DictReader(path.open()))  # fmt: skip

    assert rows(tmp_path / "dask.csv") == rows(tmp_path / "serial.csv")
    assert gradebook_counts(tmp_path / "dask.db") == (4, 4)
    page = report.write(tmp_path / "dask.db", tmp_path / "report").read_text()
    assert "<td>exit_kernel</td>" in page and "exited with code 3" in page, "the tutor report lists the crash"


@pytest.mark.notebook
@pytest.mark.slow
def test_killed_worker_is_retried_elsewhere_and_recorded_once(cluster, class_course, tmp_path):
    local, client = cluster
    class_list = {"slow": submission(class_course, {"mean_function": SLOW_MEAN}),
                  "reference": class_course["class"]["reference"], "blank": class_course["class"]["blank"]}  # fmt: skip
    submissions = write_submissions(tmp_path / "submissions", class_list)
    db = gradebook(class_course, tmp_path / "gradebook.db")
    log: list[str] = []
    outcome: dict = {}
    runner = runner_for(cluster, log)

    def coordinator():
        try:
            outcome["results"] = course.grade_batch(LAB, submissions, db=db, solutions=class_course["solutions"],
                                                    config=LIMITS, runner=runner, log=runner.log)  # fmt: skip
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    thread = threading.Thread(target=coordinator)
    thread.start()
    key = distributed.task_key(LAB, "slow", hashlib.sha256(class_list["slow"]).hexdigest())

    def executing(dask_worker=None):
        return os.getpid(), [k for k, task in dask_worker.state.tasks.items() if task.state == "executing"]

    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        for pid, keys in client.run(executing).values():
            if key in keys:
                victim = pid
        time.sleep(0.2)
    assert victim, f"never saw {key} running; log:\n" + "\n".join(log)
    time.sleep(2)  # inside the notebook now: its kernel sleeps in the first cell
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=240)
    runner.close()
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    results = {r.student: r for r in outcome["results"]}
    assert sorted(results) == sorted(class_list) and len(outcome["results"]) == len(class_list)
    assert results["slow"].scores == POINTS, results["slow"]
    for student in class_list:
        assert len(result_lines(log, student)) == 1, (student, log)
    assert gradebook_counts(db) == (3, 3)
    assert runner.retried >= 1 and runner.failed == 0, runner.summary()


@pytest.mark.notebook
@pytest.mark.slow
def test_interrupted_coordinator_resumes_without_regrading(cluster, class_course, tmp_path):
    students = [f"student{index}" for index in range(8)]
    # Slow (5 s each) but right answers: after the first results, 2 workers still have about 15 s of grading left,
    # a window for Ctrl-C that a busy CI machine cannot close.
    slow = submission(class_course, {"mean_function": SLOW_MEAN})
    submissions = write_submissions(tmp_path / "submissions", dict.fromkeys(students, slow))
    db = gradebook(class_course, tmp_path / "gradebook.db")
    # --no-canary: each worker's canary (the reference graded first) would eat into the window on a loaded machine.
    args = ["grade", LAB, str(submissions), "--scheduler", cluster[0].scheduler_address, "--db", str(db),
            "--solutions", str(class_course["solutions"]), "--no-canary"]  # fmt: skip
    run = cli(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and run.poll() is None:
        if recorded(db):
            break
        time.sleep(0.2)
    assert run.poll() is None, f"the run ended before it could be interrupted:\n{run.communicate()}"
    run.send_signal(signal.SIGINT)  # Ctrl-C
    stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, (run.returncode, stdout, stderr)
    assert "run the same command again" in stderr
    first = {row["student"]: row["graded_at"] for row in course.load_results(db, LAB)}
    assert 1 <= len(first) < len(students), first

    resumed = cli(*args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(first)} submission(s) unchanged since last grading: skipped" in resumed.stdout
    rows = course.load_results(db, LAB)
    assert sorted(row["student"] for row in rows) == students
    assert all(row["total"] == FULL for row in rows), [(row["student"], row["total"]) for row in rows]
    assert {row["student"]: row["graded_at"] for row in rows if row["student"] in first} == first, "regraded"
    for student in students:
        expected = 0 if student in first else 1
        assert len(result_lines(resumed.stdout.splitlines(), student)) == expected, resumed.stdout
    assert gradebook_counts(db) == (len(students), len(students))


# -------------------------------------------------------------------------------- no cluster needed


def test_submission_that_kills_every_worker_scores_zero_with_a_reason():
    job = GradingJob(LAB, "bomb", b"{}", FIXTURE / LAB)
    result = distributed.killed_worker_result(job, attempts=3)
    assert result.total == 0 and result.max_total == FULL
    assert "killed the grading process 3 time(s)" in result.reason and "--force" in result.problems[0]
    assert result.digest == hashlib.sha256(b"{}").hexdigest(), "recorded: a re-run does not retry it"
    assert result.reason in result.feedback_html or "killed" in result.feedback_html


def test_lab_bundle_carries_the_source_folder_and_a_content_hash(tmp_path):
    bundle = distributed.lab_bundle(LAB, FIXTURE / LAB, LIMITS)
    assert sorted(bundle.files) == [f"{LAB}.ipynb", "numbers.txt"]
    assert bundle.files["numbers.txt"] == (FIXTURE / LAB / "numbers.txt").read_bytes()
    assert distributed.lab_bundle(LAB, FIXTURE / LAB, LIMITS).digest == bundle.digest
    assert distributed.lab_bundle(LAB, FIXTURE / LAB, None).digest != bundle.digest, "the config is part of it"
    changed = tmp_path / LAB
    shutil.copytree(FIXTURE / LAB, changed)
    (changed / "numbers.txt").write_text("5 6\n")
    assert distributed.lab_bundle(LAB, changed, LIMITS).digest != bundle.digest


def test_workers_get_the_coordinators_template_course_as_bytes(tmp_path, monkeypatch):
    """The coordinator builds the template course once (nbgrader generate_assignment, alembic); workers only write it
    out, with a course config of their own machine's paths."""
    template = course.prepare_template(LAB, FIXTURE / LAB, tmp_path / "coordinator", LIMITS)
    bundle = distributed.lab_bundle(LAB, FIXTURE / LAB, LIMITS, template)
    assert "gradebook.db" in bundle.template and f"release/{LAB}/{LAB}.ipynb" in bundle.template
    assert "nbgrader_config.py" not in bundle.template, "it holds the coordinator's paths"
    assert bundle.digest == distributed.lab_bundle(LAB, FIXTURE / LAB, LIMITS).digest

    def no_nbgrader_here(*args, **kwargs):
        raise AssertionError("a worker rebuilt the template")

    monkeypatch.setattr(course, "prepare_template", no_nbgrader_here)
    monkeypatch.setattr(distributed, "_templates", {})
    monkeypatch.setattr(distributed, "_scratch_dir", lambda: tmp_path)
    source_dir, written = distributed.worker_template(bundle)
    assert (written / "gradebook.db").read_bytes() == (template / "gradebook.db").read_bytes()
    config = (written / "nbgrader_config.py").read_text()
    assert str(written) in config and str(template) not in config
    assert (source_dir / "numbers.txt").read_bytes() == (FIXTURE / LAB / "numbers.txt").read_bytes()
    hostile = distributed.LabBundle(LAB, bundle.files, LIMITS, "0" * 64, {"../escape.txt": b"x"})
    with pytest.raises(course.GradingError, match="leaves its folder"):
        distributed.worker_template(hostile)


CLUSTER_YAML = """
queue: grading
account: dl-course
cores: 8
graders: 4
memory: 24GB
walltime: "00:30:00"
course_root: /opt/dl-course
python: .venv/bin/python
job_extra_directives: ["--exclusive"]
job_script_prologue: ["export COURSE_DATA_DIR=/scratch/data"]
"""


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("slurm", ["#SBATCH -p grading", "#SBATCH -A dl-course", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=23G",
                   "#SBATCH -t 00:30:00", "#SBATCH --exclusive", "#SBATCH -J autograder"]),
        ("pbs", ["#PBS -q grading", "#PBS -l select=1:ncpus=8:mem=23GB", "#PBS -l walltime=00:30:00",
                 "#PBS --exclusive"]),
    ],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # the unused scheduler's dashboard port
def test_batch_job_script_comes_from_cluster_yaml(tmp_path, kind, expected):
    (tmp_path / "cluster.yaml").write_text(CLUSTER_YAML)
    options = distributed.load_cluster_config(tmp_path / "cluster.yaml")
    batch = distributed.jobqueue_cluster(kind, options)
    try:
        script = batch.job_script()
    finally:
        batch.close()
    for line in expected:
        assert line in script.splitlines(), (line, script)
    assert "/opt/dl-course/.venv/bin/python -m distributed.cli.dask_worker" in script, "the course's python"
    assert "--nthreads 1" in script and "--nworkers 4" in script, "one submission per worker process"
    assert "cd /opt/dl-course" in script and "export PYTHONPATH=/opt/dl-course" in script
    assert "export COURSE_DATA_DIR=/scratch/data" in script


def test_committed_cluster_yaml_is_valid():
    options = distributed.load_cluster_config(distributed.CLUSTER_YAML)
    assert options["queue"] and options["graders"] <= options["cores"]
    text = distributed.CLUSTER_YAML.read_text()
    for key in distributed.CLUSTER_KEYS:  # every key is documented by a comment right above it
        before = text.split(f"\n{key}:", 1)[0]
        assert before.rstrip().splitlines()[-1].startswith("#"), f"{key} has no comment"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("where", "yaml_text", "message"),
    [
        ("scheduler", None, "cannot reach the Dask scheduler at tcp://127.0.0.1:"),
        ("slurm", CLUSTER_YAML + "quue: typo\n", "unknown key(s) 'quue'"),
        ("slurm", CLUSTER_YAML.replace("queue: grading\n", ""), "'queue' is missing"),
        ("slurm", CLUSTER_YAML.replace("24GB", "lots"), "memory 'lots' is not a size"),
        ("slurm", CLUSTER_YAML, "`sbatch` not found"),
    ],
)
def test_bad_cluster_input_stops_before_grading(tmp_path, capsys, where, yaml_text, message):
    import dask

    if message.startswith("`sbatch`") and shutil.which("sbatch"):
        pytest.skip("sbatch is installed here")
    db = tmp_path / "gradebook.db"
    db.write_bytes(b"the course gradebook")
    submissions = write_submissions(tmp_path / "submissions", {"ann": b"{}"})
    args = ["grade", LAB, str(submissions), "--db", str(db), "--solutions", str(FIXTURE)]
    if where == "scheduler":
        args += ["--scheduler", f"tcp://127.0.0.1:{free_port()}"]
    else:
        (tmp_path / "cluster.yaml").write_text(yaml_text)
        args += ["--cluster", where, "--cluster-config", str(tmp_path / "cluster.yaml")]
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        code = autograder_cli.main(args)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err
    assert db.read_bytes() == b"the course gradebook", "the gradebook is untouched"
    written = {path.name for path in tmp_path.iterdir()} - {"gradebook.db", "submissions", "cluster.yaml"}
    assert not written, f"nothing is graded, nothing written: {written}"

"""Grading on a Dask cluster (issue #11): the same sandboxed grading as ``--workers N``, spread over many machines.

    python -m autograder grade lab1_sequence SUBMISSIONS --scheduler tcp://host:8786   # an existing cluster
    python -m autograder grade lab1_sequence SUBMISSIONS --cluster slurm --jobs 4     # start one (cluster.yaml)
    python -m autograder grade lab1_sequence SUBMISSIONS --cluster local --workers 4  # Dask on this machine

- What travels (no shared file system is assumed): a grading task carries one submission's bytes (lab, student,
  notebook). The lab's source folder and the nbgrader template course the coordinator built from it (gradebook and
  release, ``grading.prepare_template``) travel as a ``LabBundle`` (every file's bytes, the config overrides, a
  content hash) in a task of its own that the grading tasks depend on: Dask copies it to each worker once, and
  recomputes it if the worker holding it dies. A worker writes the bundle to its scratch folder once per content
  hash (``worker_template``; no nbgrader or alembic run there), grades the lab's reference answers once (the canary,
  ``batch.check_canary``: a worker whose environment cannot give them full marks stops the batch with
  ``CanaryFailed``), then grades with ``grading.grade_job``: the same
  code, sandbox and limits as local grading. The task returns the ``GradeResult``, plain data.
- Faults: when a worker dies, the scheduler runs its task elsewhere, up to ``retries`` more times (the scheduler's
  ``allowed-failures`` on a cluster we start; a task that raises gets ``retries=`` more attempts as well). A
  submission that kills its sandboxed kernel is graded (0 for what did not run, with the reason) and never retried;
  one that takes its worker down every time ends as a 0-with-reason result (``KilledWorker``) for a tutor to look at.
  Task keys are deterministic (lab, student, content hash) and the runner yields each key once, so each submission
  is recorded once.
- Single writer: workers never touch the gradebook. ``batch.grade_labs`` on the coordinator records each result as
  it arrives (one committed transaction), so Ctrl-C or a crash loses only the submissions in flight, and re-running
  the same command skips what is recorded (same content hash) and grades the rest.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from autograder import batch, grading
from autograder.errors import CanaryFailed, GradingError
from autograder.grading import GradeResult, GradingJob
from autograder.paths import AUTOGRADER_DIR, ROOT

CLUSTER_YAML = AUTOGRADER_DIR / "cluster.yaml"
DEFAULT_RETRIES = 2
SUBMIT_COMMANDS = {"slurm": "sbatch", "pbs": "qsub", "sge": "qsub", "lsf": "bsub"}
CLUSTER_KINDS = ("local", *SUBMIT_COMMANDS)
# A LocalCluster shares the tutor's few cores with the kernels it grades, and Dask's own timers then cost more than
# its scheduling: every server checks its event loop every 20 ms, every worker samples its own stack every 10 ms
# and polls system and memory figures. Idle, a 2-worker cluster used 8 % of a core with the defaults and 1 % with
# these (benchmarks/bench_grading.py has the figures under load). Nothing here grades differently.
LOCAL_CLUSTER_CONFIG = {
    "distributed.admin.tick.interval": "1s",  # event-loop health check (default 20 ms, in every server)
    "distributed.worker.profile.enabled": False,  # the dashboard's statistical profiler (samples every 10 ms)
    "distributed.admin.system-monitor.interval": "2s",  # CPU/memory/network figures for the dashboard (500 ms)
}
# cluster.yaml: key -> (default, accepted types). ``queue`` has no default; autograder/cluster.yaml explains each key.
CLUSTER_KEYS: dict[str, tuple[object, tuple[type, ...]]] = {
    "queue": (None, (str,)),
    "account": (None, (str, type(None))),
    "cores": (32, (int,)),
    "graders": (16, (int,)),
    "memory": ("64GB", (str,)),
    "walltime": ("02:00:00", (str, int)),
    "course_root": (None, (str, type(None))),
    "python": (".venv/bin/python", (str,)),
    "local_directory": (None, (str, type(None))),
    "interface": (None, (str, type(None))),
    "job_extra_directives": ([], (list,)),
    "job_script_prologue": ([], (list,)),
    "log_directory": (None, (str, type(None))),
}
CLUSTER_DEFAULTS = {key: default for key, (default, _) in CLUSTER_KEYS.items()}


# ------------------------------------------------------------------------------------- what travels


@dataclass(frozen=True)
class LabBundle:
    """A lab's source folder as bytes (``{relative path: bytes}``), the config overrides and their content hash;
    with the template course built from them (``grading.prepare_template``) when the coordinator has one."""

    lab: str
    files: dict[str, bytes]
    config: dict | None
    digest: str
    template: dict[str, bytes] = field(default_factory=dict)  # without nbgrader_config.py (the coordinator's paths)
    canary: bool = True  # grade the reference answers once per worker before the first submission


def lab_bundle(
    lab: str, source_dir: Path, config: dict | None = None, template: Path | None = None, canary: bool = True
) -> LabBundle:
    """What a worker needs to grade ``lab``, read from ``source_dir`` (``solutions/<lab>``) and ``template``."""
    files = _read_tree(Path(source_dir))
    course_files = _read_tree(Path(template), skip="nbgrader_config.py") if template is not None else {}
    if f"{lab}.ipynb" not in files:
        raise GradingError(f"{source_dir}: no {lab}.ipynb to grade against")
    content = hashlib.sha256(json.dumps([lab, config], sort_keys=True, default=repr).encode())
    for name, blob in files.items():
        content.update(f"\0{name}\0{hashlib.sha256(blob).hexdigest()}".encode())
    return LabBundle(lab, files, config, content.hexdigest(), course_files, canary)


def _read_tree(folder: Path, skip: str = "") -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".ipynb_checkpoints" not in path.parts and path.relative_to(folder).as_posix() != skip
    }


def _write_tree(folder: Path, files: dict[str, bytes], what: str) -> None:
    for name, blob in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise GradingError(f"{what}: file name {name!r} leaves its folder")
        path = folder.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob)


def task_key(lab: str, student: str, digest: str) -> str:
    """The same submission always gets the same key: the scheduler never runs it twice for one client."""
    return f"grade-{lab}-{student}-{digest[:16]}"


# ----------------------------------------------------------------------------------- on the worker

_templates: dict[str, tuple[Path, Path]] = {}  # bundle digest -> (source folder, template course), per process
_one_grading_at_a_time = threading.Lock()  # nbgrader changes the working directory: one grading per process


def _scratch_dir() -> Path:
    """The Dask worker's local directory (removed with the worker), or a temporary folder outside Dask."""
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory)
    except (ImportError, ValueError):  # not inside a Dask worker
        folder = Path(tempfile.mkdtemp(prefix="autograder-templates-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder


def worker_template(bundle: LabBundle) -> tuple[Path, Path]:
    """The lab's source folder and template course on this worker, written from the bundle once per content hash
    (built here only when the bundle carries no template)."""
    cached = _templates.get(bundle.digest)
    if cached and cached[1].is_dir():
        return cached
    root = Path(tempfile.mkdtemp(prefix=f"template-{bundle.lab}-{bundle.digest[:12]}-", dir=_scratch_dir()))
    source_dir = root / "source" / bundle.lab
    _write_tree(source_dir, bundle.files, f"lab bundle {bundle.lab}")
    if bundle.template:
        template = root / "course"
        _write_tree(template, bundle.template, f"lab bundle {bundle.lab} (template course)")
        grading.write_course_config(template, bundle.config)  # this machine's paths
    else:
        template = grading.prepare_template(bundle.lab, source_dir, root / "course", bundle.config)
    _templates[bundle.digest] = (source_dir, template)
    return source_dir, template


def deliver(bundle: LabBundle) -> LabBundle:
    """The bundle's own task: its result lives on a worker, and Dask copies it to the workers that grade."""
    return bundle


def grade_task(bundle: LabBundle, job: GradingJob) -> GradeResult:
    """Grade one submission (``job``: lab, student, notebook_bytes; no paths) on a worker; only data goes back."""
    from autograder import sandbox

    with _one_grading_at_a_time:
        wanted = (bundle.config or {}).get("SandboxedKernelManager.require_sandbox")
        available, why = sandbox.sandbox_status()
        if wanted and not available:  # the worker's problem, not the student's: raise, so nothing is recorded
            raise sandbox.SandboxUnavailable(f"worker {os.uname().nodename}: {why}")
        source_dir, template = worker_template(bundle)
        if bundle.canary:  # once per worker process and bundle: the result is kept
            try:
                batch.check_canary(batch.canary_job(bundle.lab, source_dir, template, bundle.config), bundle.digest)
            except CanaryFailed as error:
                raise CanaryFailed(f"worker {os.uname().nodename}: {error}") from None
        return grading.grade_job(
            dataclasses.replace(job, source_dir=source_dir, template=template, config=bundle.config)
        )


def killed_worker_result(job: GradingJob, attempts: int) -> GradeResult:
    """0 with a reason for a submission whose grading took down its worker process every time it was tried."""
    source = nbformat.read(Path(job.source_dir) / f"{job.lab}.ipynb", as_version=4)
    points = {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
        for cell in source.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
    }
    reason = f"grading this submission killed the grading process {attempts} time(s) (memory? a crash?)"
    result = GradeResult(job.student, job.lab, scores=dict.fromkeys(points, 0.0), max_scores=points,
                                problems=[f"{reason}: not retried again; check it, then regrade with --force"],
                                reason=reason, digest=job.digest)  # fmt: skip
    result.feedback_html = grading.fallback_feedback(result)
    return result


# -------------------------------------------------------------------------------------- cluster.yaml


def load_cluster_config(path: Path = CLUSTER_YAML) -> dict:
    """cluster.yaml, checked: unknown keys, a missing queue, wrong types are one-line ``GradingError``s."""
    import yaml
    from dask.utils import parse_bytes

    path = Path(path)
    if not path.is_file():
        raise GradingError(f"{path}: no such cluster configuration (see autograder/cluster.yaml)")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise GradingError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(loaded, dict):
        raise GradingError(f"{path}: expected keys and values (queue: ..., cores: ...), got {type(loaded)}")
    unknown = sorted(set(loaded) - set(CLUSTER_KEYS))
    if unknown:
        raise GradingError(f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
                                  f"known keys: {', '.join(CLUSTER_KEYS)}")  # fmt: skip
    options = {**CLUSTER_DEFAULTS, **loaded}
    if not options["queue"]:
        raise GradingError(f"{path}: 'queue' is missing: name the batch queue (SLURM partition) to grade on")
    for key, (_, types) in CLUSTER_KEYS.items():
        value = options[key]
        if not isinstance(value, types) or isinstance(value, bool):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise GradingError(f"{path}: {key} must be {names}, got {value!r}")
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            raise GradingError(f"{path}: {key} must be a list of strings, got {value!r}")
    for key in ("cores", "graders"):
        if options[key] < 1:
            raise GradingError(f"{path}: {key} must be at least 1, got {options[key]}")
    if options["graders"] > options["cores"]:
        raise GradingError(f"{path}: graders ({options['graders']}) > cores ({options['cores']})")
    try:
        parse_bytes(options["memory"])
    except (ValueError, TypeError) as error:
        raise GradingError(f"{path}: memory {options['memory']!r} is not a size like 64GB") from error
    if isinstance(options["walltime"], int):  # YAML reads an unquoted 02:00:00 as seconds (base 60)
        hours, rest = divmod(options["walltime"], 3600)
        options["walltime"] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if not re.fullmatch(r"(\d+-)?\d+(:\d\d){0,2}", options["walltime"]):
        raise GradingError(f'{path}: walltime {options["walltime"]!r} is not like "02:00:00"')
    return options


def jobqueue_cluster(kind: str, options: dict):
    """A dask-jobqueue cluster (not started: ``.scale(jobs=J)`` submits) from checked cluster.yaml options."""
    import dask_jobqueue
    from dask.utils import parse_bytes

    root = options["course_root"] or str(ROOT)
    python = options["python"] if os.path.isabs(options["python"]) else f"{root.rstrip('/')}/{options['python']}"
    prologue = [f"cd {shlex.quote(root)}", f"export PYTHONPATH={shlex.quote(root)}${{PYTHONPATH:+:$PYTHONPATH}}",
                "export TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0", *options["job_script_prologue"]]  # fmt: skip
    graders, cores = options["graders"], options["cores"]
    common = dict(
        queue=options["queue"],
        cores=graders,  # Dask threads per job: one per worker process (cores are booked below, per system)
        processes=graders,
        memory=options["memory"],
        walltime=options["walltime"],
        python=python,
        job_name="autograder",
        job_extra_directives=list(options["job_extra_directives"]),
        job_script_prologue=prologue,
        local_directory=options["local_directory"],
        interface=options["interface"],
        log_directory=options["log_directory"],
        scheduler_options={"interface": options["interface"]} if options["interface"] else {},
    )
    account = options["account"]
    if kind == "slurm":
        return dask_jobqueue.SLURMCluster(account=account, job_cpu=cores, **common)
    if kind == "pbs":
        from dask_jobqueue.pbs import pbs_format_bytes_ceil

        memory = pbs_format_bytes_ceil(parse_bytes(options["memory"]))
        return dask_jobqueue.PBSCluster(account=account, resource_spec=f"select=1:ncpus={cores}:mem={memory}", **common)
    if kind == "lsf":
        return dask_jobqueue.LSFCluster(project=account, ncpus=cores, **common)
    if kind == "sge":  # the cores are booked by a site-specific parallel environment: job_extra_directives
        return dask_jobqueue.SGECluster(project=account, **common)
    raise ValueError(f"unknown batch system {kind!r}")


# ------------------------------------------------------------------------------------ the coordinator


def _retry_probe(keys: list[str]):
    """A function for ``Client.run_on_scheduler``: per key, (worker deaths while it ran, retries left)."""

    def probe(dask_scheduler=None):
        found = {}
        for key in keys:
            task = dask_scheduler.tasks.get(key)
            if task is not None:
                found[key] = (task.suspicious, task.retries)
        return found

    return probe


class DaskRunner:
    """Grades ``batch.grade_labs`` jobs on a Dask cluster and yields each ``GradeResult`` once, as it arrives.

    ``DaskRunner(scheduler="tcp://host:8786")`` uses a running cluster; ``DaskRunner(cluster="slurm", jobs=4)``
    starts one from cluster.yaml (``"local"``: ``workers`` processes here). ``start()`` connects (and raises a
    one-line ``GradingError`` when it cannot, before anything is graded); ``close()`` closes what it started.
    """

    def __init__(self, scheduler: str | None = None, cluster: str | None = None, jobs: int = 1, workers: int = 2,
                 cluster_config: Path = CLUSTER_YAML, retries: int = DEFAULT_RETRIES, progress: bool | None = None,
                 log=print, connect_timeout: float | None = None, canary: bool = True):  # fmt: skip
        if (scheduler is None) == (cluster is None):
            raise GradingError("give either a scheduler address or a cluster kind")
        if cluster is not None and cluster not in CLUSTER_KINDS:
            raise GradingError(f"--cluster {cluster!r}: expected one of {', '.join(CLUSTER_KINDS)}")
        if retries < 0 or jobs < 1 or workers < 1:
            raise GradingError("--retries must be >= 0, --jobs and --workers >= 1")
        self.scheduler, self.kind, self.jobs, self.workers = scheduler, cluster, jobs, workers
        self.cluster_config, self.retries, self.progress = Path(cluster_config), retries, progress
        self.connect_timeout = connect_timeout
        self.canary = canary
        self.sink = log
        self.client = None
        self.cluster = None
        self.done = self.failed = self.retried = 0
        self.not_recorded: list[str] = []
        self._bar = None
        self._attempts: dict[str, int] = {}
        self._probe_works = True
        self._warned_unsandboxed = False

    # ------------------------------------------------------------------------------- connection

    def start(self) -> DaskRunner:
        import dask
        from distributed import Client

        if self.scheduler is not None:
            if not re.match(r"^[a-z]+://", self.scheduler):
                raise GradingError(f"--scheduler {self.scheduler!r}: expected an address like tcp://host:8786")
            try:
                timeout = {} if self.connect_timeout is None else {"timeout": self.connect_timeout}
                self.client = Client(self.scheduler, **timeout)  # default: distributed.comm.timeouts.connect
            except (OSError, TimeoutError, ValueError) as error:
                detail = " ".join(str(error).split())[:200]
                hint = "is `dask scheduler` running there, and the port open?"
                raise GradingError(f"cannot reach the Dask scheduler at {self.scheduler} ({detail}); {hint}") from error
        else:
            quiet = LOCAL_CLUSTER_CONFIG if self.kind == "local" else {}
            with dask.config.set({"distributed.scheduler.allowed-failures": self.retries, **quiet}):
                self.cluster = self._start_cluster()
            self.client = Client(self.cluster)
        self.log(f"[dask] scheduler {self.client.scheduler.address}; dashboard: {self._dashboard()}")
        threads = self.client.nthreads()
        if not threads:
            self.log("[dask] no workers yet: grading starts as soon as they connect")
        elif max(threads.values()) > 1:
            self.log("[dask] some workers have several threads but grade one submission at a time (nbgrader "
                     "changes the working directory): start them with `dask worker ... --nthreads 1`")  # fmt: skip
        return self

    def _start_cluster(self):
        if self.kind == "local":
            from distributed import LocalCluster

            # Its kernels share the cores as with local --workers.
            # memory_limit=0: no spilling, pausing or restarts by memory (tasks hold no data; the sandbox caps each
            # kernel's memory), and no 100 ms memory monitor.
            return LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                dashboard_address=":0" if _has_dashboard() else None, silence_logs=logging.ERROR,
                                env=batch.kernel_thread_env(self.workers), memory_limit=0)  # fmt: skip
        options = load_cluster_config(self.cluster_config)
        submit = SUBMIT_COMMANDS[self.kind]
        if shutil.which(submit) is None:
            raise GradingError(f"--cluster {self.kind}: `{submit}` not found: run this on a login node of "
                                      f"the {self.kind.upper()} cluster")  # fmt: skip
        cluster = jobqueue_cluster(self.kind, options)
        cluster.scale(jobs=self.jobs)
        self.log(f"[dask] submitted {self.jobs} {self.kind.upper()} job(s) to queue {options['queue']!r}: "
                 f"{options['graders']} grader(s) and {options['cores']} cores each")  # fmt: skip
        return cluster

    def _dashboard(self) -> str:
        try:
            link = self.client.dashboard_link if "dashboard" in self.client.scheduler_info()["services"] else None
        except (KeyError, AttributeError, TypeError):
            link = None
        return link or "not available (it needs bokeh on the scheduler's machine)"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        for closable in (self.client, self.cluster):
            if closable is not None:
                try:
                    closable.close()
                except Exception as error:  # closing must not hide why we are closing
                    self.sink(f"[dask] while closing: {type(error).__name__}: {error}")
        self.client = self.cluster = None

    def __enter__(self) -> DaskRunner:
        return self if self.client is not None else self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- grading

    def log(self, message: str) -> None:
        """Log above the progress bar (pass it as ``log=`` to ``batch.grade_labs``)."""
        if self._bar is not None and not self._bar.disable:
            with self._bar.external_write_mode():  # clears the bar, writes, redraws it
                self.sink(message)
        else:
            self.sink(message)

    def summary(self) -> str:
        line = f"[dask] {self.done} graded, {self.failed} failed, {self.retried} retried"
        if self.not_recorded:
            line += f"; not recorded (re-run to retry): {', '.join(self.not_recorded)}"
        return line

    def __call__(self, jobs: list[GradingJob]) -> Iterator[GradeResult]:
        """``batch.grade_labs``'s runner: submit every job, yield the results in the order they finish."""
        if not jobs:
            return
        if self.client is None:
            self.start()
        from distributed import KilledWorker, as_completed
        from tqdm import tqdm

        client = self.client
        bundles: dict[tuple, object] = {}
        submitted: dict[str, tuple[object, dict]] = {}
        for job in jobs:
            source = (job.lab, str(job.source_dir), json.dumps(job.config, sort_keys=True, default=repr))
            if source not in bundles:
                bundle = lab_bundle(job.lab, job.source_dir, job.config, job.template, self.canary)
                bundles[source] = client.submit(deliver, bundle, key=f"lab-bundle-{bundle.lab}-{bundle.digest[:16]}")
            payload = GradingJob(job.lab, job.student, job.notebook_bytes)  # the worker has its own paths
            key = task_key(job.lab, job.student, job.digest)
            if key not in submitted:
                future = client.submit(grade_task, bundles[source], payload, key=key, retries=self.retries)
                submitted[key] = (future, job)
        self._bar = tqdm(total=len(submitted), desc="grading", unit="submission", dynamic_ncols=True,
                         disable=not sys.stderr.isatty() if self.progress is None else not self.progress)  # fmt: skip
        pending = as_completed([future for future, _ in submitted.values()])
        last_probe = time.monotonic()
        try:
            while not pending.is_empty():
                ready = pending.next_batch(block=False)
                if not ready:
                    if time.monotonic() - last_probe > 2:
                        self._probe(list(submitted))
                        last_probe = time.monotonic()
                    time.sleep(0.1)
                    continue
                self._probe([future.key for future in ready])
                for future in ready:
                    future_and_job = submitted.pop(future.key, None)
                    if future_and_job is None:  # already handled: a key is recorded once
                        continue
                    result = self._result(future, future_and_job[1], KilledWorker)
                    self._bar.set_postfix_str(f"done={self.done} failed={self.failed} retried={self.retried}")
                    self._bar.update(1)
                    if result is not None:
                        yield result
        finally:
            if submitted:  # interrupted: the cluster stops working for us
                try:
                    client.cancel([future for future, _ in submitted.values()])
                except Exception:  # the connection may be what failed
                    pass
            self._bar.close()
            self._bar = None
            self.log(self.summary())

    def _result(self, future, job: dict, killed_worker: type) -> GradeResult | None:
        name = f"{job.lab} {job.student}"
        if future.status == "finished":
            result = future.result()
            self.done += 1
            if result.sandbox.startswith("UNSANDBOXED") and not self._warned_unsandboxed:
                self._warned_unsandboxed = True
                self.log(f"[sandbox] a worker graded WITHOUT the sandbox: {result.sandbox}")
            return result
        if future.status == "cancelled":
            raise GradingError("the Dask cluster dropped the grading tasks (scheduler restarted or connection "
                                      "lost); re-run the same command to grade what is missing")  # fmt: skip
        error = future.exception()
        if isinstance(error, CanaryFailed):  # this cluster's environment cannot grade the lab: stop
            raise error
        self.failed += 1
        if isinstance(error, killed_worker):
            attempts = error.allowed_failures + 1
            self.log(f"[failed] {name}: its worker died {attempts} time(s): recorded as 0 with the reason")
            return killed_worker_result(job, attempts)
        self.not_recorded.append(name)
        self.log(f"[failed] {name}: {type(error).__name__}: {' '.join(str(error).split())[:300]} (not recorded)")
        return None

    def _probe(self, keys: list[str]) -> None:
        """Count retries: worker deaths while a task ran (``suspicious``) plus ``retries=`` used up by errors."""
        if not self._probe_works or not keys:
            return
        try:
            found = self.client.run_on_scheduler(_retry_probe(keys))
        except Exception:  # a scheduler that refuses to run functions: no retry count, grading goes on
            self._probe_works = False
            return
        for key, (deaths, retries_left) in found.items():
            used = deaths + (self.retries - retries_left if retries_left is not None else 0)
            self._attempts[key] = max(self._attempts.get(key, 0), used)
        self.retried = sum(self._attempts.values())


def _has_dashboard() -> bool:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True

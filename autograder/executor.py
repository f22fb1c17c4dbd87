"""nbgrader's Execute, hardened for untrusted notebooks: sandboxed kernel, limits, test cells outside it, crashes.

``GuardedExecute`` replaces ``Execute`` in ``Autograde.autograde_preprocessors`` (see ``nbgrader_config.py``):

- the kernel is a ``SandboxedKernelManager`` kernel (``autograder.sandbox``) unless ``sandbox = False``;
- per cell: wall time (nbgrader's ``Execute.timeout``; the cell is interrupted, and the kernel killed when it
  ignores the interrupt), CPU time (soft ``RLIMIT_CPU`` moved on before each cell); per notebook: wall time
  (``notebook_timeout``), CPU time and memory (hard rlimits set by the sandbox launcher);
- output: a cell keeps at most ``cell_output_bytes``; beyond ``notebook_output_bytes`` the kernel is killed;
- when the kernel dies (``os._exit``, segfault, a limit), that cell gets an error output saying why and every
  later code cell an error saying it did not run, so they score 0 and the notebook is still graded (stock
  nbgrader gives up on the whole notebook);
- a graded test cell (grade cell, not a solution cell) never runs in the student's kernel: its source (restored
  from the gradebook by nbgrader) runs in this worker's trusted test process (``autograder.trusted``) while the
  kernel serves the data-only channel (``autograder.channel``); the cell's outputs are the test's own output and,
  on failure, one error whose message is the check's message. Whatever student code prints during a test is
  discarded, and nothing the kernel replies (or forges) counts: only the trusted process's verdict does.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import tempfile
import time

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Integer, List, Unicode

from autograder import sandbox, trusted

SIGNAL_REASONS = {
    signal.SIGXCPU: "it used more CPU time than allowed",
    signal.SIGKILL: "it was killed (out of memory, or a hard limit was reached)",
    signal.SIGSEGV: "it crashed with a segmentation fault",
    signal.SIGABRT: "it aborted",
    signal.SIGBUS: "it crashed (bus error)",
    signal.SIGFPE: "it crashed (floating-point exception)",
    signal.SIGXFSZ: "it wrote a file larger than allowed",
}


class GuardedExecute(Execute):
    """Execute a student notebook in a sandboxed kernel, its test cells in the trusted test process, with limits
    and per-cell crash handling."""

    sandbox = Bool(True, help="Run kernels with autograder.sandbox.SandboxedKernelManager").tag(config=True)
    notebook_timeout = Integer(1200, help="Wall-clock seconds for the whole notebook").tag(config=True)
    cell_cpu_timeout = Integer(600, help="CPU seconds per cell (soft RLIMIT_CPU, all threads)").tag(config=True)
    cell_output_bytes = Integer(1_000_000, help="Output a cell keeps; the rest is dropped").tag(config=True)
    notebook_output_bytes = Integer(50_000_000, help="Output beyond this kills the kernel").tag(config=True)
    iopub_timeout = Integer(
        10, help="Seconds a cell's output may lag its reply; also how long an interrupted cell has to stop"
    ).tag(config=True)
    source_directory = Unicode(
        "", help="Folder of source notebooks (<folder>/<assignment>/<notebook>.ipynb); default: the course's"
    ).tag(config=True)
    trusted_modules = List(
        Unicode(),
        list(trusted.TRUSTED_MODULES),
        help="Modules (or packages) whose names, as the locked cells import them, test cells use from the trusted "
        "process's own imports instead of the student's namespace",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox:
            self.kernel_manager_class = sandbox.SandboxedKernelManager

    # ----------------------------------------------------------------------------------- the notebook

    def preprocess(self, nb, resources=None, km=None):
        self._stop_reason: str | None = None
        self._kill_reason: str | None = None
        self._channel_folder: str | None = None
        self._notebook_output = 0
        self._current_is_test = False
        self._cell_output = 0
        self._output_truncated = False
        self._deadline = time.monotonic() + self.notebook_timeout
        self._source = self._source_notebook(resources)
        if self._source is None:
            self.log.warning("no source notebook found: names that locked cells assign resolve in the student's kernel")
        source_nb = _read_notebook(self._source) if self._source else None
        self._names = trusted.course_imports(source_nb or nb, self.trusted_modules)
        self._trusted_cpu = None
        try:  # imports the course's modules (TensorFlow) and runs the locked set-up cells while the kernel starts
            process = trusted.shared_process()
            process.send({"op": "prepare", "preset": self._names, "notebook": self._source})
            self._trusted_cpu = process.cpu_seconds()
        except OSError as error:
            self.log.error("trusted test process did not start: %s", error)
        self.error_on_timeout = {
            "ename": "CellTimeoutError",
            "evalue": f"this cell ran longer than the limit of {self.timeout} s per cell and was interrupted",
            "traceback": [f"CellTimeoutError: this cell ran longer than the limit of {self.timeout} s per cell"],
        }
        if self.sandbox:
            available, why = sandbox.sandbox_status()
            level = self.log.info if available else self.log.error
            level("%s: %s", "sandbox" if available else "SANDBOX UNAVAILABLE, grading WITHOUT isolation", why)
        try:
            return super().preprocess(nb, resources, km)
        except UnresponsiveKernelError:
            raise
        except DeadKernelError as error:  # died outside a cell (start-up): nothing could run
            raise UnresponsiveKernelError(f"the kernel died before the notebook could run: {error}") from error
        finally:
            if self._channel_folder is not None:
                shutil.rmtree(self._channel_folder, ignore_errors=True)
            if self._trusted_cpu is not None:
                used = trusted.shared_process().cpu_seconds() - self._trusted_cpu
                self.log.info("trusted test process: %.2f CPU s for this notebook", max(0.0, used))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        self._current_is_test = utils.is_grade(cell)
        if self._stop_reason is None and time.monotonic() > self._deadline:
            self._kill(f"the notebook ran longer than its limit of {self.notebook_timeout} s")
            self._stop_reason = self._kill_reason
        if self._stop_reason is not None:
            cell.outputs = [_error("NotRun", f"this cell did not run: {self._stop_reason}")]
            return cell, resources
        profile = _CellProfile(self._launcher_process(), cell)
        try:
            self._cell_output = 0
            self._output_truncated = False
            self._set_cpu_budget()
            if self._current_is_test and not utils.is_solution(cell):
                run_sync(self._async_run_test_cell)(cell, index)
                profile.write("test")
                return cell, resources
            cell, resources = super().preprocess_cell(cell, resources, index)
            profile.write("kernel")
        except DeadKernelError:
            self._stop_reason = self._death_reason()
            cell.outputs.append(
                _error("KernelDied", f"the kernel stopped while running this cell: {self._stop_reason}")
            )
        except CellTimeoutError:  # no answer to the interrupt within iopub_timeout
            if self._kernel_exited():  # e.g. its CPU budget ran out while it handled the interrupt
                self._stop_reason = self._death_reason()
                cell.outputs.append(
                    _error("KernelDied", f"the kernel stopped while running this cell: {self._stop_reason}")
                )
            else:
                self._kill(
                    f"a cell ignored the interrupt at its {self.timeout} s limit (no answer in {self.iopub_timeout} s)"
                )
                self._stop_reason = self._kill_reason
                cell.outputs.append(_error("CellTimeoutError", f"this cell did not finish: {self._stop_reason}"))
        return cell, resources

    # ---------------------------------------------------------------------------------- test cells

    def _source_notebook(self, resources) -> str | None:
        """The lab's SOURCE notebook (never the submission): its locked cells are run in the trusted process.

        ``source_directory`` or else the course's (``CourseDirectory.root``/``source_directory``, as both grading
        paths set it) and ``SkipDemoCells.source_directory``."""
        info = (resources or {}).get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        if not assignment or not notebook:
            return None
        folders = [self.source_directory]
        course = self.config.get("CourseDirectory", {})
        if course.get("source_directory"):
            folders.append(os.path.join(course.get("root") or os.getcwd(), course["source_directory"]))
        folders.append(self.config.get("SkipDemoCells", {}).get("source_directory", ""))
        for folder in filter(None, folders):
            path = os.path.join(folder, assignment, f"{notebook}.ipynb")
            if os.path.isfile(path):
                return os.path.realpath(path)
        return None

    def _log_locked(self, summary: dict | None) -> None:
        if not summary:
            return
        if summary.get("failed"):
            self.log.error("locked cells that failed in the trusted process (their names resolve in the student's "
                           "kernel): %s", summary["failed"])  # fmt: skip
        self.log.info("trusted process: %d locked cells run (%s), %.2f CPU s; names bound for the tests: %s",
                      len(summary.get("computed", [])), "cached" if summary.get("cached") else "computed",
                      summary.get("seconds", 0.0), ", ".join(summary.get("names", [])) or "none")  # fmt: skip

    def _channel_dir(self) -> str:
        """Where the channel's socket goes: the kernel's private socket folder (bound into the sandbox)."""
        folder = getattr(self.km, "socket_dir", None)
        if folder is not None:
            return str(folder)
        if self._channel_folder is None:
            self._channel_folder = tempfile.mkdtemp(prefix="course-channel-")
        return self._channel_folder

    async def _async_run_test_cell(self, cell: NotebookNode, index: int) -> None:
        """Run a graded test cell in the trusted process while the kernel serves the channel; write its outputs."""
        cell.outputs = []
        folder = self._channel_dir()
        token = secrets.token_hex(16)
        request = {"op": "run", "source": cell.source, "socket": os.path.join(folder, f"test-{index}.sock"),
                   "token": token, "timeout": self.timeout, "preset": self._names, "shared_root": folder,
                   "notebook": self._source, "grade_id": _grade_id(cell)}  # fmt: skip
        result = None
        try:
            process = trusted.shared_process()
            process.send(request)
            answer = process.read(300)
            while answer is not None and "ready" in answer:  # the notebook's prepare request
                self._log_locked(answer.get("locked"))
                answer = process.read(300)
        except (OSError, EOFError) as error:
            answer = {"error": ["TrustedProcessError", str(error)]}
        if answer != {"listening": True}:
            trusted.discard_shared_process()
            detail = (answer or {}).get("error") or ["TrustedProcessError", "no answer"]
            self.log.error("trusted test process failed on %s: %s", _grade_id(cell), detail)
            cell.outputs.append(_error("GradingError", f"the grader could not run this test ({detail[1]})"))
            return
        message_id = self.kc.execute(trusted.serve_line(request["socket"], token), store_history=False,
                                     allow_stdin=False, stop_on_error=False)  # fmt: skip
        deadline = time.monotonic() + self.timeout + 5
        next_check = time.monotonic() + 1
        while result is None and self._kill_reason is None and time.monotonic() < deadline:
            try:
                result = process.read(0.05)
            except (OSError, EOFError):
                break
            await self._discard_iopub()
            if result is None and time.monotonic() > next_check:
                next_check = time.monotonic() + 1
                if not await ensure_async(self.km.is_alive()):
                    break
        if result is None:  # it hung (or died): a fresh trusted process for the next test
            trusted.discard_shared_process()
        if not await self._serve_finished(message_id):
            if self._kill_reason is None and await ensure_async(self.km.is_alive()):
                await ensure_async(self.km.interrupt_kernel())
                if not await self._serve_finished(message_id):
                    self._kill(
                        f"a test cell's call into student code ignored the interrupt at its {self.timeout} s limit"
                    )
            if self._kill_reason is None and not await ensure_async(self.km.is_alive()):
                self._stop_reason = self._death_reason()
            elif self._kill_reason is not None:
                self._stop_reason = self._kill_reason
        if self._stop_reason is None and self._kill_reason is not None:
            self._stop_reason = self._kill_reason
        if result is None:
            reason = self._stop_reason or f"it ran longer than the limit of {self.timeout} s per cell"
            name = "KernelDied" if self._stop_reason and self._kill_reason is None else "CellTimeoutError"
            cell.outputs.append(_error(name, f"this test did not finish: {reason}"))
            return
        self._write_test_outputs(cell, result)
        if self._stop_reason is not None and result.get("error") is None:
            cell.outputs.append(_error("KernelDied", f"the kernel stopped during this test: {self._stop_reason}"))

    def _write_test_outputs(self, cell: NotebookNode, result: dict) -> None:
        for name in ("stdout", "stderr"):
            text = result.get(name) or ""
            if not isinstance(text, str) or not text:
                continue
            if len(text) > self.cell_output_bytes:
                text = text[: self.cell_output_bytes] + f"\n[output truncated at {self.cell_output_bytes:,} bytes]\n"
            cell.outputs.append(new_output("stream", name=name, text=text))
        error = result.get("error")
        if error:
            cell.outputs.append(_error(str(error[0]), str(error[1])))

    async def _discard_iopub(self) -> None:
        """Read (and drop) what the kernel publishes while it serves a test: counted against the notebook's cap."""
        while True:
            try:
                message = await ensure_async(self.kc.get_iopub_msg(timeout=0))
            except Exception:  # noqa: BLE001 - queue.Empty: nothing waiting
                return
            if message.get("msg_type") not in ("status", "execute_input"):
                self._notebook_output += _message_size(message)
                if self._notebook_output > self.notebook_output_bytes:
                    self._kill(f"the notebook printed more than {self.notebook_output_bytes:,} bytes of output")
                    return

    async def _serve_finished(self, message_id: str) -> bool:
        """Wait (``iopub_timeout`` s) for the kernel's reply to the serve request; its content does not matter."""
        deadline = time.monotonic() + self.iopub_timeout
        while time.monotonic() < deadline:
            try:
                reply = await ensure_async(self.kc.get_shell_msg(timeout=0.2))
            except Exception:  # noqa: BLE001 - queue.Empty
                await self._discard_iopub()
                if not await ensure_async(self.km.is_alive()):
                    return False
                continue
            if reply.get("parent_header", {}).get("msg_id") == message_id:
                return True
        return False

    # ------------------------------------------------------------------------------------- limits

    def _launcher_process(self):
        """The Popen of the kernel's launcher (``autograder.sandbox``), or None before start / after clean-up."""
        return getattr(getattr(self.km, "provisioner", None), "process", None)

    def _kernel_exited(self) -> bool:
        process = self._launcher_process()
        if process is None:
            return False
        try:
            process.wait(timeout=2)  # the launcher follows the kernel within moments
        except Exception:
            return False
        return True

    def _kernel_pid(self) -> int | None:
        finder = getattr(self.km, "kernel_pid", None)
        return finder() if finder else None

    def _set_cpu_budget(self) -> None:
        pid = self._kernel_pid()
        if pid:
            try:
                sandbox.set_cell_cpu_budget(pid, self.cell_cpu_timeout)
            except OSError as error:
                self.log.warning("could not set the per-cell CPU limit: %s", error)

    def _kill(self, reason: str) -> None:
        if self._kill_reason is None:
            self._kill_reason = reason
        pgid = getattr(getattr(self.km, "provisioner", None), "pgid", None)
        process = self._launcher_process()
        try:
            if pgid:
                os.killpg(pgid, signal.SIGKILL)
            elif process is not None:
                process.kill()
        except OSError:
            pass

    def _death_reason(self) -> str:
        if self._kill_reason:
            return self._kill_reason
        stopped = getattr(self.km, "limit_reason", lambda: None)()  # the sandbox supervisor's reason, if it killed
        if stopped:
            return f"the kernel was stopped: {stopped}"
        process = self._launcher_process()
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=5)
            except Exception:  # still running or unknown: report what we know
                code = process.poll()
        if code is None:
            return "the kernel stopped responding"
        signum = -code if code < 0 else code - 128 if code > 128 else None
        if signum in SIGNAL_REASONS:
            return f"the kernel died: {SIGNAL_REASONS[signum]} (signal {signal.Signals(signum).name})"
        return f"the kernel exited with code {code} (os._exit, sys.exit in a thread, or a crash?)"

    # ------------------------------------------------------------------------------------- output

    def process_message(self, msg, cell, cell_index):
        """Count every iopub message's size (stream, display data and its updates, metadata, comm messages)."""
        if msg.get("msg_type") not in ("status", "execute_input"):
            size = _message_size(msg)
            self._notebook_output += size
            self._cell_output += size
            if self._notebook_output > self.notebook_output_bytes:
                self._kill(f"the notebook printed more than {self.notebook_output_bytes:,} bytes of output")
                return None
            if self._cell_output > self.cell_output_bytes and msg.get("msg_type") != "error":
                if not self._output_truncated:
                    self._output_truncated = True
                    note = new_output(
                        "stream", name="stdout", text=f"\n[output truncated at {self.cell_output_bytes:,} bytes]\n"
                    )
                    cell.outputs.append(note)
                return None
        return super().process_message(msg, cell, cell_index)

    def clear_output(self, outs, msg, cell_index):
        if self._current_is_test:  # a test's error output must not be erased by the code it tests
            return
        super().clear_output(outs, msg, cell_index)


class _CellProfile:
    """Benchmarks: ``AUTOGRADER_CELL_PROFILE=FILE`` appends one JSON line per code cell: its grade_id, where it ran
    (``kernel``, or ``test`` for a test cell run by the trusted process), wall seconds and the CPU seconds of the
    sandboxed kernel's process tree meanwhile (for a test cell: the kernel serving the channel). Never a failure."""

    def __init__(self, launcher, cell: NotebookNode):
        self.path = os.environ.get("AUTOGRADER_CELL_PROFILE")
        self.root = getattr(launcher, "pid", None)
        self.grade_id = _grade_id(cell)
        if self.path:
            self.started, self.cpu = time.monotonic(), self._tree_cpu()

    def _tree_cpu(self) -> float:
        if not self.root:
            return 0.0
        from autograder import limits

        total = 0.0
        for pid in [self.root, *limits.descendants(self.root)]:
            try:
                total += sandbox.process_cpu_seconds(pid)
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
        return total

    def write(self, where: str) -> None:
        if not self.path:
            return
        record = {"grade_id": self.grade_id, "where": where, "wall_s": round(time.monotonic() - self.started, 2),
                  "kernel_cpu_s": round(self._tree_cpu() - self.cpu, 2)}  # fmt: skip
        try:
            with open(self.path, "a") as log:
                log.write(json.dumps(record) + "\n")
        except OSError:
            pass


def _message_size(msg: dict) -> int:
    """Bytes a message would add: its whole content (data, metadata, transient, traceback), metadata and buffers."""
    try:
        content, metadata = msg.get("content", {}), msg.get("metadata", {})
        size = len(json.dumps(content, default=str)) + len(json.dumps(metadata, default=str))
    except (TypeError, ValueError):
        size = len(str(msg.get("content", ""))) + len(str(msg.get("metadata", "")))
    return size + sum(len(buffer) for buffer in msg.get("buffers") or [])


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _read_notebook(path: str) -> NotebookNode | None:
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return None


def _error(name: str, message: str) -> NotebookNode:
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])

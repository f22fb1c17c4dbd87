"""nbgrader's Execute, hardened for untrusted notebooks: sandboxed kernel, limits, tamper guard, crash handling.

``GuardedExecute`` replaces ``Execute`` in ``Autograde.autograde_preprocessors`` (see ``nbgrader_config.py``):

- the kernel is a ``SandboxedKernelManager`` kernel (``autograder.sandbox``) unless ``sandbox = False``;
- per cell: wall time (nbgrader's ``Execute.timeout``; the cell is interrupted, and the kernel killed when it
  ignores the interrupt), CPU time (soft ``RLIMIT_CPU`` moved on before each cell); per notebook: wall time
  (``notebook_timeout``), CPU time and memory (hard rlimits set by the sandbox launcher);
- output: a cell keeps at most ``cell_output_bytes``; beyond ``notebook_output_bytes`` the kernel is killed;
- when the kernel dies (``os._exit``, segfault, a limit), that cell gets an error output saying why and every
  later code cell an error saying it did not run, so they score 0 and the notebook is still graded (stock
  nbgrader gives up on the whole notebook);
- before each test cell, ``autograder.kernel_guard`` restores what the test trusts (checks, numpy.testing,
  builtins, IPython's execution machinery); after it, anything changed during the test fails the test;
- a test cell's score cannot be faked with an ``execute_result`` (nbgrader reads one as partial credit) or by
  clearing its error output.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import signal
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Integer, List, Unicode

from autograder import sandbox

GUARD_SOURCE = (Path(__file__).resolve().parent / "kernel_guard.py").read_text()
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
    """Execute a student notebook in a sandboxed kernel, with limits, a tamper guard and per-cell crash handling."""

    sandbox = Bool(True, help="Run kernels with autograder.sandbox.SandboxedKernelManager").tag(config=True)
    notebook_timeout = Integer(1200, help="Wall-clock seconds for the whole notebook").tag(config=True)
    cell_cpu_timeout = Integer(600, help="CPU seconds per cell (soft RLIMIT_CPU, all threads)").tag(config=True)
    cell_output_bytes = Integer(1_000_000, help="Output a cell keeps; the rest is dropped").tag(config=True)
    notebook_output_bytes = Integer(50_000_000, help="Output beyond this kills the kernel").tag(config=True)
    iopub_timeout = Integer(
        10, help="Seconds a cell's output may lag its reply; also how long an interrupted cell has to stop"
    ).tag(config=True)
    guard = Bool(True, help="Restore and verify protected state around test cells").tag(config=True)
    protected_modules = List(
        Unicode(),
        [
            "builtins",
            "math",
            "operator",
            "numpy",
            "numpy.testing",
            "numpy.linalg",
            "course_utils",
            "course_utils.checks",
        ],  # fmt: skip
        help="Modules whose state test cells trust",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox:
            self.kernel_manager_class = sandbox.SandboxedKernelManager

    # ----------------------------------------------------------------------------------- the notebook

    def preprocess(self, nb, resources=None, km=None):
        self._stop_reason: str | None = None
        self._kill_reason: str | None = None
        self._guard_ready = False
        self._notebook_output = 0
        self._current_is_test = False
        self._cell_output = 0
        self._output_truncated = False
        self._deadline = time.monotonic() + self.notebook_timeout
        self._names = protected_names(nb, self.protected_modules)
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
        try:
            if self.guard and not self._guard_ready:
                self._install_guard(index)
            self._cell_output = 0
            self._output_truncated = False
            self._set_cpu_budget()
            guard_problem = self._run_guard("restore", index, self._names) if self._current_is_test else None
            cell, resources = super().preprocess_cell(cell, resources, index)
            if self._current_is_test:
                guard_problem = guard_problem or self._run_guard("verify", index)
                if guard_problem:
                    cell.outputs.append(_error("GradingGuard", guard_problem))
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
        if self._current_is_test:
            _no_faked_credit(cell)
        return cell, resources

    # --------------------------------------------------------------------------------------- guard

    def _install_guard(self, index: int) -> None:
        source = f"{GUARD_SOURCE}\ninstall({list(self.protected_modules)!r})\ndel install\n"
        scratch = self._execute_scratch(source, index)
        errors = [o for o in scratch.outputs if o.output_type == "error"]
        if errors:
            self.log.error("grading guard did not install: %s: %s", errors[0].ename, errors[0].evalue)
        self._guard_ready = True

    def _execute_scratch(self, source: str, index: int) -> NotebookNode:
        """Run code that is not part of the notebook (nbclient writes the executed cell back at ``index``)."""
        original = self.nb.cells[index]
        scratch = new_code_cell(source)
        try:
            self.execute_cell(scratch, index, store_history=False)
        finally:
            self.nb.cells[index] = original
        return scratch

    def _run_guard(self, action: str, index: int, names: dict | None = None) -> str | None:
        """Run restore/verify in the kernel; return a problem (for the test cell's feedback) or None."""
        if not self.guard:
            return None
        nonce = secrets.token_hex(16)
        arguments = f"{nonce!r}, {names!r}" if action == "restore" else f"{nonce!r}"
        scratch = self._execute_scratch(f"__import__('_course_grading_guard').{action}({arguments})", index)
        text = "".join(o.get("text", "") for o in scratch.outputs if o.output_type == "stream")
        report = next((line[len(nonce) + 1 :] for line in text.splitlines() if line.startswith(nonce + " ")), None)
        if report is None:
            return "the grading guard could not run: the kernel's execution machinery was tampered with"
        changed = json.loads(report).get("changed")
        if changed:
            return f"objects that grading relies on were changed while this test ran ({', '.join(changed[:5])})"
        return None

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


def _message_size(msg: dict) -> int:
    """Bytes a message would add: its whole content (data, metadata, transient, traceback), metadata and buffers."""
    try:
        content, metadata = msg.get("content", {}), msg.get("metadata", {})
        size = len(json.dumps(content, default=str)) + len(json.dumps(metadata, default=str))
    except (TypeError, ValueError):
        size = len(str(msg.get("content", ""))) + len(str(msg.get("metadata", "")))
    return size + sum(len(buffer) for buffer in msg.get("buffers") or [])


def _error(name: str, message: str) -> NotebookNode:
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


def _no_faked_credit(cell: NotebookNode) -> None:
    """nbgrader reads an execute_result as partial credit; keep one only when it is the test's own last expression
    and the cell raised no error."""
    has_error = any(o.output_type == "error" for o in cell.outputs)
    if has_error or not _ends_with_expression(cell.source):
        cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
    if has_error:  # errors first: determine_grade stops at the first error or result
        cell.outputs.sort(key=lambda o: o.output_type != "error")


def _ends_with_expression(source: str) -> bool:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return bool(body) and isinstance(body[-1], ast.Expr) and not source.rstrip().endswith(";")


def protected_names(nb: NotebookNode, modules: list[str]) -> dict[str, str]:
    """Names the course's locked cells import from protected modules: alias -> 'module' or 'module:attribute'."""
    names: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in modules:
                        names[alias.asname] = alias.name
                    elif not alias.asname and alias.name.split(".")[0] in modules:
                        names[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    bound = alias.asname or alias.name
                    if f"{node.module}.{alias.name}" in modules:
                        names[bound] = f"{node.module}.{alias.name}"
                    elif node.module in modules and alias.name != "*":
                        names[bound] = f"{node.module}:{alias.name}"
    return names

"""The trusted test process: graded test cells run here, never in the student's kernel.

A test cell's source (from the gradebook / source notebook, never the submission's text) is executed with a
namespace (``StudentNames``) that holds the course's own imports (``np``, ``checks``, ... as the course's locked
cells import them: a student who rebinds ``checks`` changes nothing here); every other name the cell does not
define is looked up in the student's kernel through ``autograder.channel`` (per cell, cached). Builtins always
win over student names, so a student variable called ``len`` or ``json`` changes nothing either. The data that the
source notebook's locked set-up cells assign (``env``, ``clouds``, reference arrays, constants) is computed here
too (``locked_values``: those cells run in this process, once per notebook) and wins over the student's names.

Public API (also used by ``tests/test_mutants.py``)::

    runner = TestCellRunner(preset=course_imports(notebook), timeout=300, locked=locked_values(source_path))
    passed, message = runner.run(test_cell_source, kernel_client, grade_id)   # a started jupyter_client client
    result = runner.run_cell(test_cell_source, kernel_client)         # CellResult: stdout, stderr, error

``run`` sends the kernel one execute_request (``course_utils._grading_channel.serve(...)``), serves the test cell
against it in *this* process and waits for the kernel to return to idle. The grader
(``autograder.executor.GuardedExecute``) uses the same machinery in a separate long-lived process
(``python -m autograder.trusted``, one per grading worker, started by ``shared_process()``), so that a test cell
that crashes or hangs takes neither the grader nor its TensorFlow import down with it.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import hashlib
import importlib
import importlib.util
import io
import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from autograder.channel import Channel, ChannelError, StudentError, connect

REPO_ROOT = Path(__file__).resolve().parent.parent
# Modules whose names, as the course's locked cells import them, are bound in the test namespace from this
# process's own imports (never looked up in the student's kernel).
TRUSTED_MODULES = ("numpy", "keras", "tensorflow", "math", "pathlib", "time", "course_utils", "random", "json",
                   "collections", "itertools", "functools", "operator", "statistics", "re")  # fmt: skip
OUTPUT_LIMIT = 1_000_000  # characters of stdout/stderr a test cell keeps


def serve_line(path: str, token: str) -> str:
    """The one line the grader sends the student's kernel: serve the channel until the test cell is done."""
    return f"__import__('course_utils._grading_channel', fromlist=['serve']).serve({path!r}, {token!r})"


@dataclass
class CellResult:
    """What a graded test cell produced in the trusted process."""

    stdout: str = ""
    stderr: str = ""
    error: tuple[str, str] | None = None  # (exception type name, message)

    @property
    def passed(self) -> bool:
        return self.error is None

    @property
    def message(self) -> str:
        return "" if self.error is None else f"{self.error[0]}: {self.error[1]}"

    def to_dict(self) -> dict:
        return {"stdout": self.stdout, "stderr": self.stderr, "error": list(self.error) if self.error else None}


# ------------------------------------------------------------------------------------------------ names


def course_imports(nb, modules: tuple[str, ...] | list[str] = TRUSTED_MODULES) -> dict[str, str]:
    """Names the course's locked cells import from trusted modules: alias -> 'module' or 'module:attribute'.

    Only locked (or grade) cells that are not solution cells count: those come from the gradebook, not from the
    student. ``modules`` are module names or packages (``course_utils`` covers ``course_utils.checks``).
    """

    def trusted(name: str) -> bool:
        return any(name == module or name.startswith(module + ".") for module in modules)

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
                    if alias.asname and trusted(alias.name):
                        names[alias.asname] = alias.name
                    elif not alias.asname and trusted(alias.name.split(".")[0]):
                        names[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level and trusted(node.module):
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = f"{node.module}:{alias.name}"
    return names


class LazyModule(types.ModuleType):
    """A course import bound in a test namespace before its module is imported: the module is imported on first
    attribute access. A lab whose tests reach every network through the channel (lab 4) never touches ``keras``
    here, so its trusted process does not import TensorFlow (3-5 CPU s once per process) or Matplotlib."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_module"] = None

    def _load(self) -> types.ModuleType:
        module = self.__dict__["_lazy_module"]
        if module is None:
            _prepare_import(self.__name__)
            module = self.__dict__["_lazy_module"] = importlib.import_module(self.__name__)
        return module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def _prepare_import(module_name: str) -> None:
    """Before importing Keras or TensorFlow: import TensorFlow as the student's kernel does (setup_lab), without
    Keras' scikit-learn import (1.4 CPU s); a no-op once it is imported."""
    if module_name.split(".")[0] in ("keras", "tensorflow"):
        from course_utils.environment import import_tensorflow

        import_tensorflow()


def _lazy(module_name: str) -> types.ModuleType:
    """The module if it is imported already, else a ``LazyModule`` (raises ImportError if it cannot be found)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    if importlib.util.find_spec(module_name) is None:
        raise ImportError(module_name)
    return LazyModule(module_name)


def resolve_imports(preset: dict[str, str]) -> dict[str, Any]:
    """alias -> this process's own object for ``course_imports``' answer: modules (``np``, ``keras``,
    ``checks``) as ``LazyModule``s until first used, functions and classes (``setup_lab``, ``Path``) imported."""
    values = {}
    for alias, target in preset.items():
        module_name, _, attribute = target.partition(":")
        if module_name.split(".")[0] not in TRUSTED_MODULES:
            continue
        try:
            if not attribute:
                values[alias] = _lazy(module_name)
                continue
            _prepare_import(module_name)  # ``from keras import layers``: finding the attribute imports Keras
            module = importlib.import_module(module_name)
            found = getattr(module, attribute, None)
            if found is not None and not isinstance(found, types.ModuleType):
                values[alias] = found  # a function or a class
            else:
                values[alias] = _lazy(f"{module_name}.{attribute}")
        except ImportError:
            continue
    return values


class StudentNames(dict):
    """A test cell's globals: its own names, the course's imports, the values of the locked cells computed here
    (``LockedValues``; each cell gets its own copy), builtins, then the student's kernel."""

    def __init__(self, channel: Channel | None, trusted: dict[str, Any], locked: dict[str, Any] | None = None) -> None:
        super().__init__(trusted)
        self["__builtins__"] = builtins
        self["__name__"] = "__main__"
        self.channel = channel
        self.locked = locked or {}

    def __missing__(self, name: str) -> Any:
        if name in self.locked:
            value = copy.deepcopy(self.locked[name])  # a test that changes it in place changes only its own copy
            self[name] = value
            return value
        if self.channel is None or name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        try:
            value = self.channel.lookup(name)
        except NameError:  # the student's NameError: not defined there either
            raise KeyError(name) from None
        self[name] = value
        return value


# ---------------------------------------------------------------------------- names the locked cells assign
#
# A locked set-up cell of the SOURCE notebook (``env = setup_lab(...)``, ``train_samples = ...``, constants,
# reference data) whose free names are all course imports or names that earlier such cells assign does not depend
# on the student's work: it is run here, in the trusted process, and the data it assigns (plain data, NumPy arrays,
# paths, the course's frozen dataclasses such as ``Sample`` and ``LabEnvironment``) is what a test cell sees under
# those names, however the student rebinds or changes them. Names whose last assignment before a test cell is
# the student's work (a solution cell, or a locked cell that reads a student name, e.g. one that trains the
# student's model) and values that are not data (functions, models, generators: they live where the student's
# objects live) keep resolving in the student's kernel. Only the cells that some test cell reads from (directly or
# through later such cells) run here. The channel sends plain data only, so a test passes the fields of ``env`` or
# of a ``Sample`` into student code, never the object itself.

LOCKED_TIMEOUT_S = 300  # seconds for all of a lab's locked cells here (they load data; a lab needs under 1 CPU s)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
           ast.GeneratorExp)  # fmt: skip


def _bound(nodes: list) -> set[str]:
    """Names a list of statements (or targets) binds in its own scope (nested functions and classes: their name)."""
    names: set[str] = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _reads(node: ast.AST, local: frozenset[str] = frozenset()) -> set[str]:
    """Global names ``node`` reads (names local to the functions, lambdas and comprehensions inside it excluded)."""
    found: set[str] = set()
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id not in local:
            found.add(node.id)
        return found
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id not in local:
        found.add(node.target.id)  # x += 1 reads x
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        for part in [*arguments.defaults, *[d for d in arguments.kw_defaults if d is not None],
                     *getattr(node, "decorator_list", [])]:  # fmt: skip
            found |= _reads(part, local)
        params = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
        params |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        declared = {name for n in body for sub in ast.walk(n) if isinstance(sub, ast.Global) for name in sub.names}
        inner = frozenset(local | params | (_bound(body) - declared))
        for statement in body:
            found |= _reads(statement, inner)
        return found
    if isinstance(node, ast.ClassDef):
        for part in [*node.bases, *[k.value for k in node.keywords], *node.decorator_list]:
            found |= _reads(part, local)
        inner = frozenset(local | _bound(node.body))
        for statement in node.body:
            found |= _reads(statement, inner)
        return found
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        inner = frozenset(local | _bound([generator.target for generator in node.generators]))
        found |= _reads(node.generators[0].iter, local)
        for child in ast.iter_child_nodes(node):
            if child is not node.generators[0]:
                found |= _reads(child, inner)
        found |= _reads(node.generators[0].target, inner) | {
            name for condition in node.generators[0].ifs for name in _reads(condition, inner)
        }
        return found
    for child in ast.iter_child_nodes(node):
        found |= _reads(child, local)
    return found


def _sequence(statements: list, bound: set[str], reads: set[str]) -> None:
    """Free names of statements run in order: a name counts when it is read before the statements bind it."""
    for statement in statements:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            reads |= _reads(statement.iter) - bound
            bound |= _bound([statement.target])
            _sequence(statement.body, bound, reads)
            _sequence(statement.orelse, bound, reads)
        elif isinstance(statement, (ast.If, ast.While)):
            reads |= _reads(statement.test) - bound
            _sequence(statement.body, bound, reads)
            _sequence(statement.orelse, bound, reads)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                reads |= _reads(item.context_expr) - bound
                if item.optional_vars is not None:
                    bound |= _bound([item.optional_vars])
            _sequence(statement.body, bound, reads)
        elif isinstance(statement, ast.Try):
            _sequence(statement.body, bound, reads)
            for handler in statement.handlers:
                if handler.type is not None:
                    reads |= _reads(handler.type) - bound
                if handler.name:
                    bound.add(handler.name)
                _sequence(handler.body, bound, reads)
            _sequence(statement.orelse, bound, reads)
            _sequence(statement.finalbody, bound, reads)
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            outside = [*statement.decorator_list]  # evaluated when defined; the body when called (cell_names)
            if isinstance(statement, ast.ClassDef):
                outside += [*statement.bases, *[keyword.value for keyword in statement.keywords]]
            else:
                outside += [*statement.args.defaults, *[d for d in statement.args.kw_defaults if d is not None]]
            for part in outside:
                reads |= _reads(part) - bound
            bound.add(statement.name)
        else:
            reads |= _reads(statement) - bound
            bound |= _bound([statement])


def cell_names(source: str) -> tuple[set[str], set[str]] | None:
    """(names the cell assigns at the top level, global names it reads before assigning them); None if unparsable.

    Names read inside the functions a cell defines count too (as of when they are called: the cell's own names
    excluded). An approximation on the safe side: a name read through ``globals()`` or ``eval`` is not seen, which
    is why a locked cell runs here without any access to the student's names (it fails instead).
    """
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return None
    assigned = _bound(tree.body)
    reads: set[str] = set()
    _sequence(tree.body, set(), reads)
    for statement in tree.body:  # definitions: their bodies run later, when the cell's own names exist
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            reads |= _reads(statement) - assigned
    return assigned, reads - set(builtins.__dict__)


def _cell_role(cell, demos: set[str]) -> str:
    """'test', 'demo' (skipped when grading), 'locked' (course code) or 'student' (the student may change it)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    if meta.get("solution"):
        return "student"
    if meta.get("grade"):
        return "test"
    if meta.get("grade_id") in demos:
        return "demo"
    return "locked" if meta.get("locked") else "student"


def is_data(value: Any, depth: int = 0) -> bool:
    """Plain data a locked cell assigns (numbers, strings, arrays, paths, containers and the course's frozen
    dataclasses of these): bound in the test namespace. Functions, models and generators are not."""
    if depth > 32:
        return False
    if value is None or type(value) in (bool, int, float, complex, str, bytes):
        return True
    if isinstance(value, np_generic()):
        return True
    if type(value).__name__ == "ndarray" and type(value).__module__ == "numpy":
        return value.dtype.kind in "biufcUS" and value.dtype.fields is None
    if isinstance(value, PurePath):
        return True
    if type(value) in (list, tuple, set, frozenset):
        return all(is_data(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(is_data(k, depth + 1) and is_data(v, depth + 1) for k, v in value.items())
    cls = type(value)
    params = getattr(cls, "__dataclass_params__", None)
    if params is not None and params.frozen and (cls.__module__ or "").split(".")[0] == "course_utils":
        return all(is_data(getattr(value, name), depth + 1) for name in cls.__dataclass_fields__)
    return False


def np_generic() -> tuple[type, ...]:
    numpy = sys.modules.get("numpy")
    return (numpy.generic,) if numpy is not None else ()


@dataclass
class LockedValues:
    """The data that the source notebook's locked cells assign, computed in this process; per test cell, the names
    it sees from here (``for_test(grade_id)``)."""

    source: str = ""
    bindings: dict[str, dict[str, Any]] = field(default_factory=dict)  # test grade_id -> name -> value
    computed: list[str] = field(default_factory=list)  # locked cells run here (grade_id, or "cell <index>")
    failed: dict[str, str] = field(default_factory=dict)  # locked cells that raised here -> why (names: kernel's)
    seconds: float = 0.0
    cached: bool = False

    def for_test(self, grade_id: str | None) -> dict[str, Any]:
        return dict(self.bindings.get(grade_id or "", {}))

    def summary(self) -> dict:
        names = sorted({name for names in self.bindings.values() for name in names})
        return {"names": names, "computed": list(self.computed), "failed": dict(self.failed),
                "seconds": round(self.seconds, 3), "cached": self.cached}  # fmt: skip


def plan_locked_cells(nb, preset: dict[str, str]) -> tuple[list[tuple[int, str, set, set]], dict, dict]:
    """Which locked cells can run here and which names each test cell reads from them.

    Returns (cells: [(index, label, assigned, depends-on-cell-indices)] of the locked cells to run, in order;
    tests: grade_id -> {name: index of the cell whose value it sees}; dropped: index -> names that a cell which
    does not run here assigns, in order).
    """
    from autograder import submissions

    demos = submissions.demo_cells(nb)  # the cells grading skips (the one definition of a demonstration cell)
    origin: dict[str, int | None] = {}  # name -> index of the locked cell that last assigned it; None: the student
    runnable: dict[int, tuple[str, set, set]] = {}
    tests: dict[str, dict[str, int]] = {}
    dropped: dict[int, set[str]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        role = _cell_role(cell, demos)
        names = cell_names(cell.source)
        if role == "demo":
            continue  # not run when graded: assigns nothing
        if role == "test":
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if names is not None and grade_id:
                tests[grade_id] = {n: origin[n] for n in names[1] if origin.get(n) is not None and n not in preset}
            continue
        if names is None:  # cannot tell what it assigns: trust nothing that it may have changed
            origin = {name: None for name in origin}
            continue
        assigned, reads = names
        if role == "locked" and all(origin.get(name) is not None for name in reads):
            label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index}"
            # the course's imports (preset) are bound here already: a cell that only imports them need not run
            runnable[index] = (label, assigned, {origin[name] for name in reads if name not in preset})
            origin.update(dict.fromkeys(assigned, index))
        else:
            dropped[index] = assigned
            origin.update(dict.fromkeys(assigned, None))
    needed = {index for reads in tests.values() for index in reads.values()}
    for index in sorted(runnable, reverse=True):  # the cells that the needed ones read from, transitively
        if index in needed:
            needed |= runnable[index][2]
    cells = [(index, *runnable[index]) for index in sorted(needed) if index in runnable]
    dropped.update({index: runnable[index][1] - preset.keys() for index in runnable if index not in needed})
    return cells, tests, dropped


@contextlib.contextmanager
def _process_state_kept(folder: str | None):
    """Run course set-up code here without changing what later test cells compute: the global random states
    (Python, NumPy, TensorFlow, Keras), TensorFlow's op determinism, warning filters, log levels, environment
    variables and the working directory are put back afterwards."""
    import logging
    import random
    import warnings

    numpy = sys.modules.get("numpy")
    saved_random, saved_numpy = random.getstate(), numpy.random.get_state() if numpy else None
    saved_filters, saved_env, saved_cwd = list(warnings.filters), dict(os.environ), os.getcwd()
    saved_levels = {name: logging.getLogger(name).level for name in ("tensorflow", "absl", "keras", "")}
    tf_state = _tf_state()
    try:
        os.environ.setdefault("COURSE_DATA_DIR", _data_root())  # as the sandboxed kernel gets it
        if folder:
            os.chdir(folder)
        yield
    finally:
        os.chdir(saved_cwd)
        for name in set(os.environ) - set(saved_env):
            del os.environ[name]
        for name, value in saved_env.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        warnings.filters[:] = saved_filters
        mutated = getattr(warnings, "_filters_mutated", None)
        if mutated is not None:
            mutated()
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        random.setstate(saved_random)
        if numpy is not None:
            numpy.random.set_state(saved_numpy)
        _tf_restore(tf_state)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close("all")


def _data_root() -> str:
    try:
        from course_utils import data

        return str(data.data_root().resolve())
    except Exception:  # noqa: BLE001 - no course package: nothing to mirror
        return ""


def _tf_state() -> dict:
    state: dict[str, Any] = {}
    if "tensorflow" not in sys.modules:
        return state
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import config

        ctx = context.context()
        rng = getattr(ctx, "_rng", None)
        state.update(ctx=ctx, seed=ctx._seed, rng=rng, rng_state=rng.getstate() if rng is not None else None,
                     determinism=config.is_op_determinism_enabled())  # fmt: skip
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        state["keras"] = {
            key: global_state.get_global_attribute(key)
            for key in (rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR)
        }
    except Exception:  # noqa: BLE001 - another TensorFlow/Keras: keep what was saved
        pass
    return state


def _tf_restore(state: dict) -> None:
    if not state:
        return
    try:
        from tensorflow.python.framework import config

        ctx = state["ctx"]
        if ctx._seed != state["seed"] or ctx._rng is not state["rng"]:
            ctx._seed, ctx._rng = state["seed"], state["rng"]
            if ctx._context_handle is not None:  # kernels cached under the other seed
                from tensorflow.python import pywrap_tfe

                pywrap_tfe.TFE_ContextClearCaches(ctx._context_handle)
        if state["rng"] is not None:
            state["rng"].setstate(state["rng_state"])
        if config.is_op_determinism_enabled() != state["determinism"]:
            (config.enable_op_determinism if state["determinism"] else config.disable_op_determinism)()
        from keras.src.backend.common import global_state

        for key, value in state.get("keras", {}).items():
            global_state.set_global_attribute(key, value)
    except Exception:  # noqa: BLE001
        pass


_LOCKED_CACHE: dict[str, LockedValues] = {}
_LOCKED_FAILED: dict[str, LockedValues] = {}  # source notebook -> why its locked values could not be computed


def locked_values(source_path: str | os.PathLike, preset: dict[str, str] | None = None,
                  timeout: float = LOCKED_TIMEOUT_S) -> LockedValues:  # fmt: skip
    """Run the source notebook's trusted-computable locked cells here (once per notebook, data set and process:
    they are deterministic, seeded by the lab's one seed) and return what each test cell sees from them.

    A cell that raises (or runs past ``timeout`` in total) binds nothing here: its names, and those of the cells
    that read them, resolve in the student's kernel as before.
    """
    import nbformat

    path = Path(source_path)
    raw = path.read_bytes()
    key = json.dumps([str(path.resolve()), hashlib.sha256(raw).hexdigest(), os.environ.get("COURSE_DATASET", ""),
                      os.environ.get("COURSE_DATA_DIR", ""), preset], sort_keys=True, default=str)  # fmt: skip
    if key in _LOCKED_CACHE:
        found = _LOCKED_CACHE[key]
        return LockedValues(found.source, found.bindings, found.computed, found.failed, 0.0, True)
    started = time.process_time()
    nb = nbformat.reads(raw.decode(), as_version=4)
    preset = course_imports(nb) if preset is None else preset
    cells, tests, dropped = plan_locked_cells(nb, preset)
    values: dict[int, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    computed: list[str] = []
    deadline = time.monotonic() + timeout
    order = sorted([(index, "run", cell) for index, *cell in cells] + [(i, "drop", n) for i, n in dropped.items()])
    from course_utils.environment import replaying_locked_cells  # setup_lab there leaves TensorFlow alone

    with _process_state_kept(str(path.parent)), replaying_locked_cells():
        namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "__main__", **resolve_imports(preset)}
        for index, action, detail in order:
            if action == "drop":  # the student's (or not run here): later cells must not see an older value
                for name in detail:
                    namespace.pop(name, None)
                continue
            label, assigned, depends = detail
            if any(dep not in values for dep in depends):
                failed[label] = "it reads a name that a locked cell which failed here assigns"
            elif time.monotonic() > deadline:
                failed[label] = f"the locked cells ran longer than {timeout:g} s here"
            else:
                error = _run_locked(nb.cells[index].source, namespace)
                if error is None:
                    computed.append(label)
                    values[index] = {
                        name: copy.deepcopy(namespace[name])
                        for name in assigned
                        if name in namespace and is_data(namespace[name])
                    }
                    continue
                failed[label] = error
            for name in assigned:
                namespace.pop(name, None)
    bindings = {
        test: {name: values[index][name] for name, index in reads.items() if name in values.get(index, {})}
        for test, reads in tests.items()
    }
    result = LockedValues(str(path), bindings, computed, failed, time.process_time() - started, False)
    _freeze(result)
    while len(_LOCKED_CACHE) >= 4:  # a worker grades a few labs at most
        _LOCKED_CACHE.pop(next(iter(_LOCKED_CACHE)))
    _LOCKED_CACHE[key] = result
    return result


def _run_locked(source: str, namespace: dict) -> str | None:
    """Run one locked cell in ``namespace``; None, or why it failed. Its output is discarded."""
    sink = io.StringIO()
    try:
        code = compile(_without_magics(source), "<locked cell>", "exec")
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            exec(code, namespace, namespace)  # noqa: S102 - the course's own locked cell, from the source notebook
    except Exception as error:  # noqa: BLE001 - report; its names stay the student's
        return f"{type(error).__name__}: {_safe_str(error)}"[:500]
    return None


def _freeze(result: LockedValues) -> None:
    """Arrays kept for later submissions cannot be changed in place (each test cell gets its own copy anyway)."""
    seen = set()
    for names in result.bindings.values():
        for value in names.values():
            for item in _walk_data(value):
                if id(item) not in seen and type(item).__name__ == "ndarray":
                    seen.add(id(item))
                    item.flags.writeable = False


def _walk_data(value: Any):
    yield value
    if type(value) in (list, tuple, set, frozenset):
        for item in value:
            yield from _walk_data(item)
    elif type(value) is dict:
        for item in value.values():
            yield from _walk_data(item)


# ---------------------------------------------------------------------------------------------- running


def execute(source: str, channel: Channel | None, trusted: dict[str, Any], shared_root: str | None,
            locked: dict[str, Any] | None = None) -> CellResult:  # fmt: skip
    """Run ``source`` with the student's names behind ``channel``; capture its output and its error.

    ``locked``: name -> value that the locked cells assign (``LockedValues.for_test``), seen instead of the student's.
    """
    from course_utils import checks

    stdout, stderr = io.StringIO(), io.StringIO()
    result = CellResult()
    namespace = StudentNames(channel, trusted, locked)
    try:
        code = compile(_without_magics(source), "<test cell>", "exec")
        with checks.grading_session(channel, shared_root):
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                exec(code, namespace, namespace)  # noqa: S102 - the course's own test source
    except StudentError as error:
        result.error = (type(error).__name__, str(error))
    except ChannelError as error:
        result.error = ("GradingChannelError", str(error))
    except Exception as error:  # noqa: BLE001 - a failed check, assert, or a bug in the test: the cell fails
        result.error = (type(error).__name__, _safe_str(error))
    except KeyboardInterrupt:
        result.error = ("CellTimeoutError", "the test cell ran longer than its time limit")
    finally:
        namespace.clear()
    result.stdout, result.stderr = stdout.getvalue()[:OUTPUT_LIMIT], stderr.getvalue()[:OUTPUT_LIMIT]
    return result


def _safe_str(error: BaseException) -> str:
    try:
        return str(error)[:10_000]
    except Exception:  # noqa: BLE001
        return ""


def _without_magics(source: str) -> str:
    """Test cells are plain Python; IPython magics and shell lines (never graded) become ``pass``."""
    return "\n".join(
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    )


def listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(1)
    return listener


def serve_cell(listener: socket.socket, token: str, source: str, trusted: dict, timeout: float,
               shared_root: str | None, locked: dict | None = None) -> CellResult:  # fmt: skip
    """Accept the student side's connection, run the cell against it, tell it we are done."""
    deadline = time.monotonic() + timeout
    try:
        channel = connect(listener, token, min(deadline, time.monotonic() + 60))
    except ChannelError as error:
        return CellResult(error=("GradingChannelError", str(error)))
    channel.deadline = deadline
    try:
        return execute(source, channel, trusted, shared_root, locked)
    finally:
        channel.close()


class TestCellRunner:
    """Run graded test cells in this process against a live kernel (a started jupyter_client blocking client).

    ``preset``: ``course_imports(notebook)`` (alias -> module or module:attribute), bound from this process's
    own imports. ``locked``: ``locked_values(source notebook)``, the data its locked cells assign (a test cell
    named by ``grade_id`` sees it). ``timeout``: seconds per cell (the channel's deadline). The kernel must be idle.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, preset: dict[str, str] | None = None, timeout: float = 300,
                 locked: LockedValues | None = None) -> None:  # fmt: skip
        self.trusted = resolve_imports(preset or {})
        self.timeout = timeout
        self.locked = locked

    def run(self, source: str, kernel_client, grade_id: str | None = None) -> tuple[bool, str]:
        """(passed, message): the message is the failure's ``Type: message`` ('' when passed)."""
        result = self.run_cell(source, kernel_client, grade_id)
        return result.passed, result.message

    def run_cell(self, source: str, kernel_client, grade_id: str | None = None) -> CellResult:
        folder = tempfile.mkdtemp(prefix="course-channel-")
        path = os.path.join(folder, "s")
        token = secrets.token_hex(16)
        listener = listen(path)
        try:
            message_id = kernel_client.execute(serve_line(path, token), store_history=False, allow_stdin=False)
            locked = self.locked.for_test(grade_id) if self.locked is not None else None
            result = serve_cell(listener, token, source, self.trusted, self.timeout, folder, locked)
            _wait_idle(kernel_client, message_id, 30)
            return result
        finally:
            listener.close()
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def _wait_idle(kernel_client, message_id: str, timeout: float) -> None:
    """Wait for the kernel's reply to the serve request (discarding whatever it printed meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = kernel_client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - queue.Empty: no reply in time
            break
        if reply.get("parent_header", {}).get("msg_id") == message_id:
            break
    while True:  # the serve request's own output is not the test's
        try:
            message = kernel_client.get_iopub_msg(timeout=0.2)
        except Exception:  # noqa: BLE001 - queue.Empty
            return
        if message.get("parent_header", {}).get("msg_id") == message_id and message["msg_type"] == "status":
            if message["content"].get("execution_state") == "idle":
                return


# ------------------------------------------------------------------------------ the long-lived process


def main() -> None:
    """``python -m autograder.trusted``: JSON requests on stdin, one JSON answer line each on stdout.

    Requests: ``{"op": "prepare", "preset": {...}, "notebook": source notebook path}`` (import the course's
    modules and compute the locked cells' values once, ``locked_values``) -> ``{"ready": true, "locked": summary}``;
    ``{"op": "run", "source", "socket", "token", "timeout", "preset", "shared_root", "notebook", "grade_id"}`` ->
    ``{"listening": true}`` as soon as the socket is bound (the grader then starts the student side), then the
    ``CellResult`` as a dict.
    """
    from autograder import sandbox

    sandbox.prctl(sandbox.PR_SET_PDEATHSIG, signal.SIGKILL)
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # library chatter on fd 1 must not corrupt the protocol
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    trusted_cache: dict[str, Any] = {}
    # Benchmarks: AUTOGRADER_TRUSTED_PROFILE=FILE appends one JSON line per request (op, grade_id, CPU seconds).
    profile = os.environ.get("AUTOGRADER_TRUSTED_PROFILE")
    for line in sys.stdin:
        started = time.process_time()
        request: dict = {}
        try:
            request = json.loads(line)
            answer = _handle(request, protocol, trusted_cache)
        except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - report, keep serving
            answer = {"error": ["TrustedProcessError", f"{type(error).__name__}: {error}"],
                      "traceback": traceback.format_exc()[-3000:], "stdout": "", "stderr": ""}  # fmt: skip
        protocol.write(json.dumps(answer) + "\n")
        if profile:
            record = {"op": request.get("op"), "grade_id": request.get("grade_id"),
                      "cpu_s": round(time.process_time() - started, 3), "pid": os.getpid()}  # fmt: skip
            with contextlib.suppress(OSError), open(profile, "a") as log:  # a benchmark's aid: never a failure
                log.write(json.dumps(record) + "\n")


def _handle(request: dict, protocol, cache: dict) -> dict:
    key = json.dumps(request.get("preset", {}), sort_keys=True)
    if key not in cache:
        cache.clear()
        cache[key] = resolve_imports(request.get("preset", {}))
    locked = _locked_for(request)
    if request["op"] == "prepare":
        return {"ready": True, "locked": locked.summary() if locked is not None else None}
    listener = listen(request["socket"])
    try:
        protocol.write(json.dumps({"listening": True}) + "\n")
        timeout = float(request["timeout"])
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout + 2)
        try:
            result = serve_cell(listener, request["token"], request["source"], dict(cache[key]), timeout,
                                request.get("shared_root"),
                                locked.for_test(request.get("grade_id")) if locked is not None else None)  # fmt: skip
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.unlink(request["socket"])
    return result.to_dict()


def _on_alarm(signum, frame) -> None:
    raise KeyboardInterrupt


def _locked_for(request: dict) -> LockedValues | None:
    """The request's source notebook's ``locked_values`` (computed on first use, under a time limit)."""
    notebook = request.get("notebook")
    if not notebook:
        return None
    if notebook in _LOCKED_FAILED:
        return _LOCKED_FAILED[notebook]
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, LOCKED_TIMEOUT_S + 5)
    try:
        return locked_values(notebook, request.get("preset"))
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - the names then resolve in the kernel
        why = "it ran too long" if isinstance(error, KeyboardInterrupt) else f"{type(error).__name__}: {error}"
        failed = LockedValues(str(notebook), {}, [], {"*": _safe_str(why)[:500]})
        _LOCKED_FAILED[notebook] = failed  # not again for every test cell
        return failed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class TrustedProcess:
    """The grader's handle on one ``python -m autograder.trusted`` process."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="course-trusted-")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        }
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder.trusted"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, cwd=self.workdir, env=env, text=True, bufsize=1,
        )  # fmt: skip
        self._buffer = ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, request: dict) -> None:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def read(self, timeout: float) -> dict | None:
        """The next answer line, or None when none arrived within ``timeout`` s. Raises EOFError if it died."""
        deadline = time.monotonic() + timeout
        while "\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 1 << 20).decode()
            if not chunk:
                raise EOFError("the trusted test process exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split("\n", 1)
        return json.loads(line)

    def cpu_seconds(self) -> float:
        from autograder import sandbox

        return sandbox.process_cpu_seconds(self.process.pid) if self.alive() else 0.0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


_SHARED: TrustedProcess | None = None


def shared_process() -> TrustedProcess:
    """This grading worker's trusted test process (started on first use, restarted when it died)."""
    global _SHARED
    if _SHARED is None or not _SHARED.alive():
        _SHARED = TrustedProcess()
    return _SHARED


def discard_shared_process() -> None:
    """Kill this worker's trusted process (after it hung); the next ``shared_process()`` starts a fresh one."""
    global _SHARED
    if _SHARED is not None:
        _SHARED.kill()
        _SHARED = None


if __name__ == "__main__":
    main()

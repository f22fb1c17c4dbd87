"""Runs INSIDE the student kernel, before any student code: snapshot what test cells trust, restore it on demand.

The grader (``autograder.executor.GuardedExecute``) sends this file's source to a fresh kernel and calls
``install(...)``. Before every test cell it calls ``restore(nonce, names)`` and after it ``verify(nonce)``; both
print one line ``<nonce> <json>`` that the grader checks (a missing line means the guard itself was removed or the
execution machinery hijacked: the test cell earns nothing).

What is protected: the modules test cells rely on (``builtins``, ``numpy``, ``numpy.testing``,
``course_utils.checks``, ...: their dicts, their functions' code objects, their classes' dicts, their
``sys.modules`` entries), the names test cells import from them into the notebook namespace, IPython's execution
machinery (AST and input transformers, event callbacks, custom exception handlers, traceback display, instance and
class-level method overrides of the shell, kernel and session), and ``sys`` hooks (excepthook, trace, profile).

This is a best-effort, in-process defence against the cheats students actually try (monkeypatching a check,
``numpy.testing``, ``builtins``, stripping asserts, swallowing tracebacks). A student who subverts the interpreter
itself (ctypes, frame hacking) is out of its reach; ``autograder.course.suspicious_code`` flags such code for a
tutor instead.
"""

# This module must not import anything from the course: it runs where only the standard library and the
# kernel's own packages are guaranteed.

import json
import sys
import types

GUARD_MODULE = "_course_grading_guard"
SHELL_TRAITS = ("ast_transformers", "displayhook", "display_pub", "compile", "events", "display_trap",
                "builtin_trap", "input_transformer_manager", "custom_exceptions", "CustomTB", "InteractiveTB",
                "SyntaxTB")  # fmt: skip
SHELL_LISTS = ("ast_transformers", "input_transformers_cleanup", "input_transformers_post")
# ipykernel rebinds builtins.input on every execution; the others are bookkeeping.
IGNORED_KEYS = {"__warningregistry__", "_", "__", "___", "__loader__", "__spec__", "input", "raw_input"}


def install(protected_modules):
    """Snapshot the pristine state; register ``restore`` and ``verify`` as the module ``_course_grading_guard``."""
    import importlib

    ip = get_ipython()  # noqa: F821 (an IPython kernel)
    modules = {}
    for name in protected_modules:
        try:
            modules[name] = importlib.import_module(name)
        except Exception:  # a module the lab does not have: nothing to protect
            continue
    module_state = {name: _module_snapshot(module) for name, module in modules.items()}
    kernel = getattr(ip, "kernel", None)
    objects = [ip, kernel, getattr(kernel, "session", None), ip.displayhook, ip.compile, ip.events]
    objects = [obj for obj in objects if obj is not None]
    classes = {cls for obj in objects for cls in type(obj).__mro__ if cls is not object and _is_python_class(cls)}
    class_state = {cls: dict(vars(cls)) for cls in classes}
    instance_state = {id(obj): (obj, {k: v for k, v in vars(obj).items() if callable(v)}) for obj in objects}
    shell_state = {name: getattr(ip, name) for name in SHELL_TRAITS if hasattr(ip, name)}
    list_state = {name: list(getattr(ip, name)) for name in SHELL_LISTS if hasattr(ip, name)}
    callbacks = {event: list(functions) for event, functions in ip.events.callbacks.items()}
    handlers = dict(getattr(kernel, "shell_handlers", {}) or {})

    def restore(nonce, names):
        """Put everything back as it was at start-up; rebind ``names`` (alias -> 'module' or 'module:attr')."""
        sys.settrace(None)
        sys.setprofile(None)
        import threading

        threading.settrace(None)
        threading.setprofile(None)
        for name, module in modules.items():
            _restore_module(module, module_state[name], drop_added=(name == "builtins"))
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent in modules:
                modules[parent].__dict__[child] = module
        for cls, saved in class_state.items():
            _restore_dict(cls, saved)
        for obj, saved in instance_state.values():
            current = vars(obj)
            for key in [k for k, v in current.items() if callable(v) and k not in saved]:
                if hasattr(type(obj), key):  # an instance attribute shadowing a method: a monkeypatch
                    del current[key]
            for key, value in saved.items():
                if current.get(key) is not value:
                    current[key] = value
        for name, value in shell_state.items():
            if getattr(ip, name) is not value:
                setattr(ip, name, value)
        for name, saved in list_state.items():
            getattr(ip, name)[:] = saved
        ip.events.callbacks.clear()
        ip.events.callbacks.update({event: list(functions) for event, functions in callbacks.items()})
        if kernel is not None and handlers:
            kernel.shell_handlers.clear()
            kernel.shell_handlers.update(handlers)
        namespace = ip.user_ns
        for alias, target in names.items():
            module_name, _, attribute = target.partition(":")
            module = modules.get(module_name)
            if module is None:
                continue
            if not attribute:
                namespace[alias] = module
                continue
            saved = module_state[module_name]["dict"]
            submodule = f"{module_name}.{attribute}"
            if attribute in saved:
                namespace[alias] = saved[attribute]
            elif submodule in modules:  # `from package import submodule`, imported after the snapshot
                namespace[alias] = modules[submodule]
            elif submodule in sys.modules:
                namespace[alias] = sys.modules[submodule]
        print(nonce, json.dumps({"restored": True}))

    def verify(nonce):
        """Report protected objects that changed since the last restore (e.g. patched during a test)."""
        changed = []
        for name, module in modules.items():
            changed += [f"{name}.{key}" for key in _module_changes(module, module_state[name])]
            if sys.modules.get(name) is not module:
                changed.append(f"sys.modules[{name!r}]")
        for name, saved in list_state.items():
            if list(getattr(ip, name)) != saved:
                changed.append(f"IPython {name}")
        if sys.gettrace() is not None:
            changed.append("sys.settrace")
        print(nonce, json.dumps({"changed": changed[:20]}))

    guard = types.ModuleType(GUARD_MODULE)
    guard.restore, guard.verify = restore, verify
    sys.modules[GUARD_MODULE] = guard


def _is_python_class(cls):
    return isinstance(cls, type) and not getattr(cls, "__module__", "builtins") == "builtins"


def _module_snapshot(module):
    namespace = dict(vars(module))
    functions = {}
    classes = {}
    for key, value in namespace.items():
        if isinstance(value, types.FunctionType):
            functions[key] = (value, value.__code__, value.__defaults__, value.__kwdefaults__)
        elif isinstance(value, type) and value.__module__ == module.__name__ and _is_python_class(value):
            classes[key] = (value, dict(vars(value)))
    return {"dict": namespace, "functions": functions, "classes": classes}


def _restore_dict(cls, saved):
    current = dict(vars(cls))
    for key, value in current.items():
        # Added callables are monkeypatches (caches that libraries add to classes are data, never callables).
        if key not in saved and callable(value) and not isinstance(value, type):
            try:
                delattr(cls, key)
            except (AttributeError, TypeError):
                pass
    for key, value in saved.items():
        if key in ("__dict__", "__weakref__", "__doc__") or current.get(key) is value:
            continue
        try:
            setattr(cls, key, value)
        except (AttributeError, TypeError):
            pass


def _restore_module(module, state, drop_added):
    namespace = vars(module)
    for key, value in state["dict"].items():
        if key not in IGNORED_KEYS and namespace.get(key, _MISSING) is not value:
            namespace[key] = value
    if drop_added:
        for key in [k for k in namespace if k not in state["dict"] and k not in IGNORED_KEYS]:
            del namespace[key]
    for function, code, defaults, kwdefaults in state["functions"].values():
        if function.__code__ is not code:
            function.__code__ = code
        function.__defaults__, function.__kwdefaults__ = defaults, kwdefaults
    for cls, saved in state["classes"].values():
        _restore_dict(cls, saved)


def _module_changes(module, state):
    namespace = vars(module)
    for key, value in state["dict"].items():
        if key not in IGNORED_KEYS and namespace.get(key, _MISSING) is not value:
            yield key
    for key, (function, code, defaults, _) in state["functions"].items():
        if function.__code__ is not code or function.__defaults__ is not defaults:
            yield f"{key}.__code__"
    for key, (cls, saved) in state["classes"].items():
        current = vars(cls)
        if any(current.get(k, _MISSING) is not v for k, v in saved.items() if k not in ("__dict__", "__weakref__")):
            yield f"{key} (class)"


_MISSING = object()

"""Lab set-up: quiet logs, version check, seeds, and which data set is active. Introduced in lab 1."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

KERNEL_NAME = "dlcourse"
KERNEL_DISPLAY_NAME = "DL lab course (TF 2.21)"
DEFAULT_SEED = 42

# Set before TensorFlow is first imported: silence C++ logs (stderr output fails nbgrader test cells) and
# keep float results reproducible run to run. The course kernel sets the same variables.
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "KERAS_BACKEND": "tensorflow",
    "PYTHONHASHSEED": "0",
}

REPO_ROOT = Path(__file__).resolve().parent.parent


class VersionMismatch(RuntimeError):
    """The running environment is not the course's pinned one."""


def import_tensorflow():
    """Import TensorFlow (and with it Keras) without the scikit-learn import Keras makes on the way.

    Keras' ``keras.wrappers`` modules import scikit-learn, and with it much of SciPy, at import time, only for
    its ``SKLearnClassifier`` & co., which the course does not use: 1.4 of the 4.8 CPU seconds a kernel spends
    importing TensorFlow (measured). While TensorFlow imports, ``import sklearn`` fails (a ``None`` entry in
    ``sys.modules``), so those modules record scikit-learn as absent; afterwards the entry is removed and
    ``import sklearn`` works as usual (lab 4 uses it). Importing scikit-learn before TensorFlow keeps the wrappers.
    """
    hide = "tensorflow" not in sys.modules and "sklearn" not in sys.modules
    if hide:
        sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import tensorflow as tf
    finally:
        if hide and sys.modules.get("sklearn", False) is None:
            del sys.modules["sklearn"]
    return tf


def quiet_tensorflow() -> None:
    """Silence TensorFlow, absl and Python warnings that would land on stderr."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    import logging

    tf = import_tensorflow()

    tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; tolerate its absence
        pass
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*Your `PyDataset` class should call.*")
    # Keras 3.15 warns on every fit() given a tf.data.Dataset, because of fit's default shuffle=True (which only
    # applies to arrays and PyDatasets: a Dataset shuffles itself). Lab 4 trains its head from datasets.
    warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored since the data `x` "
                            r"was provided as a tf\.data\.Dataset")  # fmt: skip
    # A model built with a one-element list of inputs (keras.Model(inputs=[points], ...)) and called with one
    # tensor works, but Keras 3.15 warns that the structures differ. Only that case: several inputs, or inputs
    # in another structure (lab 2), still warn.
    warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't match the expected structure\.\n"
                            r"Expected: \['[^',\]]*'\]\nReceived: inputs=Tensor\(shape=\([^)]*\)\)$")  # fmt: skip


def pinned_versions(requirements: Path = REPO_ROOT / "requirements.txt") -> dict[str, str]:
    """Exact pins from requirements.txt (empty when the file is not there, e.g. an installed wheel)."""
    if not requirements.exists():
        return {}
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def check_versions(strict: bool = False) -> dict[str, str]:
    """Compare the key packages with the pins; warn (or raise when ``strict``) on a mismatch."""
    from importlib.metadata import PackageNotFoundError, version

    pins = pinned_versions()
    found = {}
    problems = []
    for package in ("tensorflow-cpu", "keras", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "missing"
        wanted = pins.get(package)
        if wanted and found[package] != wanted:
            problems.append(f"{package} {found[package]} (course pins {wanted})")
    if sys.version_info[:2] != (3, 11):
        problems.append(f"Python {sys.version_info.major}.{sys.version_info.minor} (course uses 3.11)")
    if problems:
        message = "Not the course environment: " + "; ".join(problems) + ". Run `make install` and pick the kernel "
        message += f"'{KERNEL_DISPLAY_NAME}'."
        if strict:
            raise VersionMismatch(message)
        print(f"[WARN] {message}")
    return found


@dataclass(frozen=True)
class LabEnvironment:
    """What a lab needs to know about where it runs."""

    lab: str
    seed: int
    dataset: str
    data_dir: Path
    n_train: int
    n_test: int
    points_per_object: int


_replaying = False  # see replaying_locked_cells


@contextlib.contextmanager
def replaying_locked_cells():
    """The grader's trusted process runs a lab's locked set-up cells again, only for the data they assign (``env``,
    constants, reference arrays), with their output discarded and its random states put back afterwards. Meanwhile
    ``setup_lab`` seeds Python and NumPy as usual but leaves TensorFlow alone unless it is imported already (its
    silencing, seed and op determinism would not outlast the replay), so that the process imports TensorFlow only
    if a test uses it (lab 4's tests reach every network through the channel: 3-5 CPU s saved per process)."""
    global _replaying
    previous, _replaying = _replaying, True
    try:
        yield
    finally:
        _replaying = previous


def setup_lab(lab: str, seed: int = DEFAULT_SEED, need_data: bool = True) -> LabEnvironment:
    """Prepare a lab notebook: quiet logs, versions, seeds (once), data set; print a summary."""
    from course_utils import data

    versions = check_versions()
    if _replaying and "tensorflow" not in sys.modules:
        import random

        import numpy as np

        random.seed(seed)  # what keras.utils.set_random_seed does to Python and NumPy
        np.random.seed(seed)
        tf_version, keras_version = versions["tensorflow-cpu"], versions["keras"]
    else:
        quiet_tensorflow()
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(seed)  # seeds Python, NumPy and TensorFlow in one call
        tf.config.experimental.enable_op_determinism()
        tf_version, keras_version = tf.__version__, keras.__version__

    dataset = data.active_dataset()
    summary = [f"Lab {lab}: TensorFlow {tf_version}, Keras {keras_version}, NumPy {versions['numpy']}; seed {seed}"]
    n_train = n_test = points = 0
    directory = data.dataset_dir(dataset)
    if need_data:
        if dataset == data.DEFAULT_DATASET and not (directory / "manifest.json").exists():
            build_synthetic_data(data.data_root())
        manifest = data.read_manifest(dataset)
        counts = manifest["counts"]
        n_train, n_test = counts.get("train", 0), counts.get("test", 0)
        points = manifest["points_per_object"]
        summary.append(
            f"Data set: {dataset} ({n_train} train / {n_test} test objects, {points} points each) in {directory}"
        )
    summary.append(_weights_line(dataset))
    print("\n".join(summary))
    return LabEnvironment(lab, seed, dataset, directory, n_train, n_test, points)


def build_synthetic_data(root: Path) -> None:
    """Build the offline synthetic data set under ``root`` (about 10 s), as ``make data`` does.

    For students without the course's checkout (Colab, Binder): the installed package carries the builder
    (``data_fetch``), which writes into a temporary folder and renames it into place when complete.
    """
    import data_fetch

    print(f"Building the synthetic data set in {root} (first run only, about 10 s) ...")
    data_fetch.build_synthetic(root=root)


def _weights_line(dataset: str) -> str:
    """Which pretrained PointNet weights lab 4 will load for ``dataset`` (the file matching the active data set)."""
    from course_utils import pretrain

    try:
        card = pretrain.read_card(dataset)
    except (FileNotFoundError, ValueError) as error:
        return f"Pretrained weights: none for data set '{dataset}' (lab 4 needs them: {error})"
    accuracy = card.get("validation_accuracy", float("nan"))
    return (
        f"Pretrained weights: {pretrain.weights_path(dataset).name} ({card.get('dataset', dataset)}, "
        f"{card.get('points_per_cloud')} points, validation accuracy {accuracy:.3f})"
    )

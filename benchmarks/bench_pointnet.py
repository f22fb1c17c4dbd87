"""Speed and transfer accuracy of lab 4's reference PointNet, and the lab's wall time (issue 6).

    .venv/bin/python benchmarks/bench_pointnet.py --part throughput                 # reference vs public, XLA off/on
    .venv/bin/python benchmarks/bench_pointnet.py --part throughput --points 256 --jit off \\
        --models reference,public,reference-dense,reference-noreg,public-einsum   # where the time goes
    .venv/bin/python benchmarks/bench_pointnet.py --part transfer --npz ../shared/data/modelnet10-pc1024/train.npz
    .venv/bin/python benchmarks/bench_pointnet.py --part notebook                   # lab 4 end to end, synthetic
    .venv/bin/python benchmarks/bench_pointnet.py --part all --npz ../shared/data/modelnet10-pc1024/train.npz

throughput: training samples/s (batch 32) of the reference PointNet, built by executing the solution notebooks'
    reference cells (``course_utils.pretrain.model_namespace``), and of a straightforward PointNet in the style
    of the keras.io example (Conv1D(1) + BatchNorm + ReLU blocks, T-Nets, a ``tensordot`` orthogonality penalty)
    with the reference's layer widths. Models are timed back to back, one epoch each per round, the order
    alternating between rounds; the figure is the median over rounds after warm-up. Ratio > 1: reference faster.
transfer: on hold-outs of the real ModelNet10 train split (imported into a temporary data root unless
    --data-dir names one): base-class accuracy of the shipped modelnet10 weights on the test hold-out that the
    pretraining never used, per class; on lab 4's splits of the new classes (``pretrain.new_class_splits``), the
    lab's frozen-embedding head, a logistic regression and the lab's fine-tuning, per class. The from-scratch
    curve is recorded in the weight card (``python -m course_utils.pretrain --scratch-run``).
notebook: executes a copy of solutions/lab4_pointnet/lab4_pointnet.ipynb with nbclient (kernel ``dlcourse``) in
    a temporary copy of the lab folder on the synthetic data set; prints the total and the slowest cells.

Timings depend on the machine's load: on a shared machine repeat runs and compare only figures of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils import data, pretrain  # noqa: E402
from course_utils.environment import DEFAULT_SEED, quiet_tensorflow  # noqa: E402

quiet_tensorflow()
import keras  # noqa: E402

LAB = "lab4_pointnet"
LAB_NOTEBOOK = ROOT / "solutions" / LAB / f"{LAB}.ipynb"
BATCH_SIZE = 32
NOTEBOOK_GOAL_SECONDS = 180


# --------------------------------------------------------------------------------------------- public-style model
# A PointNet written the way public examples write it (keras.io "Point cloud classification with PointNet"),
# with the reference's layer widths so that only the implementation differs.


def public_conv_bn(x, filters: int):
    x = keras.layers.Conv1D(filters, kernel_size=1, padding="valid")(x)
    x = keras.layers.BatchNormalization(momentum=0.0)(x)
    return keras.layers.Activation("relu")(x)


def public_dense_bn(x, units: int):
    x = keras.layers.Dense(units)(x)
    x = keras.layers.BatchNormalization(momentum=0.0)(x)
    return keras.layers.Activation("relu")(x)


class TensordotOrthogonalRegularizer(keras.regularizers.Regularizer):
    """The public example's penalty: a batch-wide tensordot (B, k, B, k), summed over the batch."""

    def __init__(self, num_features: int, l2reg: float = 0.001):
        self.num_features = num_features
        self.l2reg = l2reg
        self.identity = keras.ops.eye(num_features)

    def __call__(self, x):
        x = keras.ops.reshape(x, (-1, self.num_features, self.num_features))
        xxt = keras.ops.tensordot(x, x, axes=(2, 2))
        xxt = keras.ops.reshape(xxt, (-1, self.num_features, self.num_features))
        return keras.ops.sum(self.l2reg * keras.ops.square(xxt - self.identity))


class EinsumOrthogonalRegularizer(keras.regularizers.Regularizer):
    """Per-sample penalty mean_b ||I - A_b A_b^T||^2 (what the reference computes), for the profiling variant."""

    def __init__(self, num_features: int, l2reg: float = 0.001):
        self.num_features = num_features
        self.l2reg = l2reg

    def __call__(self, x):
        x = keras.ops.reshape(x, (-1, self.num_features, self.num_features))
        residual = keras.ops.eye(self.num_features) - keras.ops.einsum("bij,bkj->bik", x, x)
        return self.l2reg * keras.ops.mean(keras.ops.sum(keras.ops.square(residual), axis=(1, 2)))


def public_tnet(inputs, num_features: int, regularizer=None):
    bias = keras.initializers.Constant(np.eye(num_features).flatten())
    x = public_conv_bn(inputs, 64)
    x = public_conv_bn(x, 128)
    x = public_conv_bn(x, 1024)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = public_dense_bn(x, 512)
    x = public_dense_bn(x, 256)
    x = keras.layers.Dense(
        num_features * num_features, kernel_initializer="zeros", bias_initializer=bias, activity_regularizer=regularizer
    )(x)
    transform = keras.layers.Reshape((num_features, num_features))(x)
    return keras.layers.Dot(axes=(2, 1))([inputs, transform])


def build_public_pointnet(n_classes: int, n_points: int, regularizer: type = TensordotOrthogonalRegularizer):
    inputs = keras.Input(shape=(n_points, 3))
    x = public_tnet(inputs, 3)
    x = public_conv_bn(x, 64)
    x = public_conv_bn(x, 64)
    x = public_tnet(x, 64, regularizer(64, 0.001))
    x = public_conv_bn(x, 64)
    x = public_conv_bn(x, 128)
    x = public_conv_bn(x, 1024)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = public_dense_bn(x, 512)
    x = keras.layers.Dropout(0.3)(x)
    x = public_dense_bn(x, 256)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="public_pointnet")


# --------------------------------------------------------------------------------------------- reference model


def reference_builder(**overrides) -> Callable[..., keras.Model]:
    """``build_pointnet`` of the solution notebooks; ``overrides`` replace names its cells look up (profiling)."""
    namespace = pretrain.model_namespace()
    namespace.update(overrides)
    return namespace["build_pointnet"]


def dense_shared_mlp(x, filters: int, name: str):
    """Profiling variant of the reference's ``conv_bn``: the shared MLP as a Dense layer on (B, N, C)."""
    x = keras.layers.Dense(filters, name=f"{name}_dense")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def without_penalty(k: int, weight: float = 0.001):
    return None


MODELS: dict[str, tuple[str, Callable[[int, int], keras.Model]]] = {
    "reference": (
        "lab 4 reference, Input((None, 3)) as in the lab",
        lambda n_classes, n_points: reference_builder()(n_classes),
    ),
    "public": (
        "keras.io style, Input((n_points, 3)), tensordot penalty",
        lambda n_classes, n_points: build_public_pointnet(n_classes, n_points),
    ),
    "reference-fixed": (
        "reference with Input((n_points, 3))",
        lambda n_classes, n_points: reference_builder()(n_classes, n_points),
    ),
    "reference-dense": (
        "reference, shared MLP as Dense instead of Conv1D(1)",
        lambda n_classes, n_points: reference_builder(conv_bn=dense_shared_mlp)(n_classes),
    ),
    "reference-noreg": (
        "reference without the orthogonality penalty",
        lambda n_classes, n_points: reference_builder(OrthogonalRegularizer=without_penalty)(n_classes),
    ),
    "public-einsum": (
        "public with the per-sample einsum penalty",
        lambda n_classes, n_points: build_public_pointnet(n_classes, n_points, EinsumOrthogonalRegularizer),
    ),
    "public-noreg": (
        "public without the orthogonality penalty",
        lambda n_classes, n_points: build_public_pointnet(n_classes, n_points, lambda k, weight: None),
    ),
}


# --------------------------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the duration of a block."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def lab_points() -> int:
    """The number of points lab 4 feeds the network: the weight card's ``points_per_cloud``."""
    return int(pretrain.read_card("synthetic")["points_per_cloud"])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    return {name: float(np.mean(predictions[labels == index] == index)) for index, name in enumerate(classes)}


def as_local_labels(labels: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    return np.array([classes.index(data.CLASSES[label]) for label in labels])


def format_per_class(accuracies: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.3f}" for name, value in accuracies.items())


# --------------------------------------------------------------------------------------------- throughput


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each training epoch (the loss is read at the end, so all steps have run)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []  # the process's CPU time: less sensitive to other jobs on the machine

    def on_epoch_begin(self, epoch, logs=None):
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        float(logs["loss"])
        self.seconds.append(time.perf_counter() - self.started)
        self.cpu_seconds.append(time.process_time() - self.cpu_started)


def training_batch(n_points: int, n_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` clouds of the active data set's train split (repeated if needed), first ``n_points`` points."""
    samples = data.list_samples("train", classes=data.BASE_CLASSES)
    rng = np.random.default_rng(seed)
    chosen = [samples[i] for i in rng.choice(len(samples), n_samples, replace=n_samples > len(samples))]
    clouds, labels = data.load_split(chosen, n_points=n_points)
    if clouds.shape[1] < n_points:
        raise ValueError(f"the data set has {clouds.shape[1]} points per cloud, {n_points} were asked for")
    return clouds, as_local_labels(labels, data.BASE_CLASSES)


def measure_throughput(
    model_names: list[str], n_points: int, jit_compile: bool, steps: int, rounds: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Samples/s and CPU ms/sample per model and round; the models train one epoch each in turn, order alternating."""
    keras.utils.set_random_seed(0)
    x, y = training_batch(n_points, steps * BATCH_SIZE)
    models = {}
    for name in model_names:
        model = MODELS[name][1](len(data.BASE_CLASSES), n_points)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
        models[name] = model
    timers = {name: EpochTimer() for name in model_names}

    def train_one_epoch(name: str) -> None:
        models[name].fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=0, callbacks=[timers[name]])

    for name in model_names:
        for _ in range(warmup):
            train_one_epoch(name)
    for timer in timers.values():
        timer.seconds.clear()
        timer.cpu_seconds.clear()
    for index in range(rounds):
        for name in model_names if index % 2 == 0 else model_names[::-1]:
            train_one_epoch(name)
    rates = {name: [len(x) / seconds for seconds in timers[name].seconds] for name in model_names}
    cpu_ms = {name: [1000 * seconds / len(x) for seconds in timers[name].cpu_seconds] for name in model_names}
    return rates, cpu_ms


def run_throughput(arguments) -> None:
    points = [int(p) for p in arguments.points.split(",")] if arguments.points else [lab_points(), 1024]
    jit_modes = {"off": [False], "on": [True], "both": [False, True]}[arguments.jit]
    names = arguments.models.split(",")
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    print(f"\n== throughput: training samples/s, batch {BATCH_SIZE}, {arguments.steps} steps per timed epoch, "
          f"median of {arguments.rounds} rounds after {arguments.warmup} warm-up epoch(s); data set "
          f"{data.active_dataset()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    for name in names:
        print(f"   {name:<16} {MODELS[name][0]}")
    results = {}
    for n_points in points:
        for jit_compile in jit_modes:
            started = time.perf_counter()
            rates, cpu_ms = measure_throughput(
                names, n_points, jit_compile, arguments.steps, arguments.rounds, arguments.warmup
            )
            results[n_points, jit_compile] = rates, cpu_ms
            row = "  ".join(f"{name} {median(rates[name]):6.1f} [{min(rates[name]):.1f}-{max(rates[name]):.1f}]"
                            for name in names)  # fmt: skip
            print(f"{n_points:>5} points, XLA {'on ' if jit_compile else 'off'}: samples/s median [range]: {row}  "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    print_throughput_summary(results, names, points)


def print_throughput_summary(results: dict, names: list[str], points: list[int]) -> None:
    print("\nsummary: wall samples/s (median) | CPU ms per sample (median, less sensitive to other jobs)")
    print(f"{'points':>6} {'XLA':>4} " + " ".join(f"{name:>24}" for name in names))
    for (n_points, jit_compile), (rates, cpu_ms) in results.items():
        cells = " ".join(f"{median(rates[name]):11.1f} | {median(cpu_ms[name]):6.1f} ms" for name in names)
        print(f"{n_points:>6} {'on' if jit_compile else 'off':>4} {cells}")
    if "reference" in names:
        print("\nratios reference / other (> 1: reference faster): wall samples/s as ratio of medians and median of "
              "the per-round ratios; CPU time other / reference")  # fmt: skip
        for (n_points, jit_compile), (rates, cpu_ms) in results.items():
            for name in (n for n in names if n != "reference"):
                per_round = [a / b for a, b in zip(rates["reference"], rates[name])]
                cpu_per_round = [b / a for a, b in zip(cpu_ms["reference"], cpu_ms[name])]
                print(f"{n_points:>6} XLA {'on ' if jit_compile else 'off'} reference / {name:<16} wall "
                      f"{median(rates['reference']) / median(rates[name]):.3f} (per round {median(per_round):.3f})"
                      f"   CPU {median(cpu_ms[name]) / median(cpu_ms['reference']):.3f} "
                      f"(per round {median(cpu_per_round):.3f})")  # fmt: skip
    for n_points in points:
        if (n_points, False) in results and (n_points, True) in results:
            off, on = results[n_points, False][0], results[n_points, True][0]
            gains = "  ".join(f"{name} {median(on[name]) / median(off[name]):.2f}x" for name in names)
            print(f"XLA on / off at {n_points} points (wall samples/s): {gains}")


# --------------------------------------------------------------------------------------------- transfer


@contextlib.contextmanager
def real_data_root(arguments) -> Iterator[None]:
    """Activate the modelnet10 data set: --data-dir as it is, or --npz imported into a temporary root."""
    if arguments.data_dir:
        with environment(COURSE_DATA_DIR=str(arguments.data_dir), COURSE_DATASET="modelnet10"):
            yield
        return
    if not arguments.npz:
        raise ValueError("the transfer part needs real data: pass --npz PATH (imported to a temporary root) or "
                         "--data-dir ROOT (a data root that holds modelnet10/)")  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import data_fetch

    with tempfile.TemporaryDirectory(prefix="bench-pointnet-data-") as root:
        report = data_fetch.import_path(Path(arguments.npz), root=Path(root))
        print(f"imported {sum(report.counts.values())} objects from {arguments.npz} into {root} (temporary)")
        with environment(COURSE_DATA_DIR=root, COURSE_DATASET="modelnet10"):
            yield


# Lab 4's recipes (TODO 4 and TODO 5 of the solution notebook): keep them in step with the notebook.
EMBED_POINTS = 1024
HEAD_EPOCHS, HEAD_BATCH, HEAD_LEARNING_RATE, HEAD_STEPS = 100, 32, 3e-3, 16
FINE_TUNE_EPOCHS, FINE_TUNE_LEARNING_RATE = 2, 1e-4


def fit_lab_head(train_embeddings, train_labels, n_classes: int, seed: int) -> keras.Model:
    """The lab's head on frozen embeddings: Dense(softmax), Adam, HEAD_EPOCHS epochs of a shuffled tf.data set in
    batches of HEAD_BATCH, HEAD_STEPS steps per execution."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    embedding_input = keras.Input(shape=(train_embeddings.shape[1],))
    head = keras.Model(embedding_input, keras.layers.Dense(n_classes, activation="softmax")(embedding_input))
    head.compile(optimizer=keras.optimizers.Adam(HEAD_LEARNING_RATE), loss="sparse_categorical_crossentropy",
                 metrics=["accuracy"], steps_per_execution=HEAD_STEPS)  # fmt: skip
    train_set = tf.data.Dataset.from_tensor_slices((train_embeddings, train_labels))
    head.fit(train_set.shuffle(len(train_embeddings)).batch(HEAD_BATCH), epochs=HEAD_EPOCHS, verbose=0)
    return head


def logistic_regression_predictions(train_embeddings, train_labels, test_embeddings) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    classifier = LogisticRegression(C=1.0, max_iter=3000)
    return classifier.fit(train_embeddings, train_labels).predict(test_embeddings)


def describe(labels: np.ndarray, predictions: np.ndarray, classes: tuple[str, ...]) -> str:
    per_class = format_per_class(per_class_accuracy(labels, predictions, classes))
    return f"accuracy {np.mean(predictions == labels):.3f}  [{per_class}]"


def load_local(samples: list, classes: tuple[str, ...], n_points: int) -> tuple[np.ndarray, np.ndarray]:
    clouds, labels = data.load_split(samples, n_points=n_points)
    return clouds, as_local_labels(labels, classes)


def evaluate_base_classes(base_model: keras.Model, card: dict) -> None:
    """Accuracy on the base classes' test hold-out, which neither training nor the choice of the epoch used."""
    base_classes = tuple(card["classes"])
    for points in sorted({card["points_per_cloud"], EMBED_POINTS}):
        x_base, y_base = load_local(pretrain.base_test_samples(card), base_classes, points)
        predictions = np.argmax(base_model.predict(x_base, batch_size=64, verbose=0), axis=1)
        print(f"base classes, test hold-out ({len(x_base)} objects, {points} points): "
              f"{describe(y_base, predictions, base_classes)}")  # fmt: skip


def evaluate_transfer(build_pointnet, card: dict, seeds: list[int]) -> None:
    """Lab 4's frozen head, a logistic regression and the lab's fine-tuning, on lab 4's splits of the new classes."""
    classes = data.NEW_CLASSES
    results: dict[str, list[float]] = {"lab head": [], "logistic regression": [], "fine-tuned": []}
    for seed in seeds:
        keras.utils.set_random_seed(DEFAULT_SEED)
        base_model = build_pointnet(len(card["classes"]))
        base_model.load_weights(pretrain.weights_path("modelnet10"))
        extractor = keras.Model(base_model.input, base_model.get_layer("global_feature").output)
        train, validation, test = pretrain.new_class_splits(seed)
        (x_train, y_train), (x_test, y_test) = (load_local(part, classes, EMBED_POINTS) for part in (train, test))
        started = time.perf_counter()
        train_embeddings = extractor.predict(x_train, batch_size=64, verbose=0)
        test_embeddings = extractor.predict(x_test, batch_size=64, verbose=0)
        head = fit_lab_head(train_embeddings, y_train, len(classes), seed)
        predictions = {
            "lab head": np.argmax(head.predict(test_embeddings, verbose=0), axis=1),
            "logistic regression": logistic_regression_predictions(train_embeddings, y_train, test_embeddings),
        }
        head_seconds = time.perf_counter() - started
        # Fine-tuning as in TODO 5: mlp2_3_conv trainable, batch norm frozen (inference mode), lower learning rate.
        extractor.trainable = True
        for layer in extractor.layers:
            layer.trainable = layer.name == "mlp2_3_conv"
        points = keras.Input((None, 3))
        classifier = keras.layers.Dense(len(classes), activation="softmax")
        fine_model = keras.Model(points, classifier(extractor(points)))
        classifier.set_weights(head.layers[-1].get_weights())
        fine_model.compile(keras.optimizers.Adam(FINE_TUNE_LEARNING_RATE), "sparse_categorical_crossentropy",
                           metrics=["accuracy"])  # fmt: skip
        started = time.perf_counter()
        fine_model.fit(x_train[:, : card["points_per_cloud"]], y_train, epochs=FINE_TUNE_EPOCHS, batch_size=32,
                       verbose=0)  # fmt: skip
        predictions["fine-tuned"] = np.argmax(fine_model.predict(x_test, batch_size=64, verbose=0), axis=1)
        fine_seconds = time.perf_counter() - started
        for method, predicted in predictions.items():
            results[method].append(float(np.mean(predicted == y_test)))
            print(f"new classes, split seed {seed} ({len(train)} train, {len(validation)} validation, {len(test)} "
                  f"test; {EMBED_POINTS} points), {method}: {describe(y_test, predicted, classes)}")  # fmt: skip
        print(f"  embeddings + head {head_seconds:.0f} s, fine-tuning {fine_seconds:.0f} s")
    if len(seeds) > 1:
        for method, values in results.items():
            print(f"new classes, {method}, {len(values)} split seeds {seeds}: mean {np.mean(values):.3f} "
                  f"(min {min(values):.3f}, max {max(values):.3f})")  # fmt: skip


def run_transfer(arguments) -> None:
    with real_data_root(arguments):
        card = pretrain.read_card("modelnet10")
        print(f"\n== transfer on real ModelNet10 (train split hold-outs); weights "
              f"{pretrain.weights_path('modelnet10').name} (card: {card['epochs']} epochs, validation accuracy "
              f"{card['validation_accuracy']:.3f})")  # fmt: skip
        build_pointnet = reference_builder()
        keras.utils.set_random_seed(DEFAULT_SEED)
        base_model = build_pointnet(len(card["classes"]))
        base_model.load_weights(pretrain.weights_path("modelnet10"))
        evaluate_base_classes(base_model, card)
        evaluate_transfer(build_pointnet, card, [card["seed"], *range(1, 1 + arguments.extra_splits)])


# --------------------------------------------------------------------------------------------- notebook


def cell_seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return 0.0
    started, ended = (datetime.fromisoformat(timing[k].replace("Z", "+00:00")) for k in
                      ("iopub.execute_input", "shell.execute_reply"))  # fmt: skip
    return (ended - started).total_seconds()


def notebook_version() -> str:
    """The notebook's git blob id, and whether the working copy differs from HEAD (others may be editing it)."""
    path = str(LAB_NOTEBOOK.relative_to(ROOT))
    blob = subprocess.run(["git", "hash-object", path], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", path], cwd=ROOT).returncode != 0
    return f"blob {blob[:10]}{', uncommitted changes' if changed else ', as committed'}"


def run_notebook(arguments) -> None:
    import nbclient
    import nbformat

    print(f"\n== notebook: {LAB_NOTEBOOK.relative_to(ROOT)} ({notebook_version()}) on the synthetic data set, "
          "kernel dlcourse")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-pointnet-nb-") as temporary:
        lab_copy = Path(temporary) / LAB
        shutil.copytree(LAB_NOTEBOOK.parent, lab_copy)
        notebook = nbformat.read(lab_copy / LAB_NOTEBOOK.name, as_version=4)
        client = nbclient.NotebookClient(
            notebook, timeout=900, kernel_name="dlcourse", resources={"metadata": {"path": str(lab_copy)}}
        )
        with environment(COURSE_DATASET=None, COURSE_DATA_DIR=None):
            started = time.perf_counter()
            client.execute()
            total = time.perf_counter() - started
    cells = [(cell_seconds(cell), index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    in_cells = sum(seconds for seconds, _, _ in cells)
    verdict = "within" if total <= NOTEBOOK_GOAL_SECONDS else "OVER"
    print(f"total {total:.1f} s wall (kernel start included; {in_cells:.1f} s in cells): {verdict} the goal of "
          f"{NOTEBOOK_GOAL_SECONDS} s")  # fmt: skip
    print("slowest cells:")
    for seconds, index, cell in sorted(cells, key=lambda row: row[0], reverse=True)[: arguments.slowest]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        print(f"  [{index:>2}] {seconds:6.1f} s  {grade_id:<20} {cell.source.splitlines()[0][:60]}")


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["throughput", "transfer", "notebook", "all"], default="all")
    group = parser.add_argument_group("throughput")
    group.add_argument("--models", default="reference,public", help=f"comma-separated, from {', '.join(MODELS)}")
    group.add_argument("--points", help="comma-separated point counts (default: the lab's, from the card, and 1024)")
    group.add_argument("--jit", choices=["off", "on", "both"], default="both", help="jit_compile (XLA)")
    group.add_argument("--steps", type=int, default=4, help="training steps per timed epoch")
    group.add_argument("--rounds", type=int, default=8, help="timed epochs per model (the median is reported)")
    group.add_argument("--warmup", type=int, default=1, help="untimed epochs per model first (tracing, compiling)")
    group = parser.add_argument_group("transfer")
    group.add_argument("--npz", type=Path, help="real ModelNet10 train split (.npz) to import into a temporary root")
    group.add_argument("--data-dir", type=Path, help="an existing data root holding modelnet10/ (instead of --npz)")
    group.add_argument("--extra-splits", type=int, default=2, help="more split seeds (lab 4 uses the card's seed)")
    group = parser.add_argument_group("notebook")
    group.add_argument("--slowest", type=int, default=5, help="how many of the slowest cells to list")
    arguments = parser.parse_args(argv)
    parts = ["throughput", "transfer", "notebook"] if arguments.part == "all" else [arguments.part]
    for part in parts:
        {"throughput": run_throughput, "transfer": run_transfer, "notebook": run_notebook}[part](arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main())

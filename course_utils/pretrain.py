"""Train the reference PointNet on the base classes and write the shipped weights + JSON card (lab 4).

    python -m course_utils.pretrain --dataset synthetic --minutes 8
    python -m course_utils.pretrain --dataset modelnet10 --minutes 30     # after `data_fetch.py import ...`
    python -m course_utils.pretrain --dataset synthetic --minutes 8 --init-from modelnet10  # start from real weights

The model is not defined here (course_utils never holds an answer): it is built by executing the reference cells
of the solution notebooks (lab 2's blocks, lab 3's orthogonality regularizer, lab 4's ``build_pointnet``), so
the layer names of the weights match the notebook by construction. This needs ``solutions/`` (instructors only).
Weights are stored as float16 (half the size; Keras casts them back to float32 when loading).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from course_utils import data
from course_utils.environment import quiet_tensorflow

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SOLUTIONS = data.repo_root() / "solutions"
TEST_FRACTION = 0.15  # real data without a test split: this hold-out of the train split is the test part
MODEL_CELLS = (
    ("lab2_functional", "blocks"),
    ("lab2_functional", "global_feature"),
    ("lab2_functional", "tnet"),
    ("lab3_regularization", "orthogonal_regularizer"),
    ("lab4_pointnet", "pointnet"),
)


def weights_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"pointnet_base_{dataset}.weights.h5"


def card_path(dataset: str) -> Path:
    return WEIGHTS_DIR / f"pointnet_base_{dataset}.json"


def read_card(dataset: str | None = None) -> dict:
    """The weight card of the pretrained PointNet for ``dataset`` (default: the active data set)."""
    dataset = dataset or data.active_dataset()
    path = card_path(dataset)
    if not path.exists():
        raise FileNotFoundError(f"no pretrained weights for data set '{dataset}' ({path}); see lab 4's README notes")
    return json.loads(path.read_text())


def base_test_samples(card: dict, dataset: str | None = None) -> list:
    """The base classes' test objects for weights with this ``card``: the test split, else the card's hold-out.

    Introduced in lab 4 (validating the weights). Real data imported without a test split: the part of the train
    split that ``pretrain`` held out before training (``test_hold_out`` in the card).
    """
    classes = tuple(card["classes"])
    if "test" in data.read_manifest(dataset)["splits"]:
        return data.list_samples("test", dataset, classes=classes)
    return data.holdout_split(data.list_samples("train", dataset, classes=classes), TEST_FRACTION, card["seed"])[1]


def new_class_splits(seed: int, dataset: str | None = None, validation_fraction: float = 0.2) -> tuple:
    """``(train, validation, test)`` samples of the new classes, as lab 4 uses them.

    The validation part is carved from train (model selection, learning curves); the test part is the test split,
    or, for real data imported without one, a 25 % hold-out of the train split. Introduced in lab 4.
    """
    train = data.list_samples("train", dataset, classes=data.NEW_CLASSES)
    if "test" in data.read_manifest(dataset)["splits"]:
        test = data.list_samples("test", dataset, classes=data.NEW_CLASSES)
    else:
        train, test = data.holdout_split(train, 0.25, seed=seed)
    train, validation = data.holdout_split(train, validation_fraction, seed=seed)
    return train, validation, test


def model_namespace(extra_sources: tuple[str, ...] = ()) -> dict:
    """Execute the reference model cells of the solution notebooks; return their namespace."""
    import keras
    import nbformat

    # the lab 4 cell also builds `base_model` from the weight card: give it the base classes
    namespace: dict = {"keras": keras, "np": np, "card": {"classes": list(data.BASE_CLASSES)}}
    sources = []
    for lab, grade_id in MODEL_CELLS:
        path = SOLUTIONS / lab / f"{lab}.ipynb"
        if not path.exists():
            continue
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nbformat.read(path, as_version=4).cells}
        if grade_id in cells:
            sources.append(cells[grade_id].source)
    for source in (*sources, *extra_sources):
        exec(compile(source, "<reference cell>", "exec"), namespace)
    if "build_pointnet" not in namespace:
        raise RuntimeError("build_pointnet not found: the solution notebooks (solutions/) are needed to pretrain")
    return namespace


def augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angles = rng.uniform(0, 2 * np.pi, len(batch))
    cos, sin = np.cos(angles), np.sin(angles)
    rotations = np.zeros((len(batch), 3, 3), np.float32)
    rotations[:, 0, 0], rotations[:, 0, 1], rotations[:, 1, 0], rotations[:, 1, 1] = cos, -sin, sin, cos
    rotations[:, 2, 2] = 1
    rotated = np.einsum("bnk,bjk->bnj", batch, rotations)
    return (rotated + np.clip(rng.normal(0, 0.01, rotated.shape), -0.05, 0.05)).astype(np.float32)


def pretrain(
    dataset: str,
    minutes: float,
    n_points: int = 256,
    batch_size: int = 32,
    seed: int = 0,
    validation_fraction: float = 0.15,
    namespace: dict | None = None,
    output_dir: Path = WEIGHTS_DIR,
    init_from: str | None = None,
    learning_rate: float = 1e-3,
    halve_every: int = 10,
    max_epochs: int | None = None,
    extra_sources: tuple[str, ...] = (),
) -> dict:
    """Train on the base classes of ``dataset``'s train split for a wall-clock budget; keep the best epoch.

    The learning rate starts at ``learning_rate`` and halves every ``halve_every`` epochs; the card records the
    rate of every epoch actually run, with its losses and accuracies (``history``).
    """
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    namespace = namespace or model_namespace(extra_sources)
    samples = data.list_samples("train", dataset, classes=data.BASE_CLASSES)
    test_hold_out = []
    if "test" not in data.read_manifest(dataset)["splits"]:  # keep a test part that neither training nor selection sees
        samples, test_hold_out = data.holdout_split(samples, TEST_FRACTION, seed=seed)
    train, validation = data.holdout_split(samples, validation_fraction, seed=seed)
    to_base = {data.CLASSES.index(name): index for index, name in enumerate(data.BASE_CLASSES)}
    x_train, y_train = data.load_split(train)
    x_val, y_val = data.load_split(validation, n_points=n_points)
    y_train, y_val = (np.array([to_base[label] for label in y]) for y in (y_train, y_val))

    model = namespace["build_pointnet"](len(data.BASE_CLASSES))
    previous = None
    if init_from:  # continue from shipped weights (same classes, same architecture); read their card first
        previous = read_card(init_from)
        model.load_weights(weights_path(init_from))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + 60 * minutes
    started = time.perf_counter()
    best = {"val_accuracy": -1.0, "epoch": 0}
    epoch = 0
    history = []
    output_dir.mkdir(parents=True, exist_ok=True)
    scratch = output_dir / f".best-{dataset}.weights.h5"
    while time.perf_counter() < deadline and (max_epochs is None or epoch < max_epochs):
        epoch += 1
        rate = learning_rate * 0.5 ** ((epoch - 1) // halve_every)
        model.optimizer.learning_rate.assign(rate)
        order = rng.permutation(len(x_train))
        subsets = np.stack([rng.choice(x_train.shape[1], n_points, replace=False) for _ in order])
        clouds = x_train[order[:, None], subsets]
        fitted = model.fit(augment(clouds, rng), y_train[order], batch_size=batch_size, epochs=1, verbose=0)
        recalibrate_batch_norm(model, clouds, batch_size)
        val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=64, verbose=0)
        elapsed = time.perf_counter() - started
        history.append(
            {
                "epoch": epoch,
                "learning_rate": float(rate),
                "loss": round(float(fitted.history["loss"][0]), 4),
                "accuracy": round(float(fitted.history["accuracy"][0]), 4),
                "val_loss": round(float(val_loss), 4),
                "val_accuracy": round(float(val_accuracy), 4),
                "minutes": round(elapsed / 60, 2),
            }
        )
        print(
            f"epoch {epoch}: lr {rate:.2e} loss {fitted.history['loss'][0]:.3f} "
            f"acc {fitted.history['accuracy'][0]:.3f} val_loss {val_loss:.3f} val_acc {val_accuracy:.3f} "
            f"({elapsed / 60:.1f} min)",
            flush=True,
        )
        if val_accuracy > best["val_accuracy"]:
            best = {"val_accuracy": float(val_accuracy), "epoch": epoch}
            model.save_weights(scratch)
    model.load_weights(scratch)
    orthogonality = feature_transform_residuals(model, x_val)
    target = output_dir / weights_path(dataset).name
    write_half_precision(scratch, target)
    scratch.unlink()
    manifest = data.read_manifest(dataset)
    card = {
        "model": "PointNet classifier (input T-Net 3x3, shared MLP 64-64, feature T-Net 64x64 with orthogonality "
        "regularizer 0.001, shared MLP 64-128-1024, global max pool, 512-256 with batch norm and dropout 0.3)",
        "classes": list(data.BASE_CLASSES),
        "points_per_cloud": n_points,
        "dataset": dataset,
        "data_source": manifest["source"],
        "train_objects": len(train),
        "validation_objects": len(validation),
        "test_hold_out_objects": len(test_hold_out),
        "test_hold_out": f"data.holdout_split(train split, {TEST_FRACTION}, seed={seed})[1]: never used for "
        "training or selection (lab 4 evaluates on it)"
        if test_hold_out
        else "none: the data set has a test split",
        "validation": f"stratified {validation_fraction:.0%} hold-out of the rest of the train split (holdout_split "
        f"seed {seed}), picks the best epoch",
        "seed": seed,
        "epochs": epoch,
        "best_epoch": best["epoch"],
        "validation_accuracy": round(best["val_accuracy"], 4),
        "training_minutes": round((time.perf_counter() - started) / 60, 1),
        "optimizer": f"Adam, learning rate {learning_rate:g} halved every {halve_every} epochs (per epoch in "
        f"history), batch {batch_size}, rotation about z + clipped jitter augmentation, {n_points} random points "
        "of each cloud per epoch; batch-norm statistics re-estimated after every epoch",
        "orthogonality_penalty": "0.001 x batch mean of ||I - A A^T||_F^2 of the feature T-Net's matrix A",
        "feature_transform_residual": {
            "what": "||I - A A^T||_F^2 of the feature T-Net on the validation objects (best epoch)",
            "median": round(float(np.median(orthogonality)), 3),
            "max": round(float(np.max(orthogonality)), 3),
        },
        "weights_file": target.name,
        "weights_dtype": "float16",
        "initialised_from": f"pointnet_base_{init_from} weights (see previous_training)"
        if init_from
        else "random (He/Glorot) initialisation",
        "history": history,
    }
    if card_path(dataset).exists() and "from_scratch_new_classes" in read_card(dataset):
        # lab 4's from-scratch run does not depend on these weights: keep the one recorded before
        card["from_scratch_new_classes"] = read_card(dataset)["from_scratch_new_classes"]
    if previous is not None:
        card["previous_training"] = {
            key: previous[key]
            for key in ("dataset", "points_per_cloud", "epochs", "best_epoch", "validation_accuracy", "optimizer",
                        "orthogonality_penalty", "initialised_from", "training_minutes")
            if key in previous
        }  # fmt: skip
    (output_dir / card_path(dataset).name).write_text(json.dumps(card, indent=1) + "\n")
    return card


def record_scratch_run(
    dataset: str, minutes: float, n_points: int = 256, batch_size: int = 32, max_epochs: int | None = None
) -> dict:
    """Train lab 4's network from scratch on the new classes and record its curve in ``dataset``'s weight card.

    Same splits as lab 4 (``new_class_splits``), Adam 1e-3, rotation + jitter augmentation, batch-norm statistics
    re-estimated after every epoch (inference mode is not judged with lagging moving averages); the test split is
    scored once, with the epoch of the best validation accuracy. Lab 4 plots the curve beside its transfer result.
    """
    quiet_tensorflow()
    import keras

    card = read_card(dataset)
    keras.utils.set_random_seed(card["seed"])
    namespace = model_namespace()
    splits = new_class_splits(card["seed"], dataset)
    to_new = {data.CLASSES.index(name): index for index, name in enumerate(data.NEW_CLASSES)}
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (data.load_split(part) for part in splits)
    y_train, y_val, y_test = (np.array([to_new[label] for label in y]) for y in (y_train, y_val, y_test))
    x_val, x_test = x_val[:, :n_points], x_test[:, :n_points]
    model = namespace["build_pointnet"](len(data.NEW_CLASSES))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(card["seed"])
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started, cpu_started = time.perf_counter(), time.process_time()
    history, best, best_weights, epoch = [], -1.0, None, 0
    while time.perf_counter() - started < 60 * minutes and (max_epochs is None or epoch < max_epochs):
        epoch += 1
        subsets = np.stack([rng.choice(x_train.shape[1], n_points, replace=False) for _ in range(len(x_train))])
        clouds = x_train[np.arange(len(x_train))[:, None], subsets]
        fitted = model.fit(augment(clouds, rng), y_train, batch_size=batch_size, epochs=1, verbose=0)
        recalibrate_batch_norm(model, clouds, batch_size)
        val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=64, verbose=0)
        history.append(
            {
                "epoch": epoch,
                "accuracy": round(float(fitted.history["accuracy"][0]), 4),
                "val_accuracy": round(float(val_accuracy), 4),
                "minutes": round((time.perf_counter() - started) / 60, 2),
                "cpu_minutes": round((time.process_time() - cpu_started) / 60, 2),
            }
        )
        print(f"from scratch, epoch {epoch}: {history[-1]}", flush=True)
        if val_accuracy > best:
            best, best_weights = float(val_accuracy), model.get_weights()
    model.set_weights(best_weights)
    _, test_accuracy = model.evaluate(x_test, y_test, batch_size=64, verbose=0)
    card["from_scratch_new_classes"] = {
        "what": "lab 4's network trained from scratch on the new classes (lab 4's train split, validation split "
        "for the best epoch, test split once); batch-norm statistics re-estimated after every epoch",
        "points_per_cloud": n_points,
        "optimizer": f"Adam 1e-3, batch {batch_size}, rotation about z + clipped jitter augmentation",
        "cpu_cores": os.cpu_count(),
        "load_average_before": None if load_before is None else round(load_before, 2),
        "minutes": "wall-clock minutes since the start (other jobs slow them down); cpu_minutes: this process's CPU "
        "time, all cores together",
        "epochs": epoch,
        "best_epoch": 1 + max(range(len(history)), key=lambda index: history[index]["val_accuracy"]),
        "test_accuracy": round(float(test_accuracy), 4),
        "history": history,
    }
    path = card_path(dataset)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(card, indent=1) + "\n")
    os.replace(temporary, path)
    return card["from_scratch_new_classes"]


def feature_transform_residuals(model, clouds: np.ndarray) -> np.ndarray:
    """||I - A A^T||_F^2 of the feature T-Net's matrix A for every cloud (inference mode)."""
    import keras

    matrices = keras.Model(model.input, model.get_layer("feature_tnet_matrix").output).predict(
        clouds, batch_size=64, verbose=0
    )
    products = np.einsum("bij,bkj->bik", matrices, matrices)
    return np.sum((np.eye(matrices.shape[-1]) - products) ** 2, axis=(1, 2))


def recalibrate_batch_norm(model, clouds: np.ndarray, batch_size: int, batches: int = 40) -> None:
    """Re-estimate batch-norm moving statistics from training data (forward passes only, no weight update).

    With few steps per epoch the moving averages (momentum 0.99) lag far behind the weights: training accuracy is
    high while inference-mode accuracy stays at chance. A faster average over fresh batches fixes that.
    """
    import keras

    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.8
    for start in range(0, min(len(clouds), batches * batch_size), batch_size):
        model(clouds[start : start + batch_size], training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def write_half_precision(source: Path, target: Path) -> None:
    """Copy a .weights.h5 file with every float32 array stored as float16 (Keras casts back on load)."""
    import h5py

    temporary = target.with_suffix(".tmp")
    with h5py.File(source, "r") as reader, h5py.File(temporary, "w") as writer:

        def copy(name, item):
            if name.split("/")[0] == "optimizer":  # optimizer state is not part of the shipped weights
                return
            if isinstance(item, h5py.Dataset):
                values = item[()]
                if isinstance(values, np.ndarray) and values.dtype == np.float32:
                    values = values.astype(np.float16)
                writer.create_dataset(name, data=values)
            else:
                writer.require_group(name)
            for key, value in item.attrs.items():
                writer[name].attrs[key] = value

        reader.visititems(copy)
        for key, value in reader.attrs.items():
            writer.attrs[key] = value
    os.replace(temporary, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=data.active_dataset())
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init-from", help="start from the shipped weights of this data set (fine-tuning)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--halve-every", type=int, default=10, help="halve the learning rate every N epochs")
    parser.add_argument("--max-epochs", type=int, help="stop after N epochs even if time is left")
    parser.add_argument("--output-dir", type=Path, default=WEIGHTS_DIR, help="where to write weights and card")
    parser.add_argument(
        "--extra-source", type=Path, action="append", default=[], help="Python file executed after the reference "
        "cells (e.g. a corrected class); say so in the commit that ships the weights",
    )  # fmt: skip
    parser.add_argument("--scratch-run", action="store_true", help="record lab 4's from-scratch run in the card")
    args = parser.parse_args()
    if args.scratch_run:
        print(json.dumps(record_scratch_run(args.dataset, args.minutes, args.points, max_epochs=args.max_epochs)))
        return
    card = pretrain(
        args.dataset,
        args.minutes,
        args.points,
        seed=args.seed,
        init_from=args.init_from,
        learning_rate=args.learning_rate,
        halve_every=args.halve_every,
        max_epochs=args.max_epochs,
        extra_sources=tuple(path.read_text() for path in args.extra_source),
        output_dir=args.output_dir,
    )
    print(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()

"""Train the reference PointNet on the base classes and write the shipped weights + JSON card (lab 4).

    python -m course_utils.pretrain --dataset synthetic --minutes 8
    python -m course_utils.pretrain --dataset modelnet10 --minutes 30     # after `data_fetch.py import ...`

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
) -> dict:
    """Train on the base classes of ``dataset``'s train split for a wall-clock budget; keep the best epoch."""
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    namespace = namespace or model_namespace()
    samples = data.list_samples("train", dataset, classes=data.BASE_CLASSES)
    train, validation = data.holdout_split(samples, validation_fraction, seed=seed)
    to_base = {data.CLASSES.index(name): index for index, name in enumerate(data.BASE_CLASSES)}
    x_train, y_train = data.load_split(train)
    x_val, y_val = data.load_split(validation, n_points=n_points)
    y_train, y_val = (np.array([to_base[label] for label in y]) for y in (y_train, y_val))

    model = namespace["build_pointnet"](len(data.BASE_CLASSES))
    if init_from:  # fine-tune from another data set's shipped weights (same classes, same architecture)
        model.load_weights(weights_path(init_from))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True,
    )
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + 60 * minutes
    started = time.perf_counter()
    best = {"val_accuracy": -1.0, "epoch": 0}
    epoch = 0
    output_dir.mkdir(parents=True, exist_ok=True)
    scratch = output_dir / f".best-{dataset}.weights.h5"
    while time.perf_counter() < deadline:
        epoch += 1
        if epoch == 15:
            model.optimizer.learning_rate.assign(3e-4)
        order = rng.permutation(len(x_train))
        subsets = np.stack([rng.choice(x_train.shape[1], n_points, replace=False) for _ in order])
        clouds = x_train[order[:, None], subsets]
        history = model.fit(augment(clouds, rng), y_train[order], batch_size=batch_size, epochs=1, verbose=0)
        recalibrate_batch_norm(model, clouds, batch_size)
        val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=64, verbose=0)
        elapsed = time.perf_counter() - started
        print(
            f"epoch {epoch}: loss {history.history['loss'][0]:.3f} acc {history.history['accuracy'][0]:.3f} "
            f"val_loss {val_loss:.3f} val_acc {val_accuracy:.3f} ({elapsed / 60:.1f} min)",
            flush=True,
        )
        if val_accuracy > best["val_accuracy"]:
            best = {"val_accuracy": float(val_accuracy), "epoch": epoch}
            model.save_weights(scratch)
    model.load_weights(scratch)
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
        "validation": f"stratified {validation_fraction:.0%} hold-out of the train split (holdout_split seed {seed})",
        "seed": seed,
        "epochs": epoch,
        "best_epoch": best["epoch"],
        "validation_accuracy": round(best["val_accuracy"], 4),
        "training_minutes": round((time.perf_counter() - started) / 60, 1),
        "optimizer": "Adam 1e-3 (3e-4 from epoch 15), batch 32, rotation about z + clipped jitter augmentation",
        "weights_file": target.name,
        "weights_dtype": "float16",
        "initialised_from": f"pointnet_base_{init_from} weights" if init_from else "random (He/Glorot) initialisation",
    }
    (output_dir / card_path(dataset).name).write_text(json.dumps(card, indent=1) + "\n")
    return card


def recalibrate_batch_norm(model, clouds: np.ndarray, batch_size: int, batches: int = 40) -> None:
    """Re-estimate batch-norm moving statistics from training data (forward passes only, no weight update).

    With few steps per epoch the moving averages (momentum 0.99) lag far behind the weights: training accuracy is
    high while inference-mode accuracy stays at chance. A faster average over fresh batches fixes that.
    """
    import keras

    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
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
    args = parser.parse_args()
    card = pretrain(args.dataset, args.minutes, args.points, seed=args.seed, init_from=args.init_from)
    print(json.dumps(card, indent=1))


if __name__ == "__main__":
    main()

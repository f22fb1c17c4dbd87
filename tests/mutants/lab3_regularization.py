"""Plausible wrong answers to lab 3's TODOs; each must be caught by the named test cells."""

from . import Mutant

ORTHO_BODY = """\
        matrices = keras.ops.reshape(x, (-1, self.k, self.k))
        products = keras.ops.einsum("bij,bkj->bik", matrices, matrices)  # A A^T for every sample
        residual = keras.ops.eye(self.k) - products
        per_sample = keras.ops.sum(keras.ops.square(residual), axis=(1, 2))
        return self.weight * keras.ops.sum(per_sample)  # Keras divides by the batch size: the loss is the mean
"""
KERAS_IO_BODY = """\
        x = keras.ops.reshape(x, (-1, self.k, self.k))
        xxt = keras.ops.tensordot(x, x, axes=(2, 2))
        xxt = keras.ops.reshape(xxt, (-1, self.k, self.k))
        return keras.ops.sum(self.weight * keras.ops.square(xxt - keras.ops.eye(self.k)))
"""
ORTHO_CELL = (
    '@keras.saving.register_keras_serializable(package="course")\n'
    "class OrthogonalRegularizer(keras.regularizers.Regularizer):\n"
    "    def __init__(self, k: int, weight: float = 0.001):\n"
    "        self.k = k\n"
    "        self.weight = weight\n\n"
    "    def __call__(self, x):\n" + ORTHO_BODY + "\n"
    "    def get_config(self):\n"
    '        return {"k": self.k, "weight": self.weight}\n'
)

MUTANTS = [
    Mutant(
        name="l2_missing_half",
        cell="penalties",
        replace=[("alpha * 0.5 * np.sum(np.square(w))", "alpha * np.sum(np.square(w))")],
        caught_by=["test_penalties"],
    ),
    Mutant(
        name="l2_mean_instead_of_sum",
        cell="penalties",
        replace=[("alpha * 0.5 * np.sum(np.square(w))", "alpha * 0.5 * np.mean(np.square(w))")],
        caught_by=["test_penalties"],
    ),
    Mutant(
        name="l1_mean_instead_of_sum",
        cell="penalties",
        replace=[("alpha * np.sum(np.abs(w))", "alpha * np.mean(np.abs(w))")],
        caught_by=["test_penalties"],
    ),
    Mutant(
        name="l1_squares",
        cell="penalties",
        replace=[("alpha * np.sum(np.abs(w))", "alpha * np.sum(np.square(w))")],
        caught_by=["test_penalties"],
    ),
    Mutant(
        name="toy_without_abs",
        cell="custom_regularizer",
        replace=[("0.01 * keras.ops.abs(keras.ops.sum(w) - 42.0)", "0.01 * (keras.ops.sum(w) - 42.0)")],
        caught_by=["test_custom_regularizer"],
    ),
    Mutant(
        name="class_ignores_strength",
        cell="custom_regularizer",
        replace=[("return self.strength * keras.ops.abs", "return 0.01 * keras.ops.abs")],
        caught_by=["test_custom_regularizer"],
    ),
    Mutant(
        name="no_get_config",
        cell="custom_regularizer",
        replace=[('        return {"strength": self.strength}', "        return {}")],
        caught_by=["test_custom_regularizer"],
    ),
    Mutant(
        name="ortho_batch_wide_tensordot",
        cell="orthogonal_regularizer",
        replace=[
            (
                'products = keras.ops.einsum("bij,bkj->bik", matrices, matrices)',
                "products = keras.ops.tensordot(matrices, matrices, axes=(2, 2))",
            )
        ],
        caught_by=["test_orthogonal_regularizer", "test_orthogonal_in_model"],
    ),
    Mutant(
        name="ortho_keras_io_example",  # keras-io's PointNet: batch-wide tensordot, reshaped back to (-1, k, k)
        cell="orthogonal_regularizer",
        source=ORTHO_CELL.replace(ORTHO_BODY, KERAS_IO_BODY),
        caught_by=["test_orthogonal_regularizer", "test_orthogonal_in_model"],
    ),
    Mutant(
        name="ortho_mean_over_batch",  # the lab's old definition: Keras divides it by B a second time
        cell="orthogonal_regularizer",
        replace=[("self.weight * keras.ops.sum(per_sample)", "self.weight * keras.ops.mean(per_sample)")],
        caught_by=["test_orthogonal_regularizer", "test_orthogonal_in_model"],
    ),
    Mutant(
        name="ortho_divides_by_batch_size_itself",
        cell="orthogonal_regularizer",
        replace=[
            (
                "self.weight * keras.ops.sum(per_sample)",
                "self.weight * keras.ops.sum(per_sample) / keras.ops.cast(keras.ops.shape(x)[0], x.dtype)",
            )
        ],
        caught_by=["test_orthogonal_regularizer", "test_orthogonal_in_model"],
    ),
    Mutant(
        name="ortho_without_weight",
        cell="orthogonal_regularizer",
        replace=[("return self.weight * keras.ops.sum(per_sample)", "return keras.ops.sum(per_sample)")],
        caught_by=["test_orthogonal_regularizer"],
    ),
    Mutant(
        name="ortho_abs_not_square",
        cell="orthogonal_regularizer",
        replace=[("keras.ops.square(residual)", "keras.ops.abs(residual)")],
        caught_by=["test_orthogonal_regularizer"],
    ),
    Mutant(
        name="ortho_a_transpose_a_plus_identity",  # I + A A^T instead of I - A A^T
        cell="orthogonal_regularizer",
        replace=[("residual = keras.ops.eye(self.k) - products", "residual = keras.ops.eye(self.k) + products")],
        caught_by=["test_orthogonal_regularizer"],
    ),
    Mutant(
        name="ortho_no_get_config",
        cell="orthogonal_regularizer",
        replace=[('        return {"k": self.k, "weight": self.weight}', "        return {}")],
        caught_by=["test_orthogonal_config"],
    ),
    Mutant(
        name="ortho_config_drops_weight",
        cell="orthogonal_regularizer",
        replace=[('        return {"k": self.k, "weight": self.weight}', '        return {"k": self.k}')],
        caught_by=["test_orthogonal_config"],
    ),
    Mutant(
        name="early_stopping_without_restore",
        cell="classifier",
        replace=[("patience=10, restore_best_weights=True)", "patience=10)")],
        rerun=["run_early_stopping"],
        caught_by=["test_experiments"],
    ),
    Mutant(
        name="early_stopping_on_training_loss",
        cell="classifier",
        replace=[('EarlyStopping(monitor="val_loss"', 'EarlyStopping(monitor="loss"')],
        caught_by=["test_experiments"],
    ),
    Mutant(
        name="regularizer_ignored",
        cell="classifier",
        replace=[
            (
                'keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)',
                'keras.layers.Dense(256, activation="relu")',
            )
        ],
        caught_by=["test_experiments"],
    ),
    Mutant(
        name="dropout_ignored",
        cell="classifier",
        replace=[("        if dropout > 0:\n            x = keras.layers.Dropout(dropout)(x)\n", "")],
        caught_by=["test_experiments"],
    ),
    Mutant(
        name="stats_of_preactivation",
        cell="forward_statistics",
        replace=[
            (
                "means.append(h.mean())\n        stds.append(h.std())",
                "means.append(z.mean())\n        stds.append(z.std())",
            )
        ],
        caught_by=["test_forward_statistics"],
    ),
    Mutant(
        name="batch_norm_over_units",
        cell="forward_statistics",
        replace=[
            (
                "(z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)",
                "(z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + 1e-5)",
            )
        ],
        caught_by=["test_forward_statistics"],
    ),
    Mutant(
        name="batch_norm_after_activation",
        cell="forward_statistics",
        replace=[
            (
                "        if batch_norm:\n"
                "            z = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)\n"
                "        h = activation(z)",
                "        h = activation(z)\n"
                "        if batch_norm:\n"
                "            h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-5)",
            )
        ],
        caught_by=["test_forward_statistics"],
    ),
]

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
DENSE = 'x = keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)(x)'
BLOCK = """\
        x = keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
"""
FIT = "model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=max_epochs"


def _penalty(name, old, new, test):
    return Mutant(name=name, cell="penalties", replace=[(old, new)], caught_by=[test])


def _classifier(name, old, new, *tests):
    return Mutant(name=name, cell="classifier", replace=[(old, new)], caught_by=list(tests))


def _early(name, old, new):
    return Mutant(
        name=name, cell="early_stopping", replace=[(old, new)], rerun=["run_early_stopping"],
        caught_by=["test_early_stopping"],
    )  # fmt: skip


def _statistics(name, old, new):
    return Mutant(name=name, cell="forward_statistics", replace=[(old, new)], caught_by=["test_forward_statistics"])


L2 = "alpha * 0.5 * np.sum(np.square(w))"
L1 = "alpha * np.sum(np.abs(w))"
TOY = "0.01 * keras.ops.abs(keras.ops.sum(w) - 42.0)"
NORMALISE = "(z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)"

MUTANTS = [
    # TODO 1: penalties
    _penalty("l2_missing_half", L2, "alpha * np.sum(np.square(w))", "test_l2_penalty"),
    _penalty("l2_mean_instead_of_sum", L2, "alpha * 0.5 * np.mean(np.square(w))", "test_l2_penalty"),
    _penalty("l1_abs_of_sum", L1, "alpha * np.abs(np.sum(w))", "test_l1_penalty"),
    _penalty("l1_squares", L1, "alpha * np.sum(np.square(w))", "test_l1_penalty"),
    # TODO 2: sum_to_42 and SumTo42
    Mutant(
        name="toy_without_abs",
        cell="custom_regularizer",
        replace=[(TOY, "0.01 * (keras.ops.sum(w) - 42.0)")],
        caught_by=["test_sum_to_42"],
    ),  # fmt: skip
    Mutant(
        name="toy_abs_of_each_weight",  # |sum |w|| - 42: right for weights >= 0 only
        cell="custom_regularizer",
        replace=[(TOY, "0.01 * keras.ops.abs(keras.ops.sum(keras.ops.abs(w)) - 42.0)")],
        caught_by=["test_sum_to_42"],
    ),
    Mutant(
        name="toy_numpy_crashes_in_fit",  # right on arrays, fails on the symbolic tensors of model.fit
        cell="custom_regularizer",
        replace=[(TOY, "0.01 * np.abs(np.sum(w) - 42.0)")],
        caught_by=["test_sum_to_42"],
    ),
    Mutant(
        name="class_without_abs",
        cell="custom_regularizer",
        replace=[
            ("self.strength * keras.ops.abs(keras.ops.sum(w) - 42.0)", "self.strength * (keras.ops.sum(w) - 42.0)")
        ],
        caught_by=["test_sum_to_42_class"],
    ),
    Mutant(
        name="class_ignores_strength",
        cell="custom_regularizer",
        replace=[("return self.strength * keras.ops.abs", "return 0.01 * keras.ops.abs")],
        caught_by=["test_sum_to_42_class"],
    ),
    Mutant(
        name="no_get_config",
        cell="custom_regularizer",
        replace=[('        return {"strength": self.strength}', "        return {}")],
        caught_by=["test_sum_to_42_saving"],
    ),
    # TODO 3: the orthogonality penalty
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
        replace=[(ORTHO_BODY, KERAS_IO_BODY)],
        caught_by=["test_orthogonal_regularizer", "test_orthogonal_in_model"],
    ),
    Mutant(
        name="ortho_mean_over_batch",  # the lab's old definition: Keras divides it by B a second time
        cell="orthogonal_regularizer",
        replace=[("self.weight * keras.ops.sum(per_sample)", "self.weight * keras.ops.mean(per_sample)")],
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
        name="ortho_config_drops_weight",
        cell="orthogonal_regularizer",
        replace=[('        return {"k": self.k, "weight": self.weight}', '        return {"k": self.k}')],
        caught_by=["test_orthogonal_config"],
    ),
    # TODO 4: build_classifier (wiring, activations, sizes, modes, compile)
    _classifier("linear_hidden_layers", DENSE, DENSE.replace('activation="relu", ', ""), "test_classifier_forward"),
    _classifier(
        "output_without_softmax",
        'keras.layers.Dense(n_classes, activation="softmax")(x)',
        "keras.layers.Dense(n_classes)(x)",
        "test_classifier_forward",
    ),  # fmt: skip
    _classifier(
        "from_logits_on_softmax_outputs",
        'loss="sparse_categorical_crossentropy"',
        "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
        "test_classifier_compile",
    ),  # fmt: skip
    _classifier(
        "hard_coded_24_features",
        "keras.Input(shape=(n_features,))",
        "keras.Input(shape=(24,))",
        "test_classifier_forward",
    ),  # fmt: skip
    _classifier(
        "hard_coded_10_classes", "keras.layers.Dense(n_classes,", "keras.layers.Dense(10,", "test_classifier_forward"
    ),
    _classifier(
        "regularizer_ignored",
        DENSE,
        DENSE.replace(", kernel_regularizer=kernel_regularizer", ""),
        "test_classifier_regularizer",
    ),  # fmt: skip
    _classifier(
        "regularizer_on_output_too",
        'keras.layers.Dense(n_classes, activation="softmax")(x)',
        'keras.layers.Dense(n_classes, activation="softmax", kernel_regularizer=kernel_regularizer)(x)',
        "test_classifier_regularizer",
    ),  # fmt: skip
    _classifier(
        "batch_norm_before_relu",
        BLOCK,
        BLOCK.replace(DENSE, "x = keras.layers.Dense(256, kernel_regularizer=kernel_regularizer)(x)").replace(
            "            x = keras.layers.BatchNormalization()(x)\n",
            "            x = keras.layers.BatchNormalization()(x)\n        x = keras.layers.ReLU()(x)\n",
        ),
        "test_classifier_batch_norm",
    ),
    _classifier(
        "batch_norm_frozen",  # Keras 3: trainable=False runs batch norm in inference mode, also inside fit
        "keras.layers.BatchNormalization()(x)",
        "keras.layers.BatchNormalization(trainable=False)(x)",
        "test_classifier_batch_norm",
    ),
    _classifier(
        "dropout_ignored",
        "        if dropout > 0:\n            x = keras.layers.Dropout(dropout)(x)\n",
        "",
        "test_classifier_dropout",
    ),
    _classifier(
        "dropout_before_batch_norm",
        BLOCK,
        '        x = keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)(x)\n'
        "        if dropout > 0:\n            x = keras.layers.Dropout(dropout)(x)\n"
        "        if batch_norm:\n            x = keras.layers.BatchNormalization()(x)\n",
        "test_classifier_dropout",
    ),
    _classifier(
        "sgd_optimizer", "keras.optimizers.Adam(1e-3)", "keras.optimizers.SGD(1e-3)", "test_classifier_compile"
    ),
    # TODO 5: early stopping, selected on the validation split
    _early("early_stopping_without_restore", "patience=10, restore_best_weights=True)", "patience=10)"),
    _early("early_stopping_on_training_loss", 'EarlyStopping(monitor="val_loss"', 'EarlyStopping(monitor="loss"'),
    _early("patience_5", "patience=10", "patience=5"),
    _early("selects_on_the_test_split", "validation_data=(x_val, y_val)", "validation_data=(x_test, test_labels)"),
    _early("epochs_hard_coded", "epochs=max_epochs", "epochs=300"),
    # TODO 6: forward statistics
    _statistics(
        "stats_of_preactivation",
        "means.append(h.mean())\n        stds.append(h.std())",
        "means.append(z.mean())\n        stds.append(z.std())",
    ),  # fmt: skip
    _statistics(
        "batch_norm_over_units",
        NORMALISE,
        "(z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + 1e-5)",
    ),  # fmt: skip
    _statistics(
        "batch_norm_after_activation",
        "        if batch_norm:\n            z = " + NORMALISE + "\n        h = activation(z)",
        "        h = activation(z)\n"
        "        if batch_norm:\n"
        "            h = (h - h.mean(axis=0)) / np.sqrt(h.var(axis=0) + 1e-5)",
    ),
    _statistics("batch_norm_sample_variance", "z.var(axis=0)", "z.var(axis=0, ddof=1)"),
    _statistics("layers_not_chained", "z = h @ w", "z = x @ w"),
]

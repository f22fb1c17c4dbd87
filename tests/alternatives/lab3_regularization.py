"""Correct answers to lab 3's TODOs written otherwise than the reference; each must keep every point."""

from . import Alternative

L2 = "return float(alpha * 0.5 * np.sum(np.square(w)))"
L1 = "return float(alpha * np.sum(np.abs(w)))"
TOY = "return 0.01 * keras.ops.abs(keras.ops.sum(w) - 42.0)"
TOY_CLASS = "return self.strength * keras.ops.abs(keras.ops.sum(w) - 42.0)"
PRODUCTS = 'products = keras.ops.einsum("bij,bkj->bik", matrices, matrices)'
COMPILE = (
    'model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])'
)
EARLY = 'return keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)'
FIT = """\
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=max_epochs, batch_size=32,
                        verbose=0, callbacks=[make_early_stopping()])
    return history.history
"""
NORMALISE = "z = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)"
REFERENCE_STATISTICS = '''\
def forward_statistics(x, weights, activation, batch_norm: bool = False):
    """Per-layer (means, stds) of the outputs of a deep net of weight matrices `weights`."""
    means, stds = [], []
    h = x
    ### BEGIN SOLUTION
    for w in weights:
        z = h @ w
        if batch_norm:
            z = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)
        h = activation(z)
        means.append(h.mean())
        stds.append(h.std())
    ### END SOLUTION
    return np.array(means), np.array(stds)'''

SEQUENTIAL = """\
def build_classifier(n_features, n_classes, kernel_regularizer=None, dropout=0.0, batch_norm=False):
    model = keras.Sequential([keras.Input(shape=(n_features,))])
    for _ in range(2):
        model.add(keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer))
        if batch_norm:
            model.add(keras.layers.BatchNormalization())
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(n_classes, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""
HELPER = """\
def _hidden_block(x, regularizer, rate, normalise):
    x = keras.layers.Dense(256, activation="relu", kernel_regularizer=regularizer)(x)
    x = keras.layers.BatchNormalization()(x) if normalise else x
    return keras.layers.Dropout(rate)(x) if rate > 0 else x


def build_classifier(n_features, n_classes, kernel_regularizer=None, dropout=0.0, batch_norm=False):
    features = keras.Input(shape=(n_features,), name="features")
    hidden = _hidden_block(_hidden_block(features, kernel_regularizer, dropout, batch_norm), kernel_regularizer,
                           dropout, batch_norm)
    probabilities = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(hidden)
    classifier = keras.Model(features, probabilities, name="classifier")
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return classifier
"""
UNROLLED = """\
import tensorflow as tf


def build_classifier(n_features, n_classes, kernel_regularizer=None, dropout=0.0, batch_norm=False):
    inputs = keras.Input(shape=(n_features,))
    h1 = keras.layers.Dense(256, activation=tf.nn.relu, kernel_regularizer=kernel_regularizer, name="hidden_1")(inputs)
    if batch_norm:
        h1 = keras.layers.BatchNormalization(name="norm_1")(h1)
    if dropout:
        h1 = keras.layers.Dropout(rate=dropout, name="drop_1")(h1)
    h2 = keras.layers.Dense(256, activation=tf.nn.relu, kernel_regularizer=kernel_regularizer, name="hidden_2")(h1)
    if batch_norm:
        h2 = keras.layers.BatchNormalization(name="norm_2")(h2)
    if dropout:
        h2 = keras.layers.Dropout(rate=dropout, name="drop_2")(h2)
    outputs = keras.layers.Dense(n_classes, activation=keras.activations.softmax, name="output")(h2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model
"""
SUBCLASS_EARLY = '''\
class BestEpochStopping(keras.callbacks.EarlyStopping):
    """Early stopping on the validation loss that goes back to the best epoch."""

    def __init__(self):
        super().__init__(monitor="val_loss", mode="min", min_delta=0.0, patience=10, restore_best_weights=True)


def make_early_stopping():
    return BestEpochStopping()


def fit_with_early_stopping(model, x_train, y_train, x_val, y_val, max_epochs):
    callbacks = [make_early_stopping()]
    result = model.fit(x=x_train, y=y_train, batch_size=32, epochs=max_epochs, validation_data=(x_val, y_val),
                       callbacks=callbacks, verbose=0, shuffle=True)
    return dict(result.history)
'''
STATISTICS_HELPER = """\
def _normalise_over_batch(z, eps=1e-5):
    centred = z - np.mean(z, axis=0, keepdims=True)
    return centred / np.sqrt(np.mean(centred**2, axis=0, keepdims=True) + eps)


def forward_statistics(x, weights, activation, batch_norm=False):
    outputs = []
    h = x
    for w in weights:
        z = np.matmul(h, w)
        h = activation(_normalise_over_batch(z) if batch_norm else z)
        outputs.append(h)
    return np.array([np.mean(o) for o in outputs]), np.array([np.sqrt(np.var(o)) for o in outputs])
"""


def _alt(name, cell, why, *edits, rerun=()):
    return Alternative(name=name, cell=cell, why=why, replace=list(edits), rerun=list(rerun))


ALTERNATIVES = [
    # TODO 1: penalties
    _alt(
        "penalties_numpy_scalars",
        "penalties",
        "returns NumPy scalars (np.float32 for float32 weights), not floats",
        (L2, "return alpha * 0.5 * np.sum(np.square(w))"),
        (L1, "return alpha * np.sum(np.abs(w))"),
    ),
    _alt(
        "penalties_vdot_and_norm",
        "penalties",
        "np.vdot and np.linalg.norm(ord=1) on the flattened weights",
        (L2, "return 0.5 * alpha * np.vdot(w, w)"),
        (L1, "return alpha * np.linalg.norm(np.ravel(w), 1)"),
    ),
    _alt(
        "penalties_keras_ops",
        "penalties",
        "keras.ops instead of NumPy (returns a scalar tensor)",
        (L2, "return keras.ops.sum(keras.ops.square(w)) * alpha / 2"),
        (L1, "return keras.ops.sum(keras.ops.abs(w)) * alpha"),
    ),
    _alt(
        "penalties_float32_arithmetic",
        "penalties",
        "computes in float32",
        (L2, "return np.float32(alpha) * np.float32(0.5) * np.sum(np.square(np.asarray(w, np.float32)))"),
        (L1, "return np.float32(alpha) * np.sum(np.abs(np.asarray(w, np.float32)))"),
    ),
    _alt(
        "penalties_python_sum",
        "penalties",
        "Python sums over the flattened weights",
        (L2, "return alpha * sum(float(v) ** 2 for v in np.ravel(w)) / 2"),
        (L1, "return alpha * sum(abs(float(v)) for v in np.ravel(w))"),
    ),
    _alt(
        "penalties_dot_of_flat",
        "penalties",
        "flattens once and uses a dot product and .sum()",
        (L2, "flat = np.asarray(w).reshape(-1)\n    return float(alpha * 0.5 * flat @ flat)"),
        (L1, "return float(alpha * np.abs(np.asarray(w)).sum())"),
    ),
    # TODO 2: sum_to_42 and SumTo42
    _alt(
        "toy_tensorflow_ops",
        "custom_regularizer",
        "tf.abs / tf.reduce_sum instead of keras.ops (fine inside fit)",
        (TOY, "import tensorflow as tf\n\n    return 0.01 * tf.abs(tf.reduce_sum(w) - 42.0)"),
    ),
    _alt(
        "toy_absolute_int",
        "custom_regularizer",
        "keras.ops.absolute and an int 42, factor last",
        (TOY, "return keras.ops.absolute(42 - keras.ops.sum(w)) * 0.01"),
    ),
    _alt(
        "toy_class_calls_helper",
        "custom_regularizer",
        "the class reuses a helper shared with the function",
        (TOY, "return 0.01 * _distance_to_42(w)"),
        (TOY_CLASS, "return self.strength * _distance_to_42(w)"),
        (
            "def sum_to_42(w):",
            "def _distance_to_42(w):\n    return keras.ops.abs(keras.ops.sum(w) - 42.0)\n\n\ndef sum_to_42(w):",
        ),
    ),
    _alt(
        "toy_config_dict_call",
        "custom_regularizer",
        "get_config built with dict(...)",
        ('return {"strength": self.strength}', "return dict(strength=self.strength)"),
    ),
    _alt(
        "toy_explicit_from_config",
        "custom_regularizer",
        "an explicit from_config classmethod",
        (
            '        return {"strength": self.strength}',
            '        return {"strength": self.strength}\n\n    @classmethod\n    def from_config(cls, config):\n'
            '        return cls(strength=config["strength"])',
        ),
    ),
    _alt(
        "toy_float_strength",
        "custom_regularizer",
        "stores the strength as a float, other variable names",
        ("self.strength = strength", "self.strength = float(strength)"),
        (TOY_CLASS, "total = keras.ops.sum(w)\n        return self.strength * keras.ops.abs(total - 42)"),
    ),
    _alt(
        "toy_total_variable",
        "custom_regularizer",
        "the sum in a variable, factor last, 42 as an int",
        (TOY, "total = keras.ops.sum(w)\n    return keras.ops.abs(total - 42) * 0.01"),
    ),
    # TODO 3: the orthogonality penalty
    _alt(
        "ortho_matmul_transpose",
        "orthogonal_regularizer",
        "matmul with the transposed batch instead of einsum",
        (PRODUCTS, "products = keras.ops.matmul(matrices, keras.ops.transpose(matrices, (0, 2, 1)))"),
    ),
    _alt(
        "ortho_sum_over_everything",
        "orthogonal_regularizer",
        "one sum over batch and matrix axes at once",
        (
            "per_sample = keras.ops.sum(keras.ops.square(residual), axis=(1, 2))",
            "per_sample = keras.ops.square(residual)",
        ),
    ),
    _alt(
        "ortho_tensorflow",
        "orthogonal_regularizer",
        "tf.linalg.matmul(transpose_b=True) and tf.reduce_sum",
        (
            PRODUCTS,
            "import tensorflow as tf\n\n        products = tf.linalg.matmul(matrices, matrices, transpose_b=True)",
        ),
        ("return self.weight * keras.ops.sum(per_sample)", "return self.weight * tf.reduce_sum(per_sample)"),
    ),
    _alt(
        "ortho_batch_shape_reshape",
        "orthogonal_regularizer",
        "reshapes with the batch size read from the input",
        ("keras.ops.reshape(x, (-1, self.k, self.k))", "keras.ops.reshape(x, (keras.ops.shape(x)[0], self.k, self.k))"),
    ),
    _alt(
        "ortho_other_einsum_letters",
        "orthogonal_regularizer",
        "einsum with other index letters, eye of the dtype",
        (PRODUCTS, 'products = keras.ops.einsum("nab,ncb->nac", matrices, matrices)'),
        ("keras.ops.eye(self.k)", "keras.ops.eye(self.k, dtype=matrices.dtype)"),
    ),
    _alt(
        "ortho_typed_config",
        "orthogonal_regularizer",
        "get_config casts to int and float",
        ('return {"k": self.k, "weight": self.weight}', 'return {"k": int(self.k), "weight": float(self.weight)}'),
    ),
    # TODO 4: build_classifier
    Alternative(
        name="classifier_sequential", cell="classifier", why="keras.Sequential built with add()", source=SEQUENTIAL
    ),
    Alternative(
        name="classifier_helper_block", cell="classifier", why="a helper per block, named layers, 'adam'", source=HELPER
    ),
    Alternative(
        name="classifier_unrolled_tf_relu",
        cell="classifier",
        why="blocks written out, tf.nn.relu, loss and metric objects, Adam(learning_rate=0.001)",
        source=UNROLLED,
    ),
    _alt(
        "classifier_activation_layers",
        "classifier",
        "Dense without activation + Activation layers",
        (
            'x = keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)(x)',
            "x = keras.layers.Dense(256, kernel_regularizer=kernel_regularizer)(x)\n"
            '        x = keras.layers.Activation("relu")(x)',
        ),
        (
            'outputs = keras.layers.Dense(n_classes, activation="softmax")(x)',
            'outputs = keras.layers.Activation("softmax")(keras.layers.Dense(n_classes)(x))',
        ),
    ),
    _alt(
        "classifier_relu_softmax_layers",
        "classifier",
        "keras.layers.ReLU and keras.layers.Softmax layers",
        (
            'x = keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)(x)',
            "x = keras.layers.ReLU()(keras.layers.Dense(256, kernel_regularizer=kernel_regularizer)(x))",
        ),
        (
            'outputs = keras.layers.Dense(n_classes, activation="softmax")(x)',
            "outputs = keras.layers.Softmax()(keras.layers.Dense(n_classes)(x))",
        ),
    ),
    _alt(
        "classifier_loss_and_metric_objects",
        "classifier",
        "loss and metric objects instead of strings",
        (
            COMPILE,
            "model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),\n"
            "                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),\n"
            '                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])',
        ),
    ),
    _alt(
        "classifier_adam_string",
        "classifier",
        "optimizer='adam' (Keras' default learning rate is 1e-3)",
        ("optimizer=keras.optimizers.Adam(1e-3)", 'optimizer="adam"'),
    ),
    _alt(
        "classifier_truthy_dropout",
        "classifier",
        "`if dropout:` and a rate keyword",
        ("if dropout > 0:", "if dropout:"),
        ("keras.layers.Dropout(dropout)", "keras.layers.Dropout(rate=dropout)"),
    ),
    _alt(
        "classifier_named_layers",
        "classifier",
        "every layer named; Input with a name; model named",
        ("for _ in range(2):", "for block in (1, 2):"),
        (
            'keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer)',
            'keras.layers.Dense(256, activation="relu", kernel_regularizer=kernel_regularizer, name=f"dense_{block}")',
        ),
        ("keras.layers.BatchNormalization()", 'keras.layers.BatchNormalization(name=f"bn_{block}")'),
        ("keras.layers.Dropout(dropout)", 'keras.layers.Dropout(dropout, name=f"dropout_{block}")'),
        ("keras.Model(inputs, outputs)", 'keras.Model(inputs, outputs, name="mlp")'),
    ),
    _alt(
        "classifier_regularizer_object_from_name",
        "classifier",
        "resolves the regularizer once with regularizers.get",
        (
            "    inputs = keras.Input(shape=(n_features,))",
            "    kernel_regularizer = keras.regularizers.get(kernel_regularizer)\n"
            "    inputs = keras.Input(shape=(n_features,))",
        ),
    ),
    _alt(
        "classifier_explicit_defaults",
        "classifier",
        "spells out defaults (epsilon, momentum, use_bias)",
        ("keras.layers.BatchNormalization()", "keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3)"),
        (
            'activation="relu", kernel_regularizer=kernel_regularizer)',
            'activation="relu", use_bias=True, kernel_regularizer=kernel_regularizer)',
        ),
    ),
    # TODO 5: early stopping
    Alternative(
        name="early_stopping_subclass_keywords",
        cell="early_stopping",
        why="an EarlyStopping subclass with explicit mode/min_delta; fit with keywords, dict(history)",
        source=SUBCLASS_EARLY,
        rerun=("run_early_stopping",),
    ),
    _alt(
        "early_stopping_mode_min_verbose",
        "early_stopping",
        "mode='min', verbose=1 (prints when it stops)",
        (
            EARLY,
            'return keras.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=10, verbose=1,\n'
            "                                         restore_best_weights=True)",
        ),
        rerun=("run_early_stopping",),
    ),
    _alt(
        "early_stopping_callbacks_variable",
        "early_stopping",
        "callback in a variable, keyword arguments in another order",
        (
            FIT,
            "    stopper = make_early_stopping()\n"
            "    fitted = model.fit(x=x_train, y=y_train, epochs=max_epochs, batch_size=32, callbacks=[stopper],\n"
            "                       validation_data=(x_val, y_val), verbose=0)\n"
            "    return fitted.history\n",
        ),
        rerun=("run_early_stopping",),
    ),
    _alt(
        "early_stopping_start_from_epoch_zero",
        "early_stopping",
        "spells out start_from_epoch=0 and baseline=None",
        (
            EARLY,
            'return keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True,\n'
            "                                         start_from_epoch=0, baseline=None)",
        ),
        rerun=("run_early_stopping",),
    ),
    # TODO 6: forward statistics
    _alt(
        "statistics_helper_function",
        "forward_statistics",
        "a normalisation helper, np.matmul, std as sqrt(var)",
        (REFERENCE_STATISTICS, STATISTICS_HELPER.rstrip("\n")),
    ),
    _alt(
        "statistics_float32",
        "forward_statistics",
        "float32 arithmetic throughout",
        ("    h = x\n", "    h = np.asarray(x, np.float32)\n"),
        ("z = h @ w", "z = h @ np.asarray(w, np.float32)"),
        (NORMALISE, "z = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + np.float32(1e-5))"),
    ),
    _alt(
        "statistics_einsum_and_keepdims",
        "forward_statistics",
        "einsum for the product, keepdims statistics",
        ("z = h @ w", 'z = np.einsum("nd,de->ne", h, w)'),
        (
            NORMALISE,
            "mu, var = z.mean(axis=0, keepdims=True), z.var(axis=0, keepdims=True)\n"
            "            z = (z - mu) / np.sqrt(var + 1e-5)",
        ),
    ),
    _alt(
        "statistics_np_functions",
        "forward_statistics",
        "np.mean/np.std functions, floats appended",
        (
            "means.append(h.mean())\n        stds.append(h.std())",
            "means.append(float(np.mean(h)))\n        stds.append(float(np.std(h)))",
        ),
    ),
    _alt(
        "statistics_std_formula",
        "forward_statistics",
        "population std written out as sqrt(mean((h - mean)^2))",
        ("stds.append(h.std())", "stds.append(np.sqrt(np.mean((h - h.mean()) ** 2)))"),
    ),
]

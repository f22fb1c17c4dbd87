"""Plausible wrong answers to lab 2's TODOs; each must be caught by the named test cells."""

from . import Mutant

MUTANTS = [
    Mutant(
        name="mlp_sequential",
        cell="mlp",
        source=(
            "def build_mlp():\n"
            "    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(64, activation='relu'),\n"
            "        keras.layers.Dense(64, activation='relu'), keras.layers.Dense(10, activation='softmax')],"
            " name='mlp')\n\n\nmlp = build_mlp()"
        ),
        caught_by=["test_mlp"],
    ),
    Mutant(
        name="mlp_wrong_width",
        cell="mlp",
        replace=[
            (
                'x = keras.layers.Dense(64, activation="relu")(inputs)',
                'x = keras.layers.Dense(128, activation="relu")(inputs)',
            )
        ],
        caught_by=["test_mlp"],
    ),
    Mutant(
        name="mlp_missing_hidden_layer",
        cell="mlp",
        replace=[('    x = keras.layers.Dense(64, activation="relu")(x)\n', "")],
        caught_by=["test_mlp"],
    ),
    Mutant(
        name="mlp_no_softmax",
        cell="mlp",
        replace=[('keras.layers.Dense(10, activation="softmax")', 'keras.layers.Dense(10, activation="relu")')],
        caught_by=["test_mlp"],
    ),
    Mutant(
        name="encoder_not_shared",
        cell="two_view",
        replace=[
            (
                "feature_b = keras.layers.GlobalMaxPooling1D()(encoder(view_b))",
                'feature_b = keras.layers.GlobalMaxPooling1D()(keras.layers.Dense(64, activation="relu")(view_b))',
            )
        ],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="no_loss_weights",
        cell="two_view",
        replace=[('        loss_weights={"class": 1.0, "height": 0.5},\n', "")],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="one_loss_for_both_outputs",
        cell="two_view",
        replace=[('loss={"class": "categorical_crossentropy", "height": "mse"}', 'loss="mse"')],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="height_head_relu",
        cell="two_view",
        replace=[('keras.layers.Dense(1, name="height")', 'keras.layers.Dense(1, activation="relu", name="height")')],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="size_input_unused",
        cell="two_view",
        replace=[("[feature_a, feature_b, size]", "[feature_a, feature_b]")],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="conv_missing_batchnorm",
        cell="blocks",
        replace=[
            (
                'x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n'
                '    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)\n',
                'x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n',
            )
        ],
        caught_by=["test_blocks"],
    ),
    Mutant(
        name="relu_before_batchnorm",
        cell="blocks",
        replace=[
            (
                '    x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n'
                '    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)\n'
                '    return keras.layers.Activation("relu", name=f"{name}_relu")(x)',
                '    x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n'
                '    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)\n'
                '    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)',
            )
        ],
        caught_by=["test_blocks"],
    ),
    Mutant(
        name="conv_kernel_3",
        cell="blocks",
        replace=[("Conv1D(filters, kernel_size=1,", "Conv1D(filters, kernel_size=3, padding='same',")],
        caught_by=["test_blocks"],
    ),
    Mutant(
        name="dense_bn_without_relu",
        cell="blocks",
        replace=[
            (
                '    x = keras.layers.Dense(units, name=f"{name}_dense")(x)\n'
                '    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)\n'
                '    return keras.layers.Activation("relu", name=f"{name}_relu")(x)',
                '    x = keras.layers.Dense(units, name=f"{name}_dense")(x)\n'
                '    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)\n'
                '    return keras.layers.Activation("linear", name=f"{name}_relu")(x)',
            )
        ],
        caught_by=["test_blocks"],
    ),
    Mutant(
        name="average_pooling",
        cell="global_feature",
        replace=[("GlobalMaxPooling1D(name=name)", "GlobalAveragePooling1D(name=name)")],
        caught_by=["test_global_feature"],
    ),
    Mutant(
        name="sum_pooling",
        cell="global_feature",
        replace=[
            (
                "keras.layers.GlobalMaxPooling1D(name=name)(x)",
                "keras.layers.Lambda(lambda t: keras.ops.sum(t, axis=1), name=name)(x)",
            )
        ],
        caught_by=["test_global_feature"],
    ),
    Mutant(
        name="max_over_channels",
        cell="global_feature",
        replace=[
            (
                "keras.layers.GlobalMaxPooling1D(name=name)(x)",
                "keras.layers.Lambda(lambda t: keras.ops.max(t, axis=2), name=name)(x)",
            )
        ],
        caught_by=["test_global_feature"],
    ),
    Mutant(
        name="tnet_random_init",
        cell="tnet",
        replace=[('kernel_initializer="zeros"', 'kernel_initializer="glorot_uniform"')],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_zero_bias",
        cell="tnet",
        replace=[("bias_initializer=keras.initializers.Constant(np.eye(k).flatten())", 'bias_initializer="zeros"')],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_missing_batchnorm",
        cell="tnet",
        replace=[
            (
                'x = conv_bn(x, 128, f"{name}_c2")',
                'x = keras.layers.Conv1D(128, 1, activation="relu", name=f"{name}_c2_conv")(x)',
            )
        ],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_small_features",
        cell="tnet",
        replace=[('conv_bn(x, 1024, f"{name}_c3")', 'conv_bn(x, 256, f"{name}_c3")')],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_regularizer_dropped",
        cell="tnet",
        replace=[("        activity_regularizer=regularizer,\n", "")],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="matmul_wrong_axis",
        cell="tnet",
        replace=[("keras.layers.Dot(axes=(2, 1), name=name)", "keras.layers.Dot(axes=(2, 2), name=name)")],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="matmul_transform_first",
        cell="tnet",
        replace=[("([points, transform])", "([transform, points])")],
        caught_by=["test_tnet"],
    ),
]

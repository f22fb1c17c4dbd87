"""Plausible wrong answers to lab 2's TODOs; each must be caught by the named test cells."""

from . import Mutant

_CONV = 'x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n'
_DENSE = 'x = keras.layers.Dense(units, name=f"{name}_dense")(x)\n'
_BN = '    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)\n'
_RELU = '    return keras.layers.Activation("relu", name=f"{name}_relu")(x)'
_MATRIX = 'return keras.layers.Reshape((k, k), name=f"{name}_matrix")(x)'

MUTANTS = [
    # --- TODO 1: the MLP ------------------------------------------------------------------------------------------
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
        name="mlp_first_hidden_layer_linear",
        cell="mlp",
        replace=[('x = keras.layers.Dense(64, activation="relu")(inputs)', "x = keras.layers.Dense(64)(inputs)")],
        caught_by=["test_mlp"],
    ),
    Mutant(
        name="mlp_no_softmax",
        cell="mlp",
        replace=[('keras.layers.Dense(10, activation="softmax")', 'keras.layers.Dense(10, activation="relu")')],
        caught_by=["test_mlp"],
    ),
    # --- TODO 2a: the size feature -------------------------------------------------------------------------------
    Mutant(
        name="size_natural_log",
        cell="size_feature",
        replace=[("np.log10(diagonal)", "np.log(diagonal)")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_no_log",
        cell="size_feature",
        replace=[("np.log10(diagonal)", "diagonal")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_log_of_squared_diagonal",
        cell="size_feature",
        replace=[("np.linalg.norm(extents, axis=1, keepdims=True)", "np.sum(extents**2, axis=1, keepdims=True)")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_footprint_only",
        cell="size_feature",
        replace=[("np.linalg.norm(extents, axis=1,", "np.linalg.norm(extents[:, :2], axis=1,")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_largest_extent",
        cell="size_feature",
        replace=[("np.linalg.norm(extents, axis=1, keepdims=True)", "extents.max(axis=1, keepdims=True)")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_standardised_over_the_batch",
        cell="size_feature",
        replace=[
            (
                "return np.log10(diagonal).astype(np.float32)",
                "logs = np.log10(diagonal)\n    return ((logs - logs.mean()) / (logs.std() + 1e-8)).astype(np.float32)",
            )
        ],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_relative_to_the_largest_box",
        cell="size_feature",
        replace=[("return np.log10(diagonal)", "return np.log10(diagonal / diagonal.max())")],
        caught_by=["test_size_feature"],
    ),
    Mutant(
        name="size_one_dimensional",
        cell="size_feature",
        replace=[("np.linalg.norm(extents, axis=1, keepdims=True)", "np.linalg.norm(extents, axis=1)")],
        caught_by=["test_size_feature"],
    ),
    # --- TODO 2: the two-view model: wiring ---------------------------------------------------------------------
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
        name="view_b_ignored",
        cell="two_view",
        replace=[("GlobalMaxPooling1D()(encoder(view_b))", "GlobalMaxPooling1D()(encoder(view_a))")],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="two_view_average_pooling",
        cell="two_view",
        replace=[("GlobalMaxPooling1D()", "GlobalAveragePooling1D()")],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="pooling_before_encoder",
        cell="two_view",
        replace=[
            (
                "feature_a = keras.layers.GlobalMaxPooling1D()(encoder(view_a))\n"
                "    feature_b = keras.layers.GlobalMaxPooling1D()(encoder(view_b))",
                "feature_a = encoder(keras.layers.GlobalMaxPooling1D()(view_a))\n"
                "    feature_b = encoder(keras.layers.GlobalMaxPooling1D()(view_b))",
            )
        ],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="encoder_without_relu",
        cell="two_view",
        replace=[('Dense(64, activation="relu", name="shared_encoder")', 'Dense(64, name="shared_encoder")')],
        caught_by=["test_two_view"],
    ),
    Mutant(
        name="trunk_without_relu",
        cell="two_view",
        replace=[('x = keras.layers.Dense(64, activation="relu")(x)', "x = keras.layers.Dense(64)(x)")],
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
    # --- TODO 2: the two-view model: compiled losses ------------------------------------------------------------
    Mutant(
        name="no_loss_weights",
        cell="two_view",
        replace=[('        loss_weights={"class": 1.0, "height": 0.5},\n', "")],
        caught_by=["test_two_view_compile"],
    ),
    Mutant(
        name="loss_weights_swapped",
        cell="two_view",
        replace=[('loss_weights={"class": 1.0, "height": 0.5}', 'loss_weights={"class": 0.5, "height": 1.0}')],
        caught_by=["test_two_view_compile"],
    ),
    Mutant(
        name="one_loss_for_both_outputs",
        cell="two_view",
        replace=[('loss={"class": "categorical_crossentropy", "height": "mse"}', 'loss="mse"')],
        caught_by=["test_two_view_compile"],
    ),
    Mutant(
        name="height_loss_mae",
        cell="two_view",
        replace=[('"height": "mse"', '"height": "mae"')],
        caught_by=["test_two_view_compile"],
    ),
    # --- TODO 3: conv_bn and dense_bn ---------------------------------------------------------------------------
    Mutant(
        name="conv_missing_batchnorm",
        cell="blocks",
        replace=[(_CONV + _BN, _CONV)],
        caught_by=["test_conv_bn"],
    ),
    Mutant(
        name="relu_before_batchnorm",
        cell="blocks",
        replace=[
            (
                _CONV + _BN + _RELU,
                _CONV + '    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)\n'
                '    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)',
            )
        ],
        caught_by=["test_conv_bn"],
    ),
    Mutant(
        name="conv_kernel_3",
        cell="blocks",
        replace=[("Conv1D(filters, kernel_size=1,", "Conv1D(filters, kernel_size=3, padding='same',")],
        caught_by=["test_conv_bn"],
    ),
    Mutant(
        name="conv_hard_coded_filters",
        cell="blocks",
        replace=[("Conv1D(filters, kernel_size=1,", "Conv1D(64, kernel_size=1,")],
        caught_by=["test_conv_bn"],
    ),
    Mutant(
        name="conv_bn_frozen_batchnorm",  # trainable=False: inference mode even in training (Keras 3)
        cell="blocks",
        replace=[(_CONV + _BN, _CONV + _BN.replace('(name=f"{name}_bn")', '(trainable=False, name=f"{name}_bn")'))],
        caught_by=["test_conv_bn"],
    ),
    Mutant(
        name="dense_bn_without_relu",
        cell="blocks",
        replace=[(_DENSE + _BN + _RELU, _DENSE + _BN + _RELU.replace('Activation("relu"', 'Activation("linear"'))],
        caught_by=["test_dense_bn"],
    ),
    Mutant(
        name="dense_relu_then_bn_relu",
        cell="blocks",
        replace=[('Dense(units, name=f"{name}_dense")', 'Dense(units, activation="relu", name=f"{name}_dense")')],
        caught_by=["test_dense_bn"],
    ),
    Mutant(
        name="dense_bn_layer_normalization",  # normalises each sample over its features, not over the batch
        cell="blocks",
        replace=[(_DENSE + _BN, _DENSE + _BN.replace("BatchNormalization(", "LayerNormalization("))],
        caught_by=["test_dense_bn"],
    ),
    # --- TODO 4: global_feature ---------------------------------------------------------------------------------
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
    # --- TODO 5a: tnet ------------------------------------------------------------------------------------------
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
        name="tnet_small_features",
        cell="tnet",
        replace=[('conv_bn(x, 1024, f"{name}_c3")', 'conv_bn(x, 256, f"{name}_c3")')],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_average_pooling",
        cell="tnet",
        replace=[
            (
                'x = global_feature(x, f"{name}_pool")',
                'x = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")(x)',
            )
        ],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_relu_on_matrix",
        cell="tnet",
        replace=[
            ('        name=f"{name}_transform",\n', '        activation="relu",\n        name=f"{name}_transform",\n')
        ],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_transposed_matrix",
        cell="tnet",
        replace=[
            (
                _MATRIX,
                'x = keras.layers.Reshape((k, k), name=f"{name}_reshape")(x)\n'
                '    return keras.layers.Permute((2, 1), name=f"{name}_matrix")(x)',
            )
        ],
        caught_by=["test_tnet"],
    ),
    Mutant(
        name="tnet_hard_coded_k3",
        cell="tnet",
        replace=[
            ("        k * k,\n", "        9,\n"),
            ("np.eye(k)", "np.eye(3)"),
            ("Reshape((k, k)", "Reshape((3, 3)"),
        ],
        caught_by=["test_tnet", "test_tnet_regularizer"],
    ),
    Mutant(
        name="tnet_regularizer_dropped",
        cell="tnet",
        replace=[("        activity_regularizer=regularizer,\n", "")],
        caught_by=["test_tnet_regularizer"],
    ),
    Mutant(
        name="tnet_identity_added_after_regularizer",
        cell="tnet",
        replace=[
            ("bias_initializer=keras.initializers.Constant(np.eye(k).flatten())", 'bias_initializer="zeros"'),
            (
                _MATRIX,
                'x = keras.layers.Reshape((k, k), name=f"{name}_reshape")(x)\n'
                '    return keras.layers.Lambda(lambda m: m + keras.ops.eye(k), name=f"{name}_matrix")(x)',
            ),
        ],
        caught_by=["test_tnet", "test_tnet_regularizer"],
    ),
    # --- TODO 5b: apply_transform -------------------------------------------------------------------------------
    Mutant(
        name="matmul_wrong_axis",
        cell="tnet",
        replace=[("keras.layers.Dot(axes=(2, 1), name=name)", "keras.layers.Dot(axes=(2, 2), name=name)")],
        caught_by=["test_apply_transform"],
    ),
    Mutant(
        name="matmul_transform_first",
        cell="tnet",
        replace=[("([points, transform])", "([transform, points])")],
        caught_by=["test_apply_transform"],
    ),
    Mutant(
        name="first_sample_matrix_for_the_batch",
        cell="tnet",
        replace=[
            (
                "keras.layers.Dot(axes=(2, 1), name=name)([points, transform])",
                "keras.layers.Lambda(lambda t: keras.ops.matmul(t[0], t[1][:1]), name=name)([points, transform])",
            )
        ],
        caught_by=["test_apply_transform"],
    ),
]

"""Correct answers to lab 2's TODOs written otherwise than the reference; each must keep every point."""

from . import Alternative

_MLP_TAIL = "\n\nmlp = build_mlp()\nmlp.summary()\n"
_TWO_VIEW_TAIL = "\n\ntwo_view = build_two_view_model(N_POINTS)\n"
_COMPILE = (
    "    model.compile(\n"
    '        optimizer="adam",\n'
    '        loss={"class": "categorical_crossentropy", "height": "mse"},\n'
    '        loss_weights={"class": 1.0, "height": 0.5},\n'
    "    )\n"
)
_CONV = 'x = keras.layers.Conv1D(filters, kernel_size=1, name=f"{name}_conv")(x)\n'
_DENSE = 'x = keras.layers.Dense(units, name=f"{name}_dense")(x)\n'
_RELU = 'return keras.layers.Activation("relu", name=f"{name}_relu")(x)'
_DOT = "return keras.layers.Dot(axes=(2, 1), name=name)([points, transform])"
_TRANSFORM = (
    "    x = keras.layers.Dense(\n"
    "        k * k,\n"
    '        kernel_initializer="zeros",\n'
    "        bias_initializer=keras.initializers.Constant(np.eye(k).flatten()),\n"
    "        activity_regularizer=regularizer,\n"
    '        name=f"{name}_transform",\n'
    "    )(x)\n"
)

ALTERNATIVES = [
    # --- TODO 1: the MLP ------------------------------------------------------------------------------------------
    Alternative(
        name="mlp_softmax_layer",
        cell="mlp",
        why="softmax as a layer of its own after a linear Dense",
        replace=[
            (
                'outputs = keras.layers.Dense(10, activation="softmax")(x)',
                "outputs = keras.layers.Softmax()(keras.layers.Dense(10)(x))",
            )
        ],
    ),
    Alternative(
        name="mlp_activation_layers",
        cell="mlp",
        why="Activation layers instead of activation= (the lab's own style in conv_bn)",
        source=(
            "def build_mlp() -> keras.Model:\n"
            "    pixels = keras.Input(shape=(784,))\n"
            "    hidden = keras.layers.Activation('relu')(keras.layers.Dense(64)(pixels))\n"
            "    hidden = keras.layers.Activation('relu')(keras.layers.Dense(64)(hidden))\n"
            "    probabilities = keras.layers.Activation('softmax')(keras.layers.Dense(10)(hidden))\n"
            "    return keras.Model(pixels, probabilities, name='mlp')" + _MLP_TAIL
        ),
    ),
    Alternative(
        name="mlp_relu_layers",
        cell="mlp",
        why="keras.layers.ReLU() layers",
        replace=[
            (
                'x = keras.layers.Dense(64, activation="relu")(inputs)',
                "x = keras.layers.ReLU()(keras.layers.Dense(64)(inputs))",
            ),
            (
                'x = keras.layers.Dense(64, activation="relu")(x)',
                "x = keras.layers.ReLU()(keras.layers.Dense(64)(x))",
            ),
        ],
    ),
    Alternative(
        name="mlp_tf_nn_relu",
        cell="mlp",
        why="TensorFlow's own relu function as the activation",
        replace=[
            (
                '    inputs = keras.Input(shape=(784,), name="pixels")\n',
                '    import tensorflow as tf\n\n    inputs = keras.Input(shape=(784,), name="pixels")\n',
            ),
            ('activation="relu"', "activation=tf.nn.relu"),
        ],
    ),
    Alternative(
        name="mlp_activation_functions",
        cell="mlp",
        why="keras.activations functions instead of names",
        replace=[
            ('activation="relu"', "activation=keras.activations.relu"),
            ('activation="softmax"', "activation=keras.activations.softmax"),
        ],
    ),
    Alternative(
        name="mlp_loop_helper",
        cell="mlp",
        why="a loop over the hidden widths, other variable names, unnamed input",
        source=(
            "def build_mlp(hidden_units=(64, 64), n_classes=10) -> keras.Model:\n"
            "    features = keras.Input(shape=(784,))\n"
            "    h = features\n"
            "    for width in hidden_units:\n"
            "        h = keras.layers.Dense(width, activation='relu')(h)\n"
            "    return keras.Model(inputs=features, outputs=keras.layers.Dense(n_classes, activation='softmax')(h),\n"
            "                       name='mlp')" + _MLP_TAIL
        ),
    ),
    Alternative(
        name="mlp_model_list_io",
        cell="mlp",
        why="inputs/outputs given as one-element lists",
        replace=[("keras.Model(inputs=inputs, outputs=outputs,", "keras.Model(inputs=[inputs], outputs=[outputs],")],
    ),
    # --- TODO 2a: the size feature -------------------------------------------------------------------------------
    Alternative(
        name="size_half_log_of_squares",
        cell="size_feature",
        why="0.5 log10 of the sum of squares, float64, a new axis added by indexing",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    return 0.5 * np.log10(np.sum(np.square(extents), axis=-1))[:, np.newaxis]\n",
            )
        ],
    ),
    Alternative(
        name="size_natural_log_over_log_ten",
        cell="size_feature",
        why="ln(diagonal) / ln(10), the diagonal from two hypot calls, reshape(-1, 1)",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    x, y, z = np.asarray(extents, np.float64).T\n"
                "    return (np.log(np.hypot(np.hypot(x, y), z)) / np.log(10)).reshape(-1, 1)\n",
            )
        ],
    ),
    Alternative(
        name="size_math_per_box",
        cell="size_feature",
        why="a list comprehension with the math module, one box at a time",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    import math\n\n"
                "    return np.array([[math.log10(math.sqrt(sum(float(v) ** 2 for v in box)))] for box in extents])\n",
            )
        ],
    ),
    Alternative(
        name="size_keras_ops_tensor",
        cell="size_feature",
        why="keras.ops on the array, returning a tensor (float32)",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    boxes = keras.ops.convert_to_tensor(extents, dtype='float32')\n"
                "    return keras.ops.log10(keras.ops.sqrt(keras.ops.sum(boxes * boxes, axis=1, keepdims=True)))\n",
            )
        ],
    ),
    Alternative(
        name="size_einsum_log_of_product",
        cell="size_feature",
        why="einsum for the squared lengths, log10 of a product split into a sum",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    largest = np.max(extents, axis=1)\n"
                "    relative = extents / largest[:, None]\n"
                "    lengths = np.sqrt(np.einsum('ij,ij->i', relative, relative))\n"
                "    return (np.log10(largest) + np.log10(lengths)).reshape(len(extents), 1)\n",
            )
        ],
    ),
    Alternative(
        name="size_tensorflow_float64",
        cell="size_feature",
        why="TensorFlow ops in float64, returning a tf.Tensor",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    import tensorflow as tf\n\n"
                "    boxes = tf.constant(extents, dtype=tf.float64)\n"
                "    return tf.math.log(tf.norm(boxes, axis=1, keepdims=True)) / np.log(10.0)\n",
            )
        ],
    ),
    Alternative(
        name="size_loop_and_vstack",
        cell="size_feature",
        why="a loop over the boxes appending rows, np.vstack at the end",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    rows = []\n"
                "    for width, depth, height in extents:\n"
                "        rows.append([np.log10((width**2 + depth**2 + height**2) ** 0.5)])\n"
                "    return np.vstack(rows)\n",
            )
        ],
    ),
    Alternative(
        name="size_norm_ord_float64",
        cell="size_feature",
        why="np.linalg.norm with ord=2 on a float64 copy, the column added with [:, None]",
        replace=[
            (
                "    diagonal = np.linalg.norm(extents, axis=1, keepdims=True)\n"
                "    return np.log10(diagonal).astype(np.float32)\n",
                "    diagonal = np.linalg.norm(np.array(extents, dtype=np.float64), ord=2, axis=1)\n"
                "    return np.log10(diagonal)[:, None]\n",
            )
        ],
    ),
    # --- TODO 2: the two-view model -----------------------------------------------------------------------------
    Alternative(
        name="losses_as_lists",
        cell="two_view",
        why="losses and loss weights as lists in the order of the outputs",
        replace=[
            ('loss={"class": "categorical_crossentropy", "height": "mse"}', 'loss=["categorical_crossentropy", "mse"]'),
            ('loss_weights={"class": 1.0, "height": 0.5}', "loss_weights=[1.0, 0.5]"),
        ],
    ),
    Alternative(
        name="loss_and_optimizer_objects",
        cell="two_view",
        why="loss objects and an optimizer object",
        replace=[
            ('optimizer="adam"', "optimizer=keras.optimizers.Adam(learning_rate=1e-3)"),
            (
                'loss={"class": "categorical_crossentropy", "height": "mse"}',
                'loss={"class": keras.losses.CategoricalCrossentropy(), "height": keras.losses.MeanSquaredError()}',
            ),
        ],
    ),
    Alternative(
        name="loss_aliases",
        cell="two_view",
        why="the long alias of mse and loss functions instead of names",
        replace=[
            (
                'loss={"class": "categorical_crossentropy", "height": "mse"}',
                'loss={"class": keras.losses.categorical_crossentropy, "height": "mean_squared_error"}',
            )
        ],
    ),
    Alternative(
        name="dict_outputs",
        cell="two_view",
        why="outputs as a dict: predict returns a dict",
        replace=[("outputs=[class_output, height_output]", 'outputs={"class": class_output, "height": height_output}')],
    ),
    Alternative(
        name="dict_inputs_other_order",
        cell="two_view",
        why="inputs as a dict in another order",
        replace=[("inputs=[view_a, view_b, size]", 'inputs={"size": size, "view_b": view_b, "view_a": view_a}')],
    ),
    Alternative(
        name="softmax_layer_named_class",
        cell="two_view",
        why="a linear Dense followed by a Softmax layer that carries the output's name",
        replace=[
            (
                'keras.layers.Dense(10, activation="softmax", name="class")(x)',
                'keras.layers.Softmax(name="class")(keras.layers.Dense(10, name="class_logits")(x))',
            )
        ],
    ),
    Alternative(
        name="encoder_relu_after_the_call",
        cell="two_view",
        why="the shared Dense without activation, a ReLU layer after each call",
        replace=[
            (
                'keras.layers.Dense(64, activation="relu", name="shared_encoder")',
                'keras.layers.Dense(64, name="shared_encoder")',
            ),
            ("GlobalMaxPooling1D()(encoder(view_a))", "GlobalMaxPooling1D()(keras.layers.ReLU()(encoder(view_a)))"),
            ("GlobalMaxPooling1D()(encoder(view_b))", "GlobalMaxPooling1D()(keras.layers.ReLU()(encoder(view_b)))"),
        ],
    ),
    Alternative(
        name="ops_max_pooling",
        cell="two_view",
        why="keras.ops.max over the points on the symbolic tensors instead of GlobalMaxPooling1D",
        replace=[
            ("keras.layers.GlobalMaxPooling1D()(encoder(view_a))", "keras.ops.max(encoder(view_a), axis=1)"),
            ("keras.layers.GlobalMaxPooling1D()(encoder(view_b))", "keras.ops.max(encoder(view_b), axis=1)"),
        ],
    ),
    Alternative(
        name="branch_helper_and_concatenate_function",
        cell="two_view",
        why="a helper function per branch, keras.layers.concatenate, other names",
        source=(
            "def build_two_view_model(n_points: int) -> keras.Model:\n"
            "    first, second = (keras.Input(shape=(n_points, 3), name=n) for n in ('view_a', 'view_b'))\n"
            "    footprint = keras.Input(shape=(1,), name='size')\n"
            "    shared = keras.layers.Dense(64, activation='relu', name='shared_encoder')\n\n"
            "    def summary(view):\n"
            "        return keras.layers.GlobalMaxPooling1D()(shared(view))\n\n"
            "    trunk = keras.layers.Dense(64, activation='relu')(\n"
            "        keras.layers.concatenate([summary(first), summary(second), footprint]))\n"
            "    heads = [keras.layers.Dense(1, name='height')(trunk), keras.layers.Dense(10, activation='softmax', "
            "name='class')(trunk)]\n"
            "    model = keras.Model([first, second, footprint], heads)\n"
            "    model.compile(optimizer='adam', loss={'height': 'mse', 'class': 'categorical_crossentropy'},\n"
            "                  loss_weights={'height': 0.5, 'class': 1})\n"
            "    return model" + _TWO_VIEW_TAIL
        ),
    ),
    Alternative(
        name="compile_in_a_helper",
        cell="two_view",
        why="compile in a helper function with loss objects in a list and integer weights",
        replace=[
            (
                _COMPILE,
                "    _compile_two_view(model)\n",
            ),
            (
                "def build_two_view_model(",
                "def _compile_two_view(model):\n"
                "    model.compile(keras.optimizers.Adam(), loss=[keras.losses.CategoricalCrossentropy(),\n"
                "                  keras.losses.MeanSquaredError()], loss_weights=[1, 0.5])\n\n\n"
                "def build_two_view_model(",
            ),
        ],
    ),
    Alternative(
        name="two_view_activation_functions",
        cell="two_view",
        why="keras.activations functions instead of names",
        replace=[
            ('activation="relu"', "activation=keras.activations.relu"),
            ('activation="softmax"', "activation=keras.activations.softmax"),
        ],
    ),
    # --- TODO 3: conv_bn and dense_bn ---------------------------------------------------------------------------
    Alternative(
        name="relu_layers_in_blocks",
        cell="blocks",
        why="keras.layers.ReLU instead of Activation('relu')",
        replace=[(_RELU, 'return keras.layers.ReLU(name=f"{name}_relu")(x)')],
    ),
    Alternative(
        name="activation_function_in_blocks",
        cell="blocks",
        why="Activation(keras.activations.relu)",
        replace=[(_RELU, 'return keras.layers.Activation(keras.activations.relu, name=f"{name}_relu")(x)')],
    ),
    Alternative(
        name="shared_bn_relu_helper",
        cell="blocks",
        why="one helper for the BatchNorm + ReLU tail of both blocks",
        source=(
            "def _bn_relu(x, name):\n"
            "    x = keras.layers.BatchNormalization(name=f'{name}_bn')(x)\n"
            "    return keras.layers.Activation('relu', name=f'{name}_relu')(x)\n\n\n"
            "def conv_bn(x, filters: int, name: str):\n"
            "    return _bn_relu(keras.layers.Conv1D(filters, 1, name=f'{name}_conv')(x), name)\n\n\n"
            "def dense_bn(x, units: int, name: str):\n"
            "    return _bn_relu(keras.layers.Dense(units, name=f'{name}_dense')(x), name)\n"
        ),
    ),
    Alternative(
        name="conv_kernel_size_tuple_valid_padding",
        cell="blocks",
        why="kernel_size=(1,), strides and padding spelled out",
        replace=[("Conv1D(filters, kernel_size=1,", "Conv1D(filters, kernel_size=(1,), strides=1, padding='valid',")],
    ),
    Alternative(
        name="batchnorm_other_epsilon_and_momentum",
        cell="blocks",
        why="BatchNormalization with PyTorch-like epsilon and momentum (the text leaves them open)",
        replace=[
            (
                'BatchNormalization(name=f"{name}_bn")',
                'BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")',
            )
        ],
    ),
    Alternative(
        name="dense_bn_explicit_defaults",
        cell="blocks",
        why="activation=None and use_bias=True spelled out, BatchNormalization(axis=-1)",
        replace=[
            (_DENSE, 'x = keras.layers.Dense(units, activation=None, use_bias=True, name=f"{name}_dense")(x)\n'),
            (_CONV, 'x = keras.layers.Conv1D(filters, 1, activation=None, name=f"{name}_conv")(x)\n'),
        ],
    ),
    # --- TODO 4: global_feature ---------------------------------------------------------------------------------
    Alternative(
        name="lambda_ops_max",
        cell="global_feature",
        why="a Lambda layer around keras.ops.max over axis 1",
        replace=[
            (
                "return keras.layers.GlobalMaxPooling1D(name=name)(x)",
                "return keras.layers.Lambda(lambda t: keras.ops.max(t, axis=1), name=name)(x)",
            )
        ],
    ),
    Alternative(
        name="global_max_pool_alias",
        cell="global_feature",
        why="the GlobalMaxPool1D alias, channels_last spelled out",
        replace=[("GlobalMaxPooling1D(name=name)", "GlobalMaxPool1D(data_format='channels_last', name=name)")],
    ),
    Alternative(
        name="lambda_amax_negative_axis",
        cell="global_feature",
        why="keras.ops.amax over axis -2",
        replace=[
            (
                "return keras.layers.GlobalMaxPooling1D(name=name)(x)",
                "return keras.layers.Lambda(lambda t: keras.ops.amax(t, axis=-2), name=name)(x)",
            )
        ],
    ),
    Alternative(
        name="custom_pooling_layer",
        cell="global_feature",
        why="a small Layer subclass of the student's own",
        replace=[
            (
                "    return keras.layers.GlobalMaxPooling1D(name=name)(x)",
                "    class MaxOverPoints(keras.layers.Layer):\n"
                "        def call(self, features):\n"
                "            return keras.ops.max(features, axis=1)\n\n"
                "    return MaxOverPoints(name=name)(x)",
            )
        ],
    ),
    # --- TODO 5a: tnet ------------------------------------------------------------------------------------------
    Alternative(
        name="tnet_loops",
        cell="tnet",
        why="loops over the block sizes",
        replace=[
            (
                '    x = conv_bn(points, 64, f"{name}_c1")\n'
                '    x = conv_bn(x, 128, f"{name}_c2")\n'
                '    x = conv_bn(x, 1024, f"{name}_c3")\n',
                "    x = points\n"
                "    for i, filters in enumerate((64, 128, 1024), start=1):\n"
                '        x = conv_bn(x, filters, f"{name}_c{i}")\n',
            ),
            (
                '    x = dense_bn(x, 512, f"{name}_d1")\n    x = dense_bn(x, 256, f"{name}_d2")\n',
                '    for i, units in enumerate((512, 256), start=1):\n        x = dense_bn(x, units, f"{name}_d{i}")\n',
            ),
        ],
    ),
    Alternative(
        name="tnet_identity_ravel_and_zeros_object",
        cell="tnet",
        why="np.identity(k).ravel() and an initializer object for the zero kernel",
        replace=[
            ('kernel_initializer="zeros"', "kernel_initializer=keras.initializers.Zeros()"),
            ("Constant(np.eye(k).flatten())", "Constant(np.identity(k).ravel().tolist())"),
        ],
    ),
    Alternative(
        name="tnet_regularizer_on_the_reshape",
        cell="tnet",
        why="the activity regularizer on the Reshape layer, which outputs the same matrix A",
        replace=[
            ("        activity_regularizer=regularizer,\n", ""),
            (
                'Reshape((k, k), name=f"{name}_matrix")',
                'Reshape((k, k), activity_regularizer=regularizer, name=f"{name}_matrix")',
            ),
        ],
    ),
    Alternative(
        name="tnet_reshape_minus_one",
        cell="tnet",
        why="Reshape((k, -1)): the same row-by-row layout",
        replace=[('Reshape((k, k), name=f"{name}_matrix")', 'Reshape((k, -1), name=f"{name}_matrix")')],
    ),
    Alternative(
        name="tnet_dense_layers_written_out",
        cell="tnet",
        why="the two dense_bn blocks written out layer by layer, with the same names",
        replace=[
            (
                '    x = dense_bn(x, 512, f"{name}_d1")\n    x = dense_bn(x, 256, f"{name}_d2")\n',
                "    for block, units in (('d1', 512), ('d2', 256)):\n"
                "        x = keras.layers.Dense(units, name=f'{name}_{block}_dense')(x)\n"
                "        x = keras.layers.BatchNormalization(name=f'{name}_{block}_bn')(x)\n"
                "        x = keras.layers.ReLU(name=f'{name}_{block}_relu')(x)\n",
            )
        ],
    ),
    Alternative(
        name="tnet_regularizer_looked_up",
        cell="tnet",
        why="the regularizer resolved with keras.regularizers.get first",
        replace=[("activity_regularizer=regularizer,", "activity_regularizer=keras.regularizers.get(regularizer),")],
    ),
    # --- TODO 5b: apply_transform -------------------------------------------------------------------------------
    Alternative(
        name="einsum_lambda",
        cell="tnet",
        why="keras.ops.einsum in a Lambda layer",
        replace=[
            (
                _DOT,
                "return keras.layers.Lambda(lambda t: keras.ops.einsum('bnk,bkj->bnj', t[0], t[1]), name=name)("
                "[points, transform])",
            )
        ],
    ),
    Alternative(
        name="matmul_lambda",
        cell="tnet",
        why="keras.ops.matmul in a Lambda layer",
        replace=[
            (_DOT, "return keras.layers.Lambda(lambda t: keras.ops.matmul(t[0], t[1]), name=name)([points, transform])")
        ],
    ),
    Alternative(
        name="tf_matmul_lambda",
        cell="tnet",
        why="tf.linalg.matmul in a Lambda layer",
        replace=[
            (
                _DOT,
                "import tensorflow as tf\n\n"
                "    return keras.layers.Lambda(lambda t: tf.linalg.matmul(*t), name=name)([points, transform])",
            )
        ],
    ),
    Alternative(
        name="custom_matmul_layer",
        cell="tnet",
        why="a Layer subclass of the student's own",
        replace=[
            (
                _DOT,
                "class BatchMatMul(keras.layers.Layer):\n"
                "        def call(self, inputs):\n"
                "            cloud, matrix = inputs\n"
                "            return keras.ops.matmul(cloud, matrix)\n\n"
                "    return BatchMatMul(name=name)([points, transform])",
            )
        ],
    ),
    Alternative(
        name="dot_function",
        cell="tnet",
        why="the functional interface keras.layers.dot",
        replace=[(_DOT, "return keras.layers.dot([points, transform], axes=(2, 1), name=name)")],
    ),
    Alternative(
        name="dot_negative_axes",
        cell="tnet",
        why="Dot with the axes counted from the end",
        replace=[("Dot(axes=(2, 1), name=name)", "Dot(axes=(-1, -2), name=name)")],
    ),
]

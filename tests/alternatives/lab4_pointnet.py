"""Correct answers to lab 4's TODOs written otherwise than the reference; each must keep every point."""

from . import Alternative

ALTERNATIVES = [
    # --- TODO 1: build_pointnet
    Alternative(
        name="blocks_in_loops",
        cell="pointnet",
        why="the shared MLPs and the head built in loops over (width, name) pairs",
        replace=[
            (
                '    x = conv_bn(x, 64, "mlp2_1")\n    x = conv_bn(x,'
                ' 128, "mlp2_2")\n    x = conv_bn(x, 1024, "mlp2_3")\n',
                '    for width, block in ((64, "mlp2_1"), (128, "mlp2_2"), (1024, "mlp2_3")):\n'
                "        x = conv_bn(x, width, block)\n",
            ),
            (
                '    x = dense_bn(x, 512, "head_1")\n'
                '    x = keras.layers.Dropout(0.3, name="head_1_dropout")(x)\n'
                '    x = dense_bn(x, 256, "head_2")\n'
                '    x = keras.layers.Dropout(0.3, name="head_2_dropout")(x)\n',
                '    for units, block in ((512, "head_1"), (256, "head_2")):\n'
                '        x = keras.layers.Dropout(0.3, name=f"{block}_dropout")(dense_bn(x, units, block))\n',
            ),
        ],
    ),
    Alternative(
        name="other_input_name_and_keywords",
        cell="pointnet",
        why="an unnamed Input given as a list shape, keyword arguments for the regularizer, other variable names",
        replace=[
            ('points = keras.Input(shape=(n_points, 3), name="points")', "cloud = keras.Input(shape=[n_points, 3])"),
            ('tnet(points, 3, "input_tnet"), "input_aligned")', 'tnet(cloud, 3, "input_tnet"), "input_aligned")'),
            ("x = apply_transform(points, ", "x = apply_transform(cloud, "),
            ("OrthogonalRegularizer(64, 0.001)", "OrthogonalRegularizer(k=64, weight=1e-3)"),
            (
                "return keras.Model(points, outputs, name=name)",
                "return keras.Model(inputs=cloud, outputs=outputs, name=name)",
            ),
        ],
    ),
    Alternative(
        name="head_in_a_helper_function",
        cell="pointnet",
        why="the classifier head written as a nested helper function",
        replace=[
            (
                '    x = dense_bn(x, 512, "head_1")\n',
                "    def classifier_head(features):\n"
                '        features = dense_bn(features, 512, "head_1")\n'
                '        features = keras.layers.Dropout(rate=0.3, name="head_1_dropout")(features)\n'
                '        features = dense_bn(features, 256, "head_2")\n'
                '        return keras.layers.Dropout(rate=0.3, name="head_2_dropout")(features)\n\n'
                "    x = classifier_head(x)\n",
            ),
            (
                '    x = keras.layers.Dropout(0.3, name="head_1_dropout")(x)\n'
                '    x = dense_bn(x, 256, "head_2")\n'
                '    x = keras.layers.Dropout(0.3, name="head_2_dropout")(x)\n',
                "",
            ),
        ],
    ),
    Alternative(
        name="feature_transform_inline",
        cell="pointnet",
        why="the feature T-Net's matrix applied without an intermediate variable, the regularizer built first",
        replace=[
            (
                '    feature_transform = tnet(x, 64, "feature_tnet", regularizer=OrthogonalRegularizer(64, 0.001))\n'
                '    x = apply_transform(x, feature_transform, "feature_aligned")\n',
                "    penalty = OrthogonalRegularizer(64, weight=0.001)\n"
                '    x = apply_transform(x, tnet(x, 64, "feature_tnet", penalty), "feature_aligned")\n',
            )
        ],
    ),
    Alternative(
        name="relu_written_as_activation_object",
        cell="pointnet",
        why="the classifier's softmax given as the keras.activations.softmax function",
        replace=[
            ('activation="softmax", name="classifier"', 'activation=keras.activations.softmax, name="classifier"')
        ],
    ),
    # --- TODO 2: load and validate
    Alternative(
        name="accuracy_with_a_keras_metric",
        cell="load_weights",
        why="the accuracy from keras.metrics.SparseCategoricalAccuracy (a float32 result)",
        replace=[
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "metric = keras.metrics.SparseCategoricalAccuracy()\n"
                "metric.update_state(y_base, base_model.predict(x_base, batch_size=32, verbose=0))\n"
                "base_accuracy = float(metric.result())",
            )
        ],
    ),
    Alternative(
        name="accuracy_with_evaluate",
        cell="load_weights",
        why="compile + evaluate for the accuracy, predictions from predict",
        replace=[
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                'base_model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])\n'
                "base_accuracy = base_model.evaluate(x_base, y_base, verbose=0, return_dict=True)['accuracy']",
            )
        ],
    ),
    Alternative(
        name="predictions_in_a_loop_of_calls",
        cell="load_weights",
        why="the model called on chunks with training=False, weights path as str, a list of predictions",
        replace=[
            ("base_model.load_weights(WEIGHTS)", "base_model.load_weights(str(WEIGHTS))"),
            (
                "base_predictions = np.argmax(base_model.predict(x_base, batch_size=64, verbose=0), axis=1)",
                "base_predictions = []\n"
                "for start in range(0, len(x_base), 16):\n"
                "    probabilities = base_model(x_base[start:start + 16], training=False)\n"
                "    base_predictions += [int(i) for i in np.argmax(probabilities, axis=-1)]",
            ),
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "base_accuracy = np.count_nonzero(np.array(base_predictions) == y_base) / len(y_base)\n"
                "base_predictions = np.array(base_predictions)",
            ),
        ],
    ),
    Alternative(
        name="loaded_with_keywords",
        cell="load_weights",
        why="load_weights with explicit keyword arguments, accuracy as np.float64",
        replace=[
            ("base_model.load_weights(WEIGHTS)", "base_model.load_weights(filepath=WEIGHTS, skip_mismatch=False)"),
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "base_accuracy = (base_predictions == y_base).mean()",
            ),
        ],
    ),
    Alternative(
        name="argmax_of_numpy_array",
        cell="load_weights",
        why="predictions with a larger batch and ndarray.argmax, accuracy as a float32 mean",
        replace=[
            (
                "base_predictions = np.argmax(base_model.predict(x_base, batch_size=64, verbose=0), axis=1)",
                "base_predictions = base_model.predict(x_base, batch_size=128, verbose=0).argmax(-1)",
            ),
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "base_accuracy = np.mean((base_predictions == y_base).astype(np.float32))",
            ),
        ],
    ),
    # --- TODO 3: the transfer model
    Alternative(
        name="sequential_transfer_model",
        cell="transfer_model",
        why="keras.Sequential([Input, extractor, Dense]) instead of the Functional API",
        replace=[
            (
                '    points = keras.Input(shape=(None, 3), name="points")\n'
                '    outputs = keras.layers.Dense(n_new_classes, activation="softmax", name="new_classifier")'
                "(feature_extractor(points))\n"
                '    transfer_model = keras.Model(points, outputs, name="transfer")\n',
                "    transfer_model = keras.Sequential([\n"
                "        keras.Input(shape=(None, 3)),\n"
                "        feature_extractor,\n"
                '        keras.layers.Dense(n_new_classes, activation="softmax", name="new_classifier"),\n'
                "    ])\n",
            )
        ],
    ),
    Alternative(
        name="frozen_layer_by_layer",
        cell="transfer_model",
        why="every layer frozen in a loop instead of the model's trainable flag",
        replace=[
            (
                "    feature_extractor.trainable = False\n",
                "    for layer in feature_extractor.layers:\n        layer.trainable = False\n",
            )
        ],
    ),
    Alternative(
        name="optimizer_string_and_loss_object",
        cell="transfer_model",
        why='optimizer "adam" (default learning rate 1e-3), loss and metric objects',
        replace=[
            (
                'optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",\n'
                '                           metrics=["accuracy"]',
                'optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(),\n'
                "                           metrics=[keras.metrics.SparseCategoricalAccuracy()]",
            )
        ],
    ),
    Alternative(
        name="extractor_called_with_training_false",
        cell="transfer_model",
        why="the keras.io habit: the extractor called with training=False (harmless), inputs given as lists",
        replace=[
            (
                "keras.Model(base_model.input, base_model.get_layer",
                "keras.Model(inputs=base_model.inputs, outputs=base_model.get_layer",
            ),
            ("(feature_extractor(points))", "(feature_extractor(points, training=False))"),
        ],
    ),
    Alternative(
        name="softmax_layer_after_linear_head",
        cell="transfer_model",
        why="a linear Dense named new_classifier followed by a Softmax layer",
        replace=[
            (
                'keras.layers.Dense(n_new_classes, activation="softma'
                'x", name="new_classifier")(feature_extractor(points))',
                "keras.layers.Softmax()(keras.layers.Dense(n_new_class"
                'es, name="new_classifier")(feature_extractor(points)))',
            )
        ],
    ),
    Alternative(
        name="global_feature_found_by_search",
        cell="transfer_model",
        why="the global_feature layer found by a search over base_model.layers",
        replace=[
            (
                'base_model.get_layer("global_feature").output',
                'next(layer for layer in base_model.layers if layer.name == "global_feature").output',
            )
        ],
    ),
    Alternative(
        name="loss_function_and_keyword_learning_rate",
        cell="transfer_model",
        why="the loss as Keras' function, Adam with learning_rate=",
        replace=[
            ("keras.optimizers.Adam(1e-3)", "keras.optimizers.Adam(learning_rate=0.001)"),
            ('loss="sparse_categorical_crossentropy"', "loss=keras.losses.sparse_categorical_crossentropy"),
        ],
    ),
    # --- TODO 4: embeddings and head
    Alternative(
        name="sequential_head",
        cell="retrain",
        why="the head as keras.Sequential",
        replace=[
            (
                "embedding_input = keras.Input(shape=(1024,))\n"
                'head = keras.Model(embedding_input, keras.layers.Dense(len(new_classes), activation="softmax")'
                "(embedding_input))\n",
                "head = keras.Sequential([keras.Input((1024,)), keras.l"
                'ayers.Dense(len(new_classes), activation="softmax")])\n',
            )
        ],
    ),
    Alternative(
        name="predictions_from_transfer_model",
        cell="retrain",
        why="test predictions from a second pass of transfer_model over the test objects",
        replace=[
            (
                "new_predictions = np.argmax(head.predict(test_embeddings, verbose=0), axis=1)",
                "new_predictions = np.argmax(transfer_model.predict(x_new_test, batch_size=64, verbose=0), axis=1)",
            )
        ],
    ),
    Alternative(
        name="head_trained_on_numpy_arrays",
        cell="retrain",
        why="the head trained from NumPy arrays (no tf.data, no steps_per_execution): slower, the same head",
        replace=[
            (
                "head_history = head.fit(train_set, validation_data=val_set, epochs=HEAD_EPOCHS, verbose=0)",
                "head_history = head.fit(train_embeddings, y_new_train, validation_data=(val_embeddings, y_new_val),\n"
                "                        epochs=HEAD_EPOCHS, batch_size=HEAD_BATCH, verbose=0)",
            ),
            (", steps_per_execution=HEAD_STEPS)", ")"),
        ],
    ),
    Alternative(
        name="new_accuracy_with_evaluate",
        cell="retrain",
        why="new_accuracy from transfer_model.evaluate (float32)",
        replace=[
            (
                "new_accuracy = float(np.mean(new_predictions == y_new_test))",
                "new_accuracy = transfer_model.evaluate(x_new_test, "
                "y_new_test, verbose=0, return_dict=True)['accuracy']",
            )
        ],
    ),
    Alternative(
        name="weights_copied_with_get_weights",
        cell="retrain",
        why="the head's weights copied with head.get_weights() (the head has no other weights)",
        replace=[
            (
                'transfer_model.get_layer("new_classifier").set_weights(head.layers[-1].get_weights())',
                'transfer_model.get_layer("new_classifier").set_weights(head.get_weights())',
            )
        ],
    ),
    Alternative(
        name="embeddings_with_a_helper",
        cell="retrain",
        why="a helper function for the three embeddings, computed in chunks and concatenated",
        replace=[
            (
                "train_embeddings = feature_extractor.predict(x_new_train, batch_size=64, verbose=0)\n"
                "val_embeddings = feature_extractor.predict(x_new_val, batch_size=64, verbose=0)\n"
                "test_embeddings = feature_extractor.predict(x_new_test, batch_size=64, verbose=0)\n",
                "def embed(clouds, chunk=100):\n"
                "    return np.concatenate([feature_extractor.predict(clouds[i:i + chunk], verbose=0)\n"
                "                           for i in range(0, len(clouds), chunk)])\n\n\n"
                "train_embeddings, val_embeddings, test_embeddings = (em"
                "bed(x) for x in (x_new_train, x_new_val, x_new_test))\n",
            )
        ],
    ),
    Alternative(
        name="loss_and_metric_objects",
        cell="retrain",
        why="the head compiled with loss and metric objects, Adam with learning_rate=",
        replace=[
            (
                "head.compile(optimizer=keras.optimizers.Adam(HEAD_LEA"
                'RNING_RATE), loss="sparse_categorical_crossentropy",\n'
                '             metrics=["accuracy"], steps_per_execution=HEAD_STEPS)',
                "head.compile(optimizer=keras.optimizers.Adam(learning_rate=HEAD_LEARNING_RATE),\n"
                "             loss=keras.losses.SparseCategoricalCrossentro"
                "py(), metrics=[keras.metrics.SparseCategoricalAccuracy()], steps_per_execution=HEAD_STEPS)",
            )
        ],
    ),
    Alternative(
        name="count_nonzero_accuracy",
        cell="retrain",
        why="the accuracy as a ratio of counts (a Python float)",
        replace=[
            (
                "new_accuracy = float(np.mean(new_predictions == y_new_test))",
                "new_accuracy = np.count_nonzero(new_predictions == y_new_test) / len(y_new_test)",
            )
        ],
    ),
    # --- TODO 5: fine-tuning (the set-up cell after it calls the function again, as a student's notebook would)
    Alternative(
        name="unfreeze_by_get_layer",
        cell="fine_tune",
        why="all layers frozen in a loop, then mlp2_3_conv unfrozen through get_layer",
        replace=[
            (
                '    for layer in extractor.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                "    for layer in extractor.layers:\n        layer.trainable = False\n"
                '    extractor.get_layer("mlp2_3_conv").trainable = True\n',
            )
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="objects_and_keywords",
        cell="fine_tune",
        why="loss object, Adam(learning_rate=...), batch norm frozen by type",
        replace=[
            (
                '    for layer in extractor.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                "    for layer in extractor.layers:\n"
                '        if isinstance(layer, keras.layers.BatchNormalization) or layer.name != "mlp2_3_conv":\n'
                "            layer.trainable = False\n",
            ),
            (
                "keras.optimizers.Adam(learning_rate)",
                "keras.optimizers.Adam(learning_rate=learning_rate)",
            ),
            (
                'loss="sparse_categorical_crossentropy",\n                  metrics=["accuracy"]',
                'loss=keras.losses.SparseCategoricalCrossentropy(),\n                  metrics=["accuracy"]',
            ),
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="only_the_conv_unfrozen_from_frozen_model",
        cell="fine_tune",
        why="the model stays frozen except one layer set trainable through the layer list",
        replace=[
            (
                "    extractor.trainable = True\n    for layer in extractor"
                '.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                "    extractor.trainable = True\n"
                "    for layer in extractor.layers:\n"
                '        if layer.name != "mlp2_3_conv":\n'
                "            layer.trainable = False\n",
            )
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="optimizer_built_first_and_a_metric_object",
        cell="fine_tune",
        why="an Adam object built first, the loss positionally, a metric object with the default name",
        replace=[
            (
                "    model.compile(optimizer=keras.optimizers.Adam(learning_rate), "
                'loss="sparse_categorical_crossentropy",\n                  metrics=["accuracy"])',
                "    optimizer = keras.optimizers.Adam(learning_rate=float(learning_rate))\n"
                '    model.compile(optimizer, "sparse_categorical_crossentropy",'
                " metrics=[keras.metrics.SparseCategoricalAccuracy()])",
            ),
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="trainable_by_a_set_of_names",
        cell="fine_tune",
        why="the layers to unfreeze as a set of names, tested by membership",
        replace=[
            (
                '    for layer in extractor.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                '    unfrozen = {"mlp2_3_conv"}\n    for layer in extractor.layers:\n'
                "        layer.trainable = layer.name in unfrozen\n",
            )
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="loss_function_and_named_optimizer",
        cell="fine_tune",
        why="the loss as Keras' function, a named Adam with learning_rate=",
        replace=[
            (
                'keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy"',
                'keras.optimizers.Adam(learning_rate=learning_rate, name="fine_tune_adam"),\n'
                "                  loss=keras.losses.sparse_categorical_crossentropy",
            )
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="conv_found_in_the_layer_list",
        cell="fine_tune",
        why="every layer frozen, then the convolution found by a search over the layer list",
        replace=[
            (
                '    for layer in extractor.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                "    for layer in extractor.layers:\n        layer.trainable = False\n"
                '    next(layer for layer in extractor.layers if layer.name == "mlp2_3_conv").trainable = True\n',
            )
        ],
        rerun=["fine_tune_setup"],
    ),
    Alternative(
        name="conv_unfrozen_inside_the_frozen_extractor",
        cell="fine_tune",
        why="the extractor's own flag left False: in Keras 3 a trainable layer inside a frozen model still trains",
        replace=[("    extractor.trainable = True\n", "")],
        rerun=["fine_tune_setup"],
    ),
]

"""Plausible wrong answers to lab 4's TODOs; each must be caught by the named test cells."""

from . import Mutant

MUTANTS = [
    # --- TODO 1: build_pointnet (wiring, pooling, activations, sizes, training vs inference mode)
    Mutant(
        name="missing_input_tnet",
        cell="pointnet",
        replace=[('x = apply_transform(points, tnet(points, 3, "input_tnet"), "input_aligned")', "x = points")],
        caught_by=["test_pointnet_names", "test_pointnet_forward"],
    ),
    Mutant(
        name="feature_transform_not_applied",
        cell="pointnet",
        replace=[('x = apply_transform(x, feature_transform, "feature_aligned")', "")],
        caught_by=["test_pointnet_forward"],
    ),
    Mutant(
        name="average_pooling",
        cell="pointnet",
        replace=[
            (
                'x = global_feature(x, "global_feature")',
                'x = keras.layers.GlobalAveragePooling1D(name="global_feature")(x)',
            )
        ],
        caught_by=["test_pointnet_forward"],
    ),
    Mutant(
        name="input_transform_of_the_raw_points_skipped_in_mlp",
        cell="pointnet",
        replace=[('x = conv_bn(x, 64, "mlp1_1")', 'x = conv_bn(points, 64, "mlp1_1")')],
        caught_by=["test_pointnet_forward"],
    ),
    Mutant(
        name="no_orthogonality_penalty",
        cell="pointnet",
        replace=[(", regularizer=OrthogonalRegularizer(64, 0.001))", ")")],
        caught_by=["test_pointnet_penalty"],
    ),
    Mutant(
        name="penalty_on_the_input_tnet",
        cell="pointnet",
        replace=[
            ('tnet(points, 3, "input_tnet")', 'tnet(points, 3, "input_tnet", regularizer=OrthogonalRegularizer(3))'),
            (", regularizer=OrthogonalRegularizer(64, 0.001))", ")"),
        ],
        caught_by=["test_pointnet_penalty"],
    ),
    Mutant(
        name="penalty_weight_tenfold",
        cell="pointnet",
        replace=[("OrthogonalRegularizer(64, 0.001)", "OrthogonalRegularizer(64, 0.01)")],
        caught_by=["test_pointnet_penalty"],
    ),
    Mutant(
        name="dropout_half",
        cell="pointnet",
        replace=[('Dropout(0.3, name="head_2_dropout")', 'Dropout(0.5, name="head_2_dropout")')],
        caught_by=["test_pointnet_names"],
    ),
    Mutant(
        name="softmax_twice_in_pointnet",
        cell="pointnet",
        replace=[
            (
                "    return keras.Model(points, outputs, name=name)",
                "    return keras.Model(points, keras.layers.Softmax()(outputs), name=name)",
            )
        ],
        caught_by=["test_pointnet_forward"],
    ),
    Mutant(
        name="hard_coded_five_classes",
        cell="pointnet",
        replace=[("keras.layers.Dense(n_classes, ", "keras.layers.Dense(5, ")],
        caught_by=["test_pointnet_names"],
    ),
    # --- TODO 2: load and validate the weights
    Mutant(
        name="weights_not_loaded",
        cell="load_weights",
        replace=[("base_model.load_weights(WEIGHTS)\n", "base_model = build_pointnet(len(card['classes']))\n")],
        caught_by=["test_weights_loaded", "test_base_accuracy"],
    ),
    Mutant(
        name="wrong_class_order",
        cell="load_weights",
        replace=[
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "base_predictions = np.argsort(card['classes'])[base_predictions]\n"
                "base_accuracy = float(np.mean(base_predictions == y_base))",
            )
        ],
        caught_by=["test_base_accuracy"],
    ),
    Mutant(
        name="predicted_in_training_mode",
        cell="load_weights",
        replace=[
            (
                "base_predictions = np.argmax(base_model.predict(x_base, batch_size=64, verbose=0), axis=1)",
                "base_predictions = np.concatenate([np.argmax(base_model(x_base[i:i + 32], training=True), axis=1)"
                " for i in range(0, len(x_base), 32)])",
            )
        ],
        caught_by=["test_base_accuracy"],  # its restore reloads the weights: BN statistics moved in training mode
    ),
    Mutant(
        name="accuracy_copied_from_the_card",
        cell="load_weights",
        replace=[
            (
                "base_accuracy = float(np.mean(base_predictions == y_base))",
                "base_accuracy = card['validation_accuracy']",
            )
        ],
        caught_by=["test_base_accuracy"],
    ),
    # --- TODO 3: the transfer model (frozen layers, wiring, sizes, loss)
    Mutant(
        name="extractor_not_frozen",
        cell="transfer_model",
        replace=[("    feature_extractor.trainable = False\n", "")],
        caught_by=["test_transfer_frozen"],
    ),
    Mutant(
        name="batch_norm_left_trainable",
        cell="transfer_model",
        replace=[
            (
                "    feature_extractor.trainable = False\n",
                "    for layer in feature_extractor.layers:\n"
                "        layer.trainable = isinstance(layer, keras.layers.BatchNormalization)\n",
            )
        ],
        caught_by=["test_transfer_frozen"],
    ),
    Mutant(
        name="features_from_head_2",
        cell="transfer_model",
        replace=[('base_model.get_layer("global_feature").output', 'base_model.get_layer("head_2_relu").output')],
        caught_by=["test_transfer_shapes", "test_transfer_features"],
    ),
    Mutant(
        name="extractor_of_an_untrained_network",
        cell="transfer_model",
        replace=[
            (
                '    feature_extractor = keras.Model(base_model.input, base_model.get_layer("global_feature").output,',
                "    fresh = build_pointnet(5)\n"
                '    feature_extractor = keras.Model(fresh.input, fresh.get_layer("global_feature").output,',
            )
        ],
        caught_by=["test_transfer_features"],
    ),
    Mutant(
        name="softmax_twice_in_transfer",
        cell="transfer_model",
        replace=[
            (
                '    transfer_model = keras.Model(points, outputs, name="transfer")',
                '    transfer_model = keras.Model(points, keras.layers.Softmax()(outputs), name="transfer")',
            )
        ],
        caught_by=["test_transfer_features"],
    ),
    Mutant(
        name="hard_coded_five_new_classes",
        cell="transfer_model",
        replace=[("keras.layers.Dense(n_new_classes, ", "keras.layers.Dense(5, ")],
        caught_by=["test_transfer_shapes"],
    ),
    # --- TODO 4: embeddings, head, test accuracy (data leakage, wrong split, weights not copied)
    Mutant(
        name="head_trained_on_the_test_embeddings",
        cell="retrain",
        replace=[
            (
                "train_set = tf.data.Dataset.from_tensor_slices((train_embeddings, y_new_train))",
                "train_set = tf.data.Dataset.from_tensor_slices((test_embeddings, y_new_test))",
            )
        ],
        caught_by=["test_no_leakage"],
    ),
    Mutant(
        name="test_embeddings_of_the_validation_objects",
        cell="retrain",
        replace=[
            (
                "test_embeddings = feature_extractor.predict(x_new_test,",
                "test_embeddings = feature_extractor.predict(x_new_val,",
            ),
            (  # the predictions from transfer_model, so that the cell still runs
                "new_predictions = np.argmax(head.predict(test_embeddings, verbose=0), axis=1)",
                "new_predictions = np.argmax(transfer_model.predict(x_new_test, verbose=0), axis=1)",
            ),
        ],
        caught_by=["test_embeddings"],
    ),
    Mutant(
        name="head_weights_not_copied",
        cell="retrain",
        replace=[
            (
                'transfer_model.get_layer("new_classifier").set_weights(head.layers[-1].get_weights())\n',
                "feature_extractor, transfer_model = build_transfer_model(base_model, len(new_classes))\n",
            )
        ],
        caught_by=["test_new_accuracy"],
    ),
    Mutant(
        name="accuracy_on_the_validation_split",
        cell="retrain",
        replace=[
            (
                "new_accuracy = float(np.mean(new_predictions == y_new_test))",
                "new_accuracy = float(np.mean(np.argmax(head.predict"
                "(val_embeddings, verbose=0), axis=1) == y_new_val))",
            )
        ],
        caught_by=["test_new_accuracy"],
    ),
    # --- TODO 5: fine-tuning (batch norm unfrozen, too much unfrozen)
    Mutant(
        name="fine_tune_with_batch_norm_trainable",
        cell="fine_tune",
        replace=[
            ('layer.trainable = layer.name == "mlp2_3_conv"', 'layer.trainable = layer.name.startswith("mlp2_3")')
        ],
        caught_by=["test_fine_tune_layers", "test_fine_tune_step"],
    ),
    Mutant(
        name="fine_tune_the_whole_extractor",
        cell="fine_tune",
        replace=[
            (
                '    for layer in extractor.layers:\n        layer.trainable = layer.name == "mlp2_3_conv"\n',
                "",
            )
        ],
        caught_by=["test_fine_tune_layers", "test_fine_tune_step"],
    ),
    Mutant(
        name="fine_tune_with_the_default_learning_rate",
        cell="fine_tune",
        replace=[("keras.optimizers.Adam(learning_rate)", "keras.optimizers.Adam()")],
        caught_by=["test_fine_tune_layers"],
    ),
    Mutant(
        name="fine_tune_not_recompiled",
        cell="fine_tune",
        replace=[
            (
                "    model.compile(optimizer=keras.optimizers.Adam(learning_rate), "
                'loss="sparse_categorical_crossentropy",\n                  metrics=["accuracy"])\n',
                "",
            )
        ],
        caught_by=["test_fine_tune_layers"],
    ),
    Mutant(
        name="fine_tune_with_the_head_frozen",
        cell="fine_tune",
        replace=[
            (
                '        layer.trainable = layer.name == "mlp2_3_conv"\n',
                '        layer.trainable = layer.name == "mlp2_3_conv"\n'
                '    model.get_layer("new_classifier").trainable = False\n',
            )
        ],
        caught_by=["test_fine_tune_layers"],
    ),
    Mutant(
        name="fine_tune_with_the_one_hot_loss",
        cell="fine_tune",
        replace=[
            (
                'loss="sparse_categorical_crossentropy",\n                  metrics',
                'loss="categorical_crossentropy",\n                  metrics',
            )
        ],
        caught_by=["test_fine_tune_step"],
    ),
]

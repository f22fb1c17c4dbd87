"""Plausible wrong answers to lab 4's TODOs; each must be caught by the named test cells."""

from . import Mutant

MUTANTS = [
    Mutant(
        name="missing_input_tnet",
        cell="pointnet",
        replace=[('x = apply_transform(points, tnet(points, 3, "input_tnet"), "input_aligned")', "x = points")],
        caught_by=["test_pointnet"],
    ),
    Mutant(
        name="missing_feature_tnet",
        cell="pointnet",
        replace=[('x = apply_transform(x, feature_transform, "feature_aligned")', "")],
        caught_by=["test_pointnet"],
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
        caught_by=["test_pointnet"],
    ),
    Mutant(
        name="no_orthogonality_penalty",
        cell="pointnet",
        replace=[(", regularizer=OrthogonalRegularizer(64, 0.001))", ")")],
        caught_by=["test_pointnet"],
    ),
    Mutant(
        name="dropout_half",
        cell="pointnet",
        replace=[('Dropout(0.3, name="head_2_dropout")', 'Dropout(0.5, name="head_2_dropout")')],
        caught_by=["test_pointnet"],
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
        caught_by=["test_pointnet"],
    ),
    Mutant(
        name="weights_not_loaded",
        cell="load_weights",
        replace=[("base_model.load_weights(WEIGHTS)\n", "")],
        caught_by=["test_load_weights"],
    ),
    Mutant(
        name="wrong_class_order",
        cell="load_weights",
        replace=[
            (
                "base_accuracy = float(np.mean(predictions == y_base))",
                "base_accuracy = float(np.mean(np.argsort(card['classes'])[predictions] == y_base))",
            )
        ],
        caught_by=["test_load_weights"],
    ),
    Mutant(
        name="head_not_frozen",
        cell="transfer_model",
        replace=[("    feature_extractor.trainable = False\n", "")],
        rerun=["load_weights", "transfer_fit"],  # unfrozen layers are base_model's: reload its weights
        caught_by=["test_transfer_model"],
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
        rerun=["load_weights", "transfer_fit"],  # unfrozen layers are base_model's: reload its weights
        caught_by=["test_transfer_model"],
    ),
    Mutant(
        name="head_on_base_classifier",
        cell="transfer_model",
        replace=[('base_model.get_layer("global_feature").output', 'base_model.get_layer("head_2_relu").output')],
        rerun=["transfer_fit"],
        caught_by=["test_transfer_model"],
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
        rerun=["transfer_fit", "retrain"],
        caught_by=["test_retrain"],
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
        caught_by=["test_retrain"],
    ),
]

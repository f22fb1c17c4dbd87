"""Plausible wrong answers to lab 1's TODOs; each must be caught by the named test cells."""

from . import Mutant

FIND_LOOP = (
    "    for label, class_name in enumerate(data.CLASSES):\n"
    '        for path in sorted((Path(dataset_root) / split / class_name).glob("*.npy"), key=lambda path: path.stem):\n'
    "            samples.append(data.Sample(path.stem, label, path))"
)
ROTATION = "[[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]"
NOISE = "rng.normal(0.0, sigma, size=np.shape(points))"
CHOICE = "chosen = rng.choice(len(points), size=n, replace=False)"
ANGLE = "rng.uniform(0.0, 2.0 * np.pi)"
LEN = "return math.ceil(len(self.samples) / self.batch_size)"
BATCH_RNG = "return np.random.default_rng([self.seed, self.epoch, index])"
AUGMENT_ROW = "augment_cloud(cloud, self.sample_size, rng) if self.augment else cloud[: self.sample_size]"
TRAIN_PROVIDER = "ModelNetProvider(train_part, batch_size=BATCH_SIZE"
VAL_PROVIDER = "ModelNetProvider(val_part, batch_size=BATCH_SIZE"

MUTANTS = [
    # TODO 1: file-id tracking
    Mutant(
        name="labels_from_existing_folders",
        cell="find_samples",
        replace=[
            (
                "for label, class_name in enumerate(data.CLASSES):",
                "for label, class_name in enumerate(sorted(p.name for p in (Path(dataset_root) / split).iterdir())):",
            )
        ],
        caught_by=["test_find_samples_tree"],
    ),
    Mutant(
        name="unsorted_listing",
        cell="find_samples",
        replace=[("key=lambda path: path.stem)", "key=lambda path: path.stem, reverse=True)")],
        caught_by=["test_find_samples"],
    ),
    Mutant(
        name="delegates_to_list_samples",
        cell="find_samples",
        replace=[(FIND_LOOP, "    samples = data.list_samples(split)")],
        caught_by=["test_find_samples_tree"],
    ),
    Mutant(
        name="any_file_not_only_npy",
        cell="find_samples",
        replace=[('.glob("*.npy")', '.glob("*")'), ("data.Sample(path.stem,", "data.Sample(path.name.split('.')[0],")],
        caught_by=["test_find_samples_tree"],
    ),
    Mutant(
        name="split_hard_coded_train",
        cell="find_samples",
        replace=[("(Path(dataset_root) / split / class_name)", '(Path(dataset_root) / "train" / class_name)')],
        caught_by=["test_find_samples", "test_find_samples_tree"],
    ),
    Mutant(
        name="file_id_keeps_extension",
        cell="find_samples",
        replace=[("data.Sample(path.stem,", "data.Sample(path.name,")],
        caught_by=["test_find_samples", "test_find_samples_tree"],
    ),
    Mutant(
        name="reads_every_file",
        cell="find_samples",
        replace=[("samples.append(", "data.load_cloud(path)\n            samples.append(")],
        caught_by=["test_find_samples_tree"],
    ),
    # TODO 2a: rotation
    Mutant(
        name="rotation_about_x",
        cell="rotate_z",
        replace=[(ROTATION, "[[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]]")],
        caught_by=["test_rotate_z"],
    ),
    Mutant(
        name="rotation_clockwise",
        cell="rotate_z",
        replace=[("@ rotation.T)", "@ rotation)")],
        caught_by=["test_rotate_z"],
    ),
    Mutant(
        name="rotation_float64",
        cell="rotate_z",
        replace=[
            ("return (np.asarray(points) @ rotation.T).astype(np.float32)", "return np.asarray(points) @ rotation.T")
        ],
        caught_by=["test_rotate_z"],
    ),
    Mutant(
        name="rotation_in_degrees",
        cell="rotate_z",
        replace=[("np.cos(angle), np.sin(angle)", "np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))")],
        caught_by=["test_rotate_z"],
    ),
    # TODO 2b: jitter
    Mutant(
        name="jitter_without_clip",
        cell="jitter",
        replace=[(f"np.clip({NOISE}, -clip, clip)", NOISE)],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_uniform_noise",
        cell="jitter",
        replace=[(NOISE, "rng.uniform(-sigma, sigma, size=np.shape(points))")],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_clips_the_points",
        cell="jitter",
        replace=[
            (
                f"noise = np.clip({NOISE}, -clip, clip)\n    return (points + noise).astype(np.float32)",
                f"noise = {NOISE}\n    return np.clip(points + noise, -clip, clip).astype(np.float32)",
            )
        ],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_one_offset_for_all_points",
        cell="jitter",
        replace=[(NOISE, "rng.normal(0.0, sigma, size=3)")],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_variance_as_scale",
        cell="jitter",
        replace=[(NOISE, "rng.normal(0.0, sigma**2, size=np.shape(points))")],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_ignores_sigma",
        cell="jitter",
        replace=[(NOISE, "rng.normal(0.0, 0.01, size=np.shape(points))")],
        caught_by=["test_jitter"],
    ),
    Mutant(
        name="jitter_global_random",
        cell="jitter",
        replace=[(NOISE, "np.random.normal(0.0, sigma, size=np.shape(points))")],
        caught_by=["test_jitter"],
    ),
    # TODO 2c: subsampling
    Mutant(
        name="subsample_with_replacement",
        cell="subsample",
        replace=[("replace=False", "replace=True")],
        caught_by=["test_subsample"],
    ),
    Mutant(
        name="subsample_first_points",
        cell="subsample",
        replace=[(CHOICE, "chosen = np.arange(n)")],
        caught_by=["test_subsample"],
    ),
    Mutant(
        name="subsample_random_window",
        cell="subsample",
        replace=[(CHOICE, "start = rng.integers(0, len(points) - n + 1)\n    chosen = np.arange(start, start + n)")],
        caught_by=["test_subsample"],
    ),
    Mutant(
        name="subsample_assumes_2048_points",
        cell="subsample",
        replace=[("rng.choice(len(points),", "rng.choice(2048,")],
        caught_by=["test_subsample"],
    ),
    Mutant(
        name="subsample_float64",
        cell="subsample",
        replace=[("return np.asarray(points)[chosen].astype(np.float32)", "return np.asarray(points)[chosen]")],
        caught_by=["test_subsample"],
    ),
    # TODO 2d: augment_cloud
    Mutant(
        name="augment_without_rotation",
        cell="augment_cloud",
        replace=[(f"points = rotate_z(points, {ANGLE})", ANGLE)],
        caught_by=["test_augment_cloud"],
    ),
    Mutant(
        name="augment_half_turn",
        cell="augment_cloud",
        replace=[(ANGLE, "rng.uniform(0.0, np.pi)")],
        caught_by=["test_augment_cloud"],
    ),
    Mutant(
        name="augment_without_jitter",
        cell="augment_cloud",
        replace=[("return jitter(points, rng)", "return points")],
        caught_by=["test_augment_cloud"],
    ),
    Mutant(
        name="augment_first_points",
        cell="augment_cloud",
        replace=[("points = subsample(points, n, rng)", "points = np.asarray(points[:n], np.float32)")],
        caught_by=["test_augment_cloud"],
    ),
    Mutant(
        name="augment_fixed_generator",
        cell="augment_cloud",
        replace=[
            (
                "points = subsample(points, n, rng)",
                "rng = np.random.default_rng(0)\n    points = subsample(points, n, rng)",
            )
        ],
        caught_by=["test_augment_cloud"],
    ),
    # TODO 3: the provider
    Mutant(
        name="len_floor",
        cell="provider_class",
        replace=[(LEN, "return len(self.samples) // self.batch_size")],
        caught_by=["test_provider_len"],
    ),
    Mutant(
        name="len_plus_one",
        cell="provider_class",
        replace=[(LEN, "return len(self.samples) // self.batch_size + 1")],
        caught_by=["test_provider_len"],
    ),
    Mutant(
        name="batch_window_off_by_one",
        cell="provider_class",
        replace=[("(index + 1) * self.batch_size]", "(index + 1) * self.batch_size + 1]")],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="batch_size_hard_coded_in_arrays",
        cell="provider_class",
        replace=[
            ("np.empty((len(batch_indices), self.sample_size", "np.empty((self.batch_size, self.sample_size"),
            ("np.zeros((len(batch_indices), self.n_classes)", "np.zeros((self.batch_size, self.n_classes)"),
        ],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="n_classes_hard_coded",
        cell="provider_class",
        replace=[("np.zeros((len(batch_indices), self.n_classes)", "np.zeros((len(batch_indices), 10)")],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="labels_sorted_within_batch",
        cell="provider_class",
        replace=[("        return X, y\n", "        return X, y[np.argsort(np.argmax(y, axis=1), kind='stable')]\n")],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="labels_from_unshuffled_positions",
        cell="provider_class",
        replace=[
            (
                "        return self._generate_batch(batch_indices, self.batch_rng(index))",
                "        X, _ = self._generate_batch(batch_indices, self.batch_rng(index))\n"
                "        labels = [s.label for s in\n"
                "                  self.samples[index * self.batch_size : (index + 1) * self.batch_size]]\n"
                "        return X, keras.utils.to_categorical(labels, self.n_classes).astype(np.float32)",
            )
        ],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="float64_output",
        cell="provider_class",
        replace=[
            (
                "np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)",
                "np.empty((len(batch_indices), self.sample_size, 3))",
            )
        ],  # fmt: skip
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="integer_labels_not_one_hot",
        cell="provider_class",
        replace=[("        return X, y\n", "        return X, np.argmax(y, axis=1)\n")],
        caught_by=["test_provider_batches"],
    ),
    Mutant(
        name="eager_loading_in_init",
        cell="provider_class",
        replace=[
            (
                "        self.indices = np.arange(len(self.samples))",
                "        self.clouds = [data.load_cloud(s.path) for s in self.samples]\n"
                "        self.indices = np.arange(len(self.samples))",
            )
        ],
        caught_by=["test_provider_lazy"],
    ),
    Mutant(
        name="loads_more_than_the_batch",
        cell="provider_class",
        replace=[
            (
                "        for row, sample_index in enumerate(batch_indices):",
                "        [data.load_cloud(s.path) for s in self.samples[:3]]\n"
                "        for row, sample_index in enumerate(batch_indices):",
            )
        ],
        caught_by=["test_provider_lazy"],
    ),
    Mutant(
        name="shuffle_samples_not_indices",
        cell="provider_class",
        replace=[("self.order_rng.shuffle(self.indices)", "self.order_rng.shuffle(self.samples)")],
        caught_by=["test_provider_shuffle"],
    ),
    Mutant(
        name="never_reshuffled",
        cell="provider_class",
        replace=[
            ("        self.epoch += 1\n        if self.shuffle:\n", "        self.epoch += 1\n        if False:\n")
        ],
        caught_by=["test_provider_shuffle"],
    ),
    Mutant(
        name="reshuffle_ignores_flag",
        cell="provider_class",
        replace=[
            ("        self.epoch += 1\n        if self.shuffle:\n", "        self.epoch += 1\n        if True:\n")
        ],
        caught_by=["test_provider_shuffle"],
    ),
    Mutant(
        name="unseeded_order",
        cell="provider_class",
        replace=[("self.order_rng = np.random.default_rng(seed)", "self.order_rng = np.random.default_rng()")],
        caught_by=["test_provider_shuffle"],
    ),
    Mutant(
        name="augment_ignored",
        cell="provider_class",
        replace=[(AUGMENT_ROW, "cloud[: self.sample_size]")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="one_generator_reused_by_every_batch",
        cell="provider_class",
        replace=[(BATCH_RNG, "return self.order_rng")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="batch_generator_from_seed_only",
        cell="provider_class",
        replace=[(BATCH_RNG, "return np.random.default_rng(self.seed)")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="batch_generator_without_epoch",
        cell="provider_class",
        replace=[(BATCH_RNG, "return np.random.default_rng([self.seed, index])")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="batch_generator_without_index",
        cell="provider_class",
        replace=[(BATCH_RNG, "return np.random.default_rng([self.seed, self.epoch])")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="epoch_not_counted",
        cell="provider_class",
        replace=[("        self.epoch += 1\n", "")],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="same_generator_state_for_every_row",
        cell="provider_class",
        replace=[(AUGMENT_ROW, AUGMENT_ROW.replace(", rng)", ", __import__('copy').deepcopy(rng))"))],
        caught_by=["test_provider_augment"],
    ),
    Mutant(
        name="kwargs_swallowed",
        cell="provider_class",
        replace=[("        super().__init__(**kwargs)\n", "        super().__init__()\n")],
        caught_by=["test_provider_kwargs"],
    ),
    Mutant(
        name="only_workers_passed_on",
        cell="provider_class",
        replace=[
            ("        super().__init__(**kwargs)\n", "        super().__init__(workers=kwargs.get('workers', 1))\n")
        ],
        caught_by=["test_provider_kwargs"],
    ),
    # TODO 4: training (each one re-trains the model: keep this part of the suite small)
    Mutant(
        name="no_validation",
        cell="train",
        replace=[("validation_data=val_provider, ", "")],
        caught_by=["test_train"],
    ),
    Mutant(
        name="validation_on_the_test_split",
        cell="train",
        replace=[(VAL_PROVIDER, "ModelNetProvider(test_samples, batch_size=BATCH_SIZE")],
        caught_by=["test_train"],
    ),
    Mutant(
        name="trains_on_the_validation_part_too",
        cell="train",
        replace=[(TRAIN_PROVIDER, "ModelNetProvider(train_samples, batch_size=BATCH_SIZE")],
        caught_by=["test_train"],
    ),
]

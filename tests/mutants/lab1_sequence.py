"""Plausible wrong answers to lab 1's TODOs; each must be caught by the named test cells."""

from . import Mutant

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
        caught_by=["test_find_samples"],
    ),
    Mutant(
        name="unsorted_listing",
        cell="find_samples",
        replace=[
            (
                "sorted((Path(dataset_root) / split / class_name).glob",
                "reversed(sorted((Path(dataset_root) / split / class_name).glob",
            ),
            ('"*.npy"))', '"*.npy")))'),
        ],
        caught_by=["test_find_samples"],
    ),
    Mutant(
        name="delegates_to_list_samples",
        cell="find_samples",
        replace=[
            (
                "    for label, class_name in enumerate(data.CLASSES):\n"
                '        for path in sorted((Path(dataset_root) / split / class_name).glob("*.npy")):\n'
                "            samples.append(data.Sample(path.stem, label, path))",
                "    samples = data.list_samples(split)",
            )
        ],
        caught_by=["test_find_samples"],
    ),
    Mutant(
        name="any_file_not_only_npy",
        cell="find_samples",
        replace=[('.glob("*.npy")', '.glob("*")'), ("path.stem", "path.name.split('.')[0]")],
        caught_by=["test_find_samples"],
    ),
    # TODO 2: augmentation
    Mutant(
        name="rotation_about_x",
        cell="augmentation",
        replace=[
            (
                "[[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]",
                "[[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]]",
            )
        ],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="rotation_matrix_not_transposed",
        cell="augmentation",
        replace=[("points @ rotation.T", "points @ rotation")],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="rotation_float64",
        cell="augmentation",
        replace=[("return (points @ rotation.T).astype(np.float32)", "return points @ rotation.T")],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="jitter_without_clip",
        cell="augmentation",
        replace=[
            (
                "np.clip(rng.normal(0.0, sigma, size=points.shape), -clip, clip)",
                "rng.normal(0.0, sigma, size=points.shape)",
            )
        ],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="jitter_uniform_noise",
        cell="augmentation",
        replace=[("rng.normal(0.0, sigma, size=points.shape)", "rng.uniform(-sigma, sigma, size=points.shape)")],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="subsample_with_replacement",
        cell="augmentation",
        replace=[("replace=False", "replace=True")],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="subsample_first_points",
        cell="augmentation",
        replace=[("chosen = rng.choice(len(points), size=n, replace=False)", "chosen = np.arange(n)")],
        caught_by=["test_augmentation"],
    ),
    Mutant(
        name="augment_without_rotation",
        cell="augmentation",
        replace=[("points = rotate_z(points, rng.uniform(0.0, 2.0 * np.pi))", "rng.uniform(0.0, 2.0 * np.pi)")],
        caught_by=["test_augmentation"],
    ),
    # TODO 3: the provider
    Mutant(
        name="len_off_by_one_floor",
        cell="provider_class",
        replace=[
            ("return math.ceil(len(self.samples) / self.batch_size)", "return len(self.samples) // self.batch_size")
        ],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="len_plus_one",
        cell="provider_class",
        replace=[
            ("return math.ceil(len(self.samples) / self.batch_size)", "return len(self.samples) // self.batch_size + 1")
        ],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="batch_window_off_by_one",
        cell="provider_class",
        replace=[("(index + 1) * self.batch_size]", "(index + 1) * self.batch_size + 1]")],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="shuffle_samples_not_indices",
        cell="provider_class",
        replace=[("self.rng.shuffle(self.indices)", "self.rng.shuffle(self.samples)")],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="never_reshuffled",
        cell="provider_class",
        replace=[("    def on_epoch_end(self):", "    def on_epoch_end(self):\n        return")],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="reshuffle_ignores_flag",
        cell="provider_class",
        replace=[
            (
                'for the next epoch."""\n        ### BEGIN SOLUTION\n        if self.shuffle:',
                'for the next epoch."""\n        ### BEGIN SOLUTION\n        if True:',
            )
        ],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="unseeded_shuffle",
        cell="provider_class",
        replace=[("self.rng = np.random.default_rng(seed)", "self.rng = np.random.default_rng()")],
        caught_by=["test_provider"],
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
        caught_by=["test_provider"],
    ),
    Mutant(
        name="loads_whole_epoch_per_batch",
        cell="provider_class",
        replace=[
            (
                "        for row, sample_index in enumerate(batch_indices):",
                (
                    "        [data.load_cloud(s.path) for s in self.samples[:40]]\n"
                    "        for row, sample_index in enumerate(batch_indices):"
                ),
            )
        ],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="float64_output",
        cell="provider_class",
        replace=[
            (
                "X = np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)",
                "X = np.empty((len(batch_indices), self.sample_size, 3))",
            )
        ],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="integer_labels_not_one_hot",
        cell="provider_class",
        replace=[("        return X, y\n", "        return X, np.argmax(y, axis=1)\n")],
        caught_by=["test_provider"],
    ),
    Mutant(
        name="augment_ignored",
        cell="provider_class",
        replace=[
            (
                "augment_cloud(cloud, self.sample_size, self.rng) if self.augment else cloud[: self.sample_size]",
                "cloud[: self.sample_size]",
            )
        ],
        caught_by=["test_provider"],
    ),
    # TODO 4: training
    Mutant(
        name="no_validation",
        cell="train",
        replace=[("validation_data=val_provider, ", "")],
        caught_by=["test_train"],
    ),
    Mutant(
        name="validation_augmented",
        cell="train",
        replace=[("shuffle=False, augment=False)", "shuffle=False, augment=True)")],
        caught_by=["test_train"],
    ),
]

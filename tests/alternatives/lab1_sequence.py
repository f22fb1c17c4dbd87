"""Correct answers to lab 1's TODOs written otherwise than the reference; each must keep every point."""

from . import Alternative

FIND_LOOP = (
    "    for label, class_name in enumerate(data.CLASSES):\n"
    '        for path in sorted((Path(dataset_root) / split / class_name).glob("*.npy"), key=lambda path: path.stem):\n'
    "            samples.append(data.Sample(path.stem, label, path))"
)
ROTATE_BODY = (
    "    cos, sin = np.cos(angle), np.sin(angle)\n"
    "    rotation = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])\n"
    "    return (np.asarray(points) @ rotation.T).astype(np.float32)"
)
JITTER_BODY = (
    "    noise = np.clip(rng.normal(0.0, sigma, size=np.shape(points)), -clip, clip)\n"
    "    return (points + noise).astype(np.float32)"
)
CHOICE = (
    "    chosen = rng.choice(len(points), size=n, replace=False)\n"
    "    return np.asarray(points)[chosen].astype(np.float32)"
)
AUGMENT_BODY = (
    "    points = subsample(points, n, rng)\n"
    "    points = rotate_z(points, rng.uniform(0.0, 2.0 * np.pi))\n"
    "    return jitter(points, rng)"
)
LEN = "return math.ceil(len(self.samples) / self.batch_size)"
BATCH_RNG = "return np.random.default_rng([self.seed, self.epoch, index])"
INIT_SHUFFLE = (
    "        self.indices = np.arange(len(self.samples))\n        if self.shuffle:\n"
    "            self.order_rng.shuffle(self.indices)"
)
EPOCH_END = "        self.epoch += 1\n        if self.shuffle:\n            self.order_rng.shuffle(self.indices)"
GENERATE = (
    "        X = np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)\n"
    "        y = np.zeros((len(batch_indices), self.n_classes), dtype=np.float32)\n"
    "        for row, sample_index in enumerate(batch_indices):\n"
    "            sample = self.samples[sample_index]\n"
    "            cloud = data.load_cloud(sample.path)\n"
    "            X[row] = augment_cloud(cloud, self.sample_size, rng) if self.augment else cloud[: self.sample_size]\n"
    "            y[row, sample.label] = 1.0\n"
    "        return X, y"
)
GETITEM = (
    "        batch_indices = self.indices[index * self.batch_size : (index + 1) * self.batch_size]\n"
    "        return self._generate_batch(batch_indices, self.batch_rng(index))"
)

ALTERNATIVES = [
    # TODO 1: find_samples
    Alternative(
        name="os_walk_with_string_paths",
        cell="find_samples",
        why="os.walk and str paths instead of pathlib",
        replace=[
            (
                FIND_LOOP,
                "    import os\n\n"
                "    for folder, _, files in sorted(os.walk(os.path.join(dataset_root, split))):\n"
                "        name = os.path.basename(folder)\n"
                "        if name not in data.CLASSES:\n"
                "            continue\n"
                "        for file in sorted(f for f in files if f.endswith('.npy')):\n"
                "            samples.append(data.Sample(file[: -len('.npy')], data.CLASSES.index(name),"
                " os.path.join(folder, file)))",
            )
        ],
    ),
    Alternative(
        name="nested_list_comprehension",
        cell="find_samples",
        why="one nested list comprehension instead of loops",
        replace=[
            (
                FIND_LOOP,
                "    samples = [\n"
                "        data.Sample(path.stem, label, path)\n"
                "        for label, class_name in enumerate(data.CLASSES)\n"
                "        for path in sorted((Path(dataset_root) / split / class_name).glob('*.npy'))\n"
                "    ]",
            )
        ],
    ),
    Alternative(
        name="glob_module_sorted_by_file_name",
        cell="find_samples",
        why="the glob module with a pattern per class, sorted by base name",
        replace=[
            (
                FIND_LOOP,
                "    import glob\n    import os\n\n"
                "    for label, class_name in enumerate(data.CLASSES):\n"
                "        pattern = os.path.join(str(dataset_root), split, class_name, '*.npy')\n"
                "        for file in sorted(glob.glob(pattern), key=os.path.basename):\n"
                "            samples.append(data.Sample(Path(file).stem, label, Path(file)))",
            )
        ],
    ),
    Alternative(
        name="existing_folders_mapped_to_classes",
        cell="find_samples",
        why="walks the folders that exist and maps each name to its index in data.CLASSES",
        replace=[
            (
                FIND_LOOP,
                "    split_folder = Path(dataset_root) / split\n"
                "    folders = sorted(split_folder.iterdir()) if split_folder.is_dir() else []\n"
                "    for folder in folders:\n"
                "        if folder.is_dir() and folder.name in data.CLASSES:\n"
                "            for path in sorted(folder.glob('*.npy')):\n"
                "                samples.append(data.Sample(path.stem, data.CLASSES.index(folder.name), path))\n"
                "    samples.sort(key=lambda sample: (sample.label, sample.file_id))",
            )
        ],
    ),
    Alternative(
        name="collect_then_sort_by_label_and_id",
        cell="find_samples",
        why="collects in any order, then sorts by (label, file id)",
        replace=[
            (
                FIND_LOOP,
                "    for label, class_name in reversed(list(enumerate(data.CLASSES))):\n"
                "        for path in (Path(dataset_root) / split / class_name).glob('*.npy'):\n"
                "            samples.append(data.Sample(path.stem, label, path))\n"
                "    samples = sorted(samples, key=lambda s: (s.label, s.file_id))",
            )
        ],
    ),
    Alternative(
        name="scandir_with_helper",
        cell="find_samples",
        why="a helper function per class folder built on os.scandir",
        replace=[
            (
                FIND_LOOP,
                "    import os\n\n"
                "    def npy_files(folder):\n"
                "        if not os.path.isdir(folder):\n"
                "            return []\n"
                "        with os.scandir(folder) as entries:\n"
                "            return sorted(e.name for e in entries if e.is_file() and e.name.endswith('.npy'))\n\n"
                "    for label, class_name in enumerate(data.CLASSES):\n"
                "        folder = os.path.join(dataset_root, split, class_name)\n"
                "        samples += [data.Sample(name[:-4], label, Path(folder) / name) for name in npy_files(folder)]",
            )
        ],
    ),
    Alternative(
        name="numpy_integer_labels",
        cell="find_samples",
        why="labels as NumPy integers from np.arange",
        replace=[
            (
                "for label, class_name in enumerate(data.CLASSES):",
                "for label, class_name in zip(np.arange(len(data.CLASSES)), data.CLASSES):",
            )
        ],
    ),
    Alternative(
        name="iterdir_with_suffix_filter",
        cell="find_samples",
        why="Path.iterdir filtered by suffix, sorted by stem",
        replace=[
            (
                FIND_LOOP,
                "    for label, class_name in enumerate(data.CLASSES):\n"
                "        folder = Path(dataset_root) / split / class_name\n"
                "        if not folder.is_dir():\n"
                "            continue\n"
                "        files = [p for p in folder.iterdir() if p.suffix == '.npy' and p.is_file()]\n"
                "        samples.extend(data.Sample(p.stem, label, p) for p in sorted(files, key=lambda p: p.stem))",
            )
        ],
    ),
    # TODO 2a: rotate_z
    Alternative(
        name="rotation_by_formulas",
        cell="rotate_z",
        why="the formulas per coordinate and np.column_stack instead of a matrix",
        replace=[
            (
                ROTATE_BODY,
                "    x, y, z = np.asarray(points, dtype=np.float64).T\n"
                "    c, s = math.cos(angle), math.sin(angle)\n"
                "    return np.column_stack([c * x - s * y, s * x + c * y, z]).astype(np.float32)",
            )
        ],
    ),
    Alternative(
        name="rotation_with_einsum",
        cell="rotate_z",
        why="np.einsum with the matrix applied from the left",
        replace=[("(np.asarray(points) @ rotation.T)", "np.einsum('ij,pj->pi', rotation, np.asarray(points))")],
    ),
    Alternative(
        name="rotation_in_float32",
        cell="rotate_z",
        why="float32 arithmetic throughout",
        replace=[
            (
                ROTATE_BODY,
                "    points32 = np.asarray(points, dtype=np.float32)\n"
                "    c, s = np.float32(np.cos(angle)), np.float32(np.sin(angle))\n"
                "    matrix = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=np.float32)  # already transposed\n"
                "    return points32 @ matrix",
            )
        ],
    ),
    Alternative(
        name="rotation_with_complex_numbers",
        cell="rotate_z",
        why="the xy plane as complex numbers multiplied by exp(i angle)",
        replace=[
            (
                ROTATE_BODY,
                "    points = np.asarray(points)\n"
                "    turned = (points[:, 0] + 1j * points[:, 1]) * np.exp(1j * angle)\n"
                "    return np.stack([turned.real, turned.imag, points[:, 2]], axis=-1).astype(np.float32)",
            )
        ],
    ),
    Alternative(
        name="rotation_matrix_times_transpose",
        cell="rotate_z",
        why="(R @ P^T)^T with np.dot",
        replace=[("(np.asarray(points) @ rotation.T)", "np.dot(rotation, np.asarray(points).T).T")],
    ),
    Alternative(
        name="rotation_copy_and_assign",
        cell="rotate_z",
        why="a float32 copy whose x and y columns are overwritten",
        replace=[
            (
                ROTATE_BODY,
                "    source = np.asarray(points, dtype=np.float64)\n"
                "    rotated = source.astype(np.float32)\n"
                "    rotated[:, 0] = source[:, 0] * np.cos(angle) - source[:, 1] * np.sin(angle)\n"
                "    rotated[:, 1] = source[:, 0] * np.sin(angle) + source[:, 1] * np.cos(angle)\n"
                "    return rotated",
            )
        ],
    ),
    # TODO 2b: jitter
    Alternative(
        name="jitter_standard_normal_times_sigma",
        cell="jitter",
        why="rng.standard_normal(shape) * sigma",
        replace=[("rng.normal(0.0, sigma, size=np.shape(points))", "sigma * rng.standard_normal(np.shape(points))")],
    ),
    Alternative(
        name="jitter_minimum_maximum",
        cell="jitter",
        why="np.minimum/np.maximum instead of np.clip",
        replace=[
            (
                JITTER_BODY,
                "    noise = rng.normal(0.0, sigma, size=np.shape(points))\n"
                "    noise = np.maximum(np.minimum(noise, clip), -clip)\n"
                "    return (points + noise).astype(np.float32)",
            )
        ],
    ),
    Alternative(
        name="jitter_in_float32",
        cell="jitter",
        why="float32 noise added to float32 points",
        replace=[
            (
                JITTER_BODY,
                "    points32 = np.asarray(points, dtype=np.float32)\n"
                "    noise = rng.normal(loc=0.0, scale=sigma, size=points32.shape).astype(np.float32)\n"
                "    return points32 + np.clip(noise, -clip, clip)",
            )
        ],
    ),
    Alternative(
        name="jitter_with_where",
        cell="jitter",
        why="np.where for the clip and np.sign",
        replace=[
            (
                JITTER_BODY,
                "    noise = rng.normal(size=np.shape(points)) * sigma\n"
                "    noise = np.where(np.abs(noise) > clip, np.sign(noise) * clip, noise)\n"
                "    return np.asarray(points, dtype=np.float32) + noise.astype(np.float32)",
            )
        ],
    ),
    Alternative(
        name="jitter_in_place_on_a_copy",
        cell="jitter",
        why="a float32 copy changed in place with +=",
        replace=[
            (
                JITTER_BODY,
                "    result = np.array(points, dtype=np.float32, copy=True)\n"
                "    result += np.clip(rng.normal(0.0, sigma, result.shape), -clip, clip).astype(np.float32)\n"
                "    return result",
            )
        ],
    ),
    Alternative(
        name="jitter_drawn_per_point",
        cell="jitter",
        why="the noise drawn as (points, 3) from the number of points",
        replace=[("size=np.shape(points)", "size=(len(points), 3)")],
    ),
    Alternative(
        name="jitter_helper_function",
        cell="jitter",
        why="a helper that makes the clipped noise",
        replace=[
            (
                JITTER_BODY,
                "    def clipped_noise(shape):\n"
                "        return np.clip(rng.normal(0.0, sigma, shape), -clip, clip)\n\n"
                "    return np.add(points, clipped_noise(np.shape(points)), dtype=np.float64).astype('float32')",
            )
        ],
    ),
    Alternative(
        name="jitter_clip_method",
        cell="jitter",
        why="the array's own .clip method",
        replace=[
            (
                "np.clip(rng.normal(0.0, sigma, size=np.shape(points)), -clip, clip)",
                "rng.normal(scale=sigma, size=np.shape(points)).clip(-clip, clip)",
            )
        ],
    ),
    # TODO 2c: subsample
    Alternative(
        name="subsample_permutation_slice",
        cell="subsample",
        why="rng.permutation(P)[:n] instead of rng.choice",
        replace=[("rng.choice(len(points), size=n, replace=False)", "rng.permutation(len(points))[:n]")],
    ),
    Alternative(
        name="subsample_choice_of_rows",
        cell="subsample",
        why="rng.choice on the rows themselves (axis=0)",
        replace=[
            (CHOICE, "    return rng.choice(np.asarray(points), size=n, replace=False, axis=0).astype(np.float32)")
        ],
    ),
    Alternative(
        name="subsample_permuted_rows",
        cell="subsample",
        why="permute all rows, keep the first n",
        replace=[(CHOICE, "    return rng.permutation(np.asarray(points, dtype=np.float32))[:n]")],
    ),
    Alternative(
        name="subsample_shuffled_index",
        cell="subsample",
        why="rng.shuffle of an index array",
        replace=[
            (
                "chosen = rng.choice(len(points), size=n, replace=False)",
                "chosen = np.arange(len(points))\n    rng.shuffle(chosen)\n    chosen = chosen[:n]",
            )
        ],
    ),
    Alternative(
        name="subsample_sorted_indices",
        cell="subsample",
        why="the kept points in their stored order (sorted indices)",
        replace=[("chosen = rng.choice(", "chosen = np.sort(rng.choice("), ("replace=False)", "replace=False))")],
    ),
    Alternative(
        name="subsample_argsort_of_random_keys",
        cell="subsample",
        why="the n smallest of P uniform random keys",
        replace=[("rng.choice(len(points), size=n, replace=False)", "np.argsort(rng.random(len(points)))[:n]")],
    ),
    Alternative(
        name="subsample_uniform_probabilities",
        cell="subsample",
        why="rng.choice with explicit uniform probabilities",
        replace=[("size=n, replace=False)", "size=n, replace=False, p=np.full(len(points), 1 / len(points)))")],
    ),
    # TODO 2d: augment_cloud
    Alternative(
        name="augment_angle_from_random",
        cell="augment_cloud",
        why="angle = 2 pi * rng.random()",
        replace=[("rng.uniform(0.0, 2.0 * np.pi)", "2 * math.pi * rng.random()")],
    ),
    Alternative(
        name="augment_one_expression",
        cell="augment_cloud",
        why="one nested expression",
        replace=[
            (AUGMENT_BODY, "    return jitter(rotate_z(subsample(points, n, rng), rng.uniform(high=2 * np.pi)), rng)")
        ],
    ),
    Alternative(
        name="augment_named_steps",
        cell="augment_cloud",
        why="other variable names and a float32 cast first",
        replace=[
            (
                AUGMENT_BODY,
                "    cloud = np.asarray(points, dtype=np.float32)\n"
                "    kept = subsample(cloud, n, rng)\n"
                "    theta = float(rng.uniform(0, 2 * math.pi))\n"
                "    turned = rotate_z(kept, theta)\n"
                "    noisy = jitter(turned, rng, sigma=0.01, clip=0.05)\n"
                "    return noisy.astype(np.float32)",
            )
        ],
    ),
    Alternative(
        name="augment_angle_helper",
        cell="augment_cloud",
        why="a helper that draws the angle",
        replace=[
            (
                AUGMENT_BODY,
                "    def random_angle():\n"
                "        return rng.uniform(low=0.0, high=2.0 * np.pi)\n\n"
                "    return jitter(rotate_z(subsample(points, n, rng), random_angle()), rng)",
            )
        ],
    ),
    Alternative(
        name="augment_rotate_before_subsampling",
        cell="augment_cloud",
        why="rotates the whole cloud, then subsamples (same distribution)",
        replace=[
            (
                AUGMENT_BODY,
                "    angle = rng.uniform(0.0, 2.0 * np.pi)\n"
                "    return jitter(subsample(rotate_z(points, angle), n, rng), rng)",
            )
        ],
    ),
    Alternative(
        name="augment_symmetric_angle",
        cell="augment_cloud",
        why="an angle uniform in [-pi, pi): the same rotations as [0, 2 pi)",
        replace=[("rng.uniform(0.0, 2.0 * np.pi)", "rng.uniform(-np.pi, np.pi)")],
    ),
    # TODO 3: the provider
    Alternative(
        name="len_by_negative_floor_division",
        cell="provider_class",
        why="-(-n // b) instead of math.ceil",
        replace=[(LEN, "return -(-len(self.samples) // self.batch_size)")],
    ),
    Alternative(
        name="len_by_rounding_up",
        cell="provider_class",
        why="(n + b - 1) // b",
        replace=[(LEN, "return (len(self.samples) + self.batch_size - 1) // self.batch_size")],
    ),
    Alternative(
        name="len_by_divmod",
        cell="provider_class",
        why="divmod and a conditional",
        replace=[
            (LEN, "full, rest = divmod(len(self.samples), self.batch_size)\n        return full + (1 if rest else 0)")
        ],
    ),
    Alternative(
        name="permutation_instead_of_shuffle",
        cell="provider_class",
        why="rng.permutation makes a new index array instead of shuffling in place",
        replace=[
            (
                INIT_SHUFFLE,
                "        n = len(self.samples)\n"
                "        self.indices = self.order_rng.permutation(n) if self.shuffle else np.arange(n)",
            ),
            (
                EPOCH_END,
                "        self.epoch += 1\n        if self.shuffle:\n"
                "            self.indices = self.order_rng.permutation(self.indices)",
            ),
        ],
    ),
    Alternative(
        name="order_from_seed_and_epoch",
        cell="provider_class",
        why="each epoch's order derived from (seed, epoch) instead of one generator",
        replace=[
            (
                INIT_SHUFFLE,
                "        self.indices = self.epoch_order()\n\n"
                "    def epoch_order(self):\n"
                "        order = np.arange(len(self.samples))\n"
                "        if self.shuffle:\n"
                "            np.random.default_rng([self.seed, self.epoch, 2**31]).shuffle(order)\n"
                "        return order",
            ),
            (EPOCH_END, "        self.epoch += 1\n        self.indices = self.epoch_order()"),
        ],
    ),
    Alternative(
        name="python_list_of_indices",
        cell="provider_class",
        why="the index array as a Python list (Generator.shuffle takes lists)",
        replace=[("self.indices = np.arange(len(self.samples))", "self.indices = list(range(len(self.samples)))")],
    ),
    Alternative(
        name="batch_generator_from_seed_sequence",
        cell="provider_class",
        why="Generator(PCG64(SeedSequence([seed, epoch, index])))",
        replace=[
            (
                BATCH_RNG,
                "return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, self.epoch, index])))",
            )
        ],
    ),
    Alternative(
        name="batch_generator_from_hash",
        cell="provider_class",
        why="one integer seed from hash((seed, epoch, index)) (deterministic for integers)",
        replace=[(BATCH_RNG, "return np.random.default_rng(abs(hash((self.seed, self.epoch, int(index)))))")],
    ),
    Alternative(
        name="batch_generator_from_arithmetic",
        cell="provider_class",
        why="one integer seed combined arithmetically",
        replace=[
            (BATCH_RNG, "return np.random.default_rng(self.seed * 1_000_003 + self.epoch * 100_003 + int(index))")
        ],
    ),
    Alternative(
        name="batch_generator_spawned",
        cell="provider_class",
        why="SeedSequence(seed, spawn_key=(epoch, index))",
        replace=[
            (
                BATCH_RNG,
                "return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.epoch, int(index))))",
            )
        ],
    ),
    Alternative(
        name="batch_generator_from_sha256",
        cell="provider_class",
        why="a seed hashed from the text 'seed-epoch-index'",
        replace=[
            (
                BATCH_RNG,
                "digest = __import__('hashlib').sha256(f'{self.seed}-{self.epoch}-{int(index)}'.encode()).hexdigest()\n"
                "        return np.random.default_rng(int(digest[:16], 16))",
            )
        ],
    ),
    Alternative(
        name="calls_super_on_epoch_end",
        cell="provider_class",
        why="calls PyDataset.on_epoch_end first",
        replace=[(EPOCH_END, "        super().on_epoch_end()\n" + EPOCH_END)],
    ),
    Alternative(
        name="generator_per_sample",
        cell="provider_class",
        why="a generator per row, made from (seed, epoch, position of the sample): still a function of the batch",
        replace=[
            (
                "augment_cloud(cloud, self.sample_size, rng) if self.augment",
                "augment_cloud(cloud, self.sample_size,"
                " np.random.default_rng([self.seed, self.epoch, int(sample_index)]))"
                " if self.augment",
            )
        ],
    ),
    Alternative(
        name="stack_and_to_categorical",
        cell="provider_class",
        why="a list comprehension, np.stack and keras.utils.to_categorical",
        replace=[
            (
                GENERATE,
                "        batch = [self.samples[i] for i in batch_indices]\n"
                "        clouds = [data.load_cloud(s.path) for s in batch]\n"
                "        if self.augment:\n"
                "            clouds = [augment_cloud(c, self.sample_size, rng) for c in clouds]\n"
                "        else:\n"
                "            clouds = [c[: self.sample_size] for c in clouds]\n"
                "        X = np.stack(clouds).astype(np.float32)\n"
                "        y = keras.utils.to_categorical([s.label for s in batch], self.n_classes).astype(np.float32)\n"
                "        return X, y",
            )
        ],
    ),
    Alternative(
        name="one_hot_from_identity",
        cell="provider_class",
        why="rows of np.eye for the one-hot labels, np.load for the files",
        replace=[
            (
                GENERATE,
                "        rows, labels = [], []\n"
                "        for i in batch_indices:\n"
                "            cloud = np.load(self.samples[i].path)\n"
                "            rows.append(augment_cloud(cloud, self.sample_size, rng)"
                " if self.augment else cloud[: self.sample_size])\n"
                "            labels.append(self.samples[i].label)\n"
                "        return np.array(rows, dtype=np.float32), np.eye(self.n_classes, dtype=np.float32)[labels]",
            )
        ],
    ),
    Alternative(
        name="fancy_index_one_hot",
        cell="provider_class",
        why="one-hot by fancy indexing, X computed in float64 and cast at the end",
        replace=[
            (
                GENERATE,
                "        picked = [self.samples[i] for i in batch_indices]\n"
                "        X = np.zeros((len(picked), self.sample_size, 3))\n"
                "        for row, sample in enumerate(picked):\n"
                "            cloud = data.load_cloud(sample.path).astype(np.float64)\n"
                "            X[row] = augment_cloud(cloud, self.sample_size, rng)"
                " if self.augment else cloud[: self.sample_size]\n"
                "        y = np.zeros((len(picked), self.n_classes), dtype=np.float32)\n"
                "        y[np.arange(len(picked)), [s.label for s in picked]] = 1\n"
                "        return X.astype(np.float32), y",
            )
        ],
    ),
    Alternative(
        name="getitem_with_explicit_bounds",
        cell="provider_class",
        why="start/stop with min() and a helper for the batch's slice",
        replace=[
            (
                GETITEM,
                "        start = index * self.batch_size\n"
                "        stop = min(start + self.batch_size, len(self.samples))\n"
                "        return self._generate_batch(self.indices[start:stop], self.batch_rng(index))",
            )
        ],
    ),
    Alternative(
        name="explicit_worker_arguments",
        cell="provider_class",
        why="the three worker settings as named parameters passed on explicitly",
        replace=[
            (
                "seed=0, **kwargs):",
                "seed=0, workers=1, use_multiprocessing=False,\n                 max_queue_size=10):",
            ),
            (
                "        super().__init__(**kwargs)\n",
                "        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,"
                " max_queue_size=max_queue_size)\n",
            ),
        ],
    ),
    Alternative(
        name="generator_made_in_generate_batch",
        cell="provider_class",
        why="__getitem__ passes the index on; the generator is made where it is used",
        replace=[
            (
                "return self._generate_batch(batch_indices, self.batch_rng(index))",
                "return self._generate_batch(batch_indices, index)",
            ),
            (
                "    def _generate_batch(self, batch_indices, rng):",
                "    def _generate_batch(self, batch_indices, index):",
            ),
            (
                "        X = np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)",
                "        rng = self.batch_rng(index)\n"
                "        X = np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)",
            ),
        ],  # fmt: skip
    ),
    Alternative(
        name="samples_as_tuple",
        cell="provider_class",
        why="the samples kept as a tuple",
        replace=[("self.samples = list(samples)", "self.samples = tuple(samples)")],
    ),
    Alternative(
        name="reshuffle_a_fresh_arange",
        cell="provider_class",
        why="each epoch shuffles a fresh arange instead of the previous order",
        replace=[
            (
                EPOCH_END,
                "        self.epoch += 1\n        if self.shuffle:\n"
                "            fresh = np.arange(len(self.samples))\n"
                "            self.order_rng.shuffle(fresh)\n"
                "            self.indices = fresh",
            )
        ],
    ),
    Alternative(
        name="float32_cast_with_asarray",
        cell="provider_class",
        why="rows collected in a list and converted with np.asarray(dtype=float32)",
        replace=[
            (
                "        X = np.empty((len(batch_indices), self.sample_size, 3), dtype=np.float32)\n",
                "        X = [None] * len(batch_indices)\n",
            ),
            ("        return X, y", "        return np.asarray(np.stack(X), dtype=np.float32), y"),
        ],
    ),
    # TODO 4: training (each one re-trains the model)
    Alternative(
        name="positional_arguments_and_quiet_fit",
        cell="train",
        why="positional arguments, fit without progress output",
        source=(
            "n_classes = len(data.CLASSES)\n"
            "train_provider = ModelNetProvider(train_part, BATCH_SIZE, n_classes, SAMPLE_SIZE, True, True, env.seed)\n"
            "val_provider = ModelNetProvider(val_part, BATCH_SIZE, n_classes, SAMPLE_SIZE, False, False)\n"
            "history = model.fit(train_provider, epochs=EPOCHS, validation_data=val_provider, verbose=0)"
        ),
    ),
]

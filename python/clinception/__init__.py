"""clinception: torchvision's Inception v3, and the FID Inception, on any
OpenCL device, from Python.

    import clinception
    clinception.devices()                          # the OpenCL devices
    with clinception.Model("inception_v3.safetensors", device="gpu") as model:
        logits = model.forward(x)                  # float32 (N, 3, H, W) -> (N, classes)
        pooled = model.features(x, "avgpool")      # (N, 2048)
        print(model.classify("photos/", top=5))    # images or folders
    clinception.fid("real/", "generated/", weights="pt_inception.safetensors")

Arrays in and out are numpy's. Every failure of the library raises
clinception.Error with its message (naming the file, the layer, the device or
the image that failed)."""

import math
import os
import threading
import warnings
from ctypes import POINTER, byref, c_bool, c_double, c_float, c_int, c_size_t, c_void_p

import numpy as np

from . import _capi
from ._capi import lib as _lib

__all__ = ["Error", "Model", "devices", "fid", "fid_stats", "__version__"]

__version__ = _lib.cln_version().decode("ascii")

# The most images one forward of Model.forward and Model.features takes: a
# larger input runs in batches of this many (or of as many as fit the device).
_MAX_FORWARD_BATCH = 16
_FID_DIMS = (2048, 768, 192, 64)


class Error(RuntimeError):
    """A failure reported by the library (a file that cannot be read or is
    malformed, a weight file that does not fit the network, no such device,
    an OpenCL error, images that could not be read).

    Attributes:
        status: the library's status name, e.g. "CLN_ERR_FORMAT" (None for a
            failure of images, which the library reports one by one).
        message: the library's message (also str(error)).
        failures: for images that could not be read, a list of (path,
            message), else empty."""

    def __init__(self, message, status=None, failures=()):
        super().__init__(message)
        self.message = message
        self.status = status
        self.failures = list(failures)


def _status_name(status):
    name = _lib.cln_status_name(status)
    return name.decode("ascii") if name else str(status)


def _check(status, err):
    if status != _capi.CLN_OK:
        raise Error(err.message.decode("utf-8", "replace"), _status_name(status))


def _text(value):
    return value.decode("utf-8", "replace") if value is not None else None


def _fs(path):
    """A path as the C library takes it."""
    return os.fsencode(os.fspath(path))


# ---- Devices -------------------------------------------------------------


def _device_dict(info):
    kind = "gpu" if info.is_gpu else "cpu" if info.is_cpu else "other"
    return {
        "index": f"{info.platform_index}:{info.device_index}",
        "name": _text(info.device_name),
        "platform": _text(info.platform_name),
        "type": kind,
        "version": _text(info.device_version),
        "driver": _text(info.driver_version),
        "compute_units": int(info.compute_units),
        "global_memory": int(info.global_mem_bytes),
        "max_allocation": int(info.max_alloc_bytes),
    }


def devices():
    """Every OpenCL device of every platform, as a list of dicts:
    "index" ("P:D", what `device=` takes), "name", "platform", "type"
    ("gpu", "cpu" or "other"), "version" (CL_DEVICE_VERSION), "driver",
    "compute_units", "global_memory" and "max_allocation" (bytes).

    Raises Error when OpenCL has no platform."""
    err = _capi.cln_error()
    array = POINTER(_capi.cln_device_info)()
    count = c_size_t()
    _check(_lib.cln_devices_list(byref(array), byref(count), byref(err)), err)
    try:
        return [_device_dict(array[i]) for i in range(count.value)]
    finally:
        _capi.free(array)


def _device_selector(device):
    if device is None:
        return None
    if isinstance(device, (list, tuple)):
        device = ",".join(str(d) for d in device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string or a list of strings, not {type(device).__name__}")
    return device.encode("utf-8")


# ---- Image sets ----------------------------------------------------------


class _Closing:
    """What owns a C object: close() frees it, and `with` closes it."""

    def close(self):  # pragma: no cover - each owner has its own
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ImageSet(_Closing):
    """The image paths of files, folders (read recursively, sorted) and lists
    of them, as the library lists them; what it skips is in `warnings`."""

    def __init__(self, paths):
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        self.warnings = []
        self._handle = c_void_p()

        def warn(ctx, message):
            self.warnings.append(_text(message))

        self._warn = _capi.WARNING_FN(warn)  # kept alive as long as the set
        err = _capi.cln_error()
        _check(_lib.cln_image_set_create(self._warn, None, byref(self._handle), byref(err)), err)
        try:
            for path in paths:
                _check(_lib.cln_image_set_add(self._handle, _fs(path), byref(err)), err)
            self.count = _lib.cln_image_set_count(self._handle)
            self.c_paths = _lib.cln_image_set_paths(self._handle)
            self.paths = [os.fsdecode(self.c_paths[i]) for i in range(self.count)]
        except BaseException:
            self.close()
            raise

    def close(self):
        if self._handle:
            _lib.cln_image_set_free(self._handle)
            self._handle = c_void_p()


def _errors_choice(errors, choices):
    if errors not in choices:
        raise ValueError(f"errors must be one of {', '.join(map(repr, choices))}, not {errors!r}")


def _failure_error(failures, total):
    lines = [f"{path}: {message}" for path, message in failures]
    return Error(f"{len(failures)} of {total} images could not be read:\n" + "\n".join(lines), failures=failures)


def _folder_warnings(image_set, errors):
    """Folders the set could not read: an Error with errors="raise", else
    warnings."""
    if not image_set.warnings:
        return
    if errors == "raise":
        raise Error("\n".join(image_set.warnings))
    for message in image_set.warnings:
        warnings.warn(message, RuntimeWarning, stacklevel=3)


class _Callbacks:
    """A run's on_batch and on_failure as C callbacks (kept alive as long as
    this object): a Python exception inside one stops the run and is raised
    again by reraise() once the run has returned."""

    def __init__(self, on_batch=None):
        self.exception = None
        self.failures = []  # (index, message)
        self._on_batch = on_batch
        self.batch_fn = _capi.BATCH_FN(self._batch) if on_batch else _capi.BATCH_FN()
        self.failure_fn = _capi.FAILURE_FN(self._failure)

    def _batch(self, ctx, indices, n, out, err):
        try:
            self._on_batch([indices[i] for i in range(n)], out)
            return _capi.CLN_OK
        except BaseException as e:  # noqa: BLE001 - raised again after the run
            self.exception = e
            err.contents.status = _capi.CLN_ERR_INVALID_ARGUMENT
            err.contents.message = f"stopped by a Python exception: {e!r}".encode("utf-8")[
                : _capi.CLN_ERROR_MESSAGE_SIZE - 1
            ]
            return _capi.CLN_ERR_INVALID_ARGUMENT

    def _failure(self, ctx, index, why):
        self.failures.append((index, _text(why.contents.message)))

    def install(self, params):
        params.on_batch = self.batch_fn
        params.on_failure = self.failure_fn

    def reraise(self):
        if self.exception is not None:
            exception, self.exception = self.exception, None
            raise exception


# ---- The model -----------------------------------------------------------


def _network_id(network):
    if not isinstance(network, str):
        raise TypeError(f"network must be a string, not {type(network).__name__}")
    err = _capi.cln_error()
    out = c_int()
    _check(_lib.cln_network_from_name(network.encode("utf-8"), byref(out), byref(err)), err)
    return out.value


def _input_batch(x):
    """x as a C-order float32 (N, 3, H, W) array, checked."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"input must be a float32 array of shape (N, 3, H, W), got shape {x.shape}")
    n, _, h, w = x.shape
    if n < 1:
        raise ValueError("input holds no image (N = 0)")
    if h < _capi.CLN_MIN_INPUT_SIZE or w < _capi.CLN_MIN_INPUT_SIZE:
        raise ValueError(
            f"input images are {h} x {w}: the network needs at least "
            f"{_capi.CLN_MIN_INPUT_SIZE} x {_capi.CLN_MIN_INPUT_SIZE}"
        )
    if max(n, h, w) > 2**31 - 1:
        raise ValueError(f"input shape {x.shape} is too large")
    return x


class Model(_Closing):
    """Inception v3 (torchvision's Inception3) or the FID Inception on one or
    more OpenCL devices.

    Args:
        weights: the network's state dict as a .safetensors file (torchvision's
            tensor names; F32, F16 or BF16; a fine-tuned fc head gives its own
            class count), or None for seeded random weights (then `seed` is
            required).
        network: "inception_v3" (torchvision's) or "fid" (the FID Inception of
            FID tools: 1008 classes, its own pool branches).
        device: None (the default device: $CLINCEPTION_DEVICE, then the first
            GPU, then the first device), an index "P:D" from devices(), "cpu",
            "gpu", part of a platform or device name, several of those as a
            comma-separated string or a list, or "all". With several devices
            each batch runs on whichever is free.
        seed: the seed of random weights (weights=None only).

    Attributes: num_classes (the logits per image), network, weights,
    devices (the devices' dicts, as devices() gives them), feature_layers.

    A model holds device memory until close() (or the end of a `with` block);
    its methods may be called from several threads, one call at a time."""

    def __init__(self, weights=None, *, network="inception_v3", device=None, seed=None):
        self._pool = c_void_p()
        self._lock = threading.Lock()
        self.network = network
        network_id = _network_id(network)
        if weights is None and seed is None:
            raise ValueError("weights=None needs a seed (seeded random weights), e.g. Model(seed=1)")
        if weights is not None and seed is not None:
            raise ValueError("give weights or a seed for random weights, not both")
        if seed is not None and not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64):
            raise ValueError(f"seed must be an integer in [0, 2**64), not {seed!r}")
        self.weights = os.fspath(weights) if weights is not None else None
        params = _lib.cln_pool_default_params()
        params.devices = _device_selector(device)
        params.network = network_id
        params.weights = _fs(weights) if weights is not None else None
        params.seed = int(seed) if seed is not None else 0
        err = _capi.cln_error()
        _check(_lib.cln_pool_create(byref(params), byref(self._pool), byref(err)), err)
        first = self._model()
        self.num_classes = _lib.cln_model_num_classes(first)
        count = c_size_t()
        names = _lib.cln_model_feature_layers(first, byref(count))
        self.feature_layers = [names[i].decode("ascii") for i in range(count.value)]
        self.devices = [
            _device_dict(_lib.cln_runtime_device(_lib.cln_pool_runtime(self._pool, d)).contents)
            for d in range(_lib.cln_pool_size(self._pool))
        ]

    # -- life ---------------------------------------------------------------

    def close(self):
        """Frees the model on every device; the model cannot run afterwards.
        Calling it again does nothing."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._pool:
                _lib.cln_pool_free(self._pool)
                self._pool = c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit the library may be gone
            pass

    def __repr__(self):
        where = ", ".join(d["name"] for d in self.devices) if self._pool else "closed"
        source = repr(self.weights) if self.weights else "random weights"
        return f"<clinception.Model {self.network}, {source}, {self.num_classes} classes on {where}>"

    def _model(self):
        if not self._pool:
            raise Error("the model is closed")
        return _lib.cln_pool_model(self._pool, 0)

    # -- arrays ---------------------------------------------------------------

    def _forward_batch(self, n, h, w):
        """The batch of one forward: 0 (the whole input, split evenly over the
        devices) when it fits, else the most images that fit every device."""
        per_device = math.ceil(n / len(self.devices))
        limit = min(per_device, _MAX_FORWARD_BATCH)
        least = c_int(0)
        fits = _lib.cln_pool_largest_batch(self._pool, limit, h, w, byref(least))
        if fits < 0:
            raise MemoryError("out of host memory planning a batch")
        if fits == 0:
            raise Error(f"not even one {h} x {w} image fits {self.devices[least.value]['name']}")
        return 0 if fits >= per_device else fits

    def _run_input(self, x, layer, transform_input):
        x = _input_batch(x)
        n, _, h, w = x.shape
        with self._lock:
            self._model()
            params = _lib.cln_run_default_params()
            params.layer = layer.encode("utf-8") if layer is not None else None
            params.forward.transform_input = bool(transform_input)
            params.batch = self._forward_batch(n, h, w)
            err = _capi.cln_error()
            floats = c_size_t()
            _check(_lib.cln_run_output_floats(self._pool, byref(params), h, w, byref(floats), byref(err)), err)
            out = np.empty((n, floats.value), dtype=np.float32)
            status = _lib.cln_pool_run_input(
                self._pool,
                x.ctypes.data_as(POINTER(c_float)),
                n,
                h,
                w,
                byref(params),
                out.ctypes.data_as(POINTER(c_float)),
                None,
                byref(err),
            )
            _check(status, err)
        return out

    def forward(self, x, transform_input=False):
        """The logits of a batch.

        Args:
            x: array-like of float32 (N, 3, H, W) (converted to a C-order
                float32 array), N >= 1 and H, W >= 75.
            transform_input: apply the network's input transform first:
                torchvision's transform_input for Inception v3 (on for its
                pretrained weights), 2x - 1 for the FID Inception.

        Returns: float32 ndarray (N, num_classes)."""
        return self._run_input(x, None, transform_input)

    def feature_shape(self, layer, height=299, width=299):
        """The output shape per image of a layer for a height x width input:
        (C,) for "avgpool" and "fc", else (C, H, W)."""
        with self._lock:
            model = self._model()
            c, oh, ow = c_int(), c_int(), c_int()
            err = _capi.cln_error()
            status = _lib.cln_model_feature_shape(
                model, layer.encode("utf-8"), int(height), int(width), byref(c), byref(oh), byref(ow), byref(err)
            )
            _check(status, err)
        if layer in ("avgpool", "fc"):
            return (c.value,)
        return (c.value, oh.value, ow.value)

    def features(self, x, layer="avgpool", transform_input=False):
        """One layer's output for a batch; the network runs up to that layer
        and no further.

        Args:
            x: as forward() takes it.
            layer: a name of feature_layers (torchvision's module names):
                "avgpool" (the 2048 pooled features), "fc" (the logits), a
                block such as "Mixed_6e", a convolution inside one such as
                "Mixed_6b.branch7x7_2", "maxpool1", "Conv2d_1a_3x3", ...
            transform_input: as forward() takes it.

        Returns: float32 ndarray (N, 2048) for "avgpool", (N, num_classes) for
        "fc", else (N, C, H, W). An unknown layer raises Error listing the
        names."""
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a string, not {type(layer).__name__}")
        x = _input_batch(x)
        shape = self.feature_shape(layer, x.shape[2], x.shape[3])
        out = self._run_input(x, layer, transform_input)
        return out.reshape((x.shape[0],) + shape)

    # -- images ---------------------------------------------------------------

    def _stream(self, params, workers):
        if self.network == "fid":
            params.stream.preprocess = _capi.CLN_PREPROCESS_FID
            params.stream.crop = _capi.CLN_FID_SIZE
            params.forward.transform_input = True  # the FID Inception's 2x - 1
        else:
            params.stream.preprocess = _capi.CLN_PREPROCESS_TORCHVISION
        params.stream.workers = int(workers)

    def classify(self, paths, top=5, *, labels=None, errors="raise", batch=0, workers=0):
        """The most likely classes of images.

        Images are decoded (JPEG, PNG, BMP, GIF) and preprocessed as
        torchvision does for its pretrained Inception v3 (shorter side to 342,
        center crop 299, each channel mapped to [-1, 1]), or, for the FID
        Inception, as FID tools do (bilinear resize to 299 x 299, 2x - 1), on
        worker threads ahead of the devices.

        Args:
            paths: an image file or a folder (read recursively for image
                files, in sorted path order), or a list of them.
            top: classes per image (at most num_classes).
            labels: the class names, num_classes strings; by default
                ImageNet's names for a model of 1000 classes, else each
                class's index as a string.
            errors: "raise" (the default): when images could not be read,
                raise Error naming each of them (its `failures` lists (path,
                message)) after the run; "report": such an image's result is
                {"image": path, "error": message} instead.
            batch: images per forward (0: 8, or as many as fit if fewer).
            workers: decoding threads (0: one per CPU, at most 4).

        Returns: a list in input order, one dict per image:
        {"image": path, "top": [{"class": int, "label": str, "prob": float},
        ...]}, most likely first, prob the softmax probability."""
        _errors_choice(errors, ("raise", "report"))
        classes = self.num_classes
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top:
            raise ValueError(f"top must be a positive integer, not {top!r}")
        k = min(int(top), classes)
        if labels is None:
            if classes == 1000:
                names = [_lib.cln_imagenet_label(i) for i in range(classes)]
                if None in names:
                    raise Error("the library's ImageNet class names are unusable")
                labels = [name.decode("utf-8") for name in names]
            else:
                labels = [str(i) for i in range(classes)]
        else:
            labels = [str(label) for label in labels]
            if len(labels) != classes:
                raise ValueError(f"{len(labels)} labels for a model of {classes} classes")

        with _ImageSet(paths) as images:
            _folder_warnings(images, errors)
            results = [None] * images.count
            if images.count == 0:
                return results
            best = (c_int * k)()
            prob = (c_double * k)()

            def on_batch(indices, out):
                rows = np.ctypeslib.as_array(out, shape=(len(indices), classes))
                for row, index in enumerate(indices):
                    _lib.cln_top_classes(rows[row].ctypes.data_as(POINTER(c_float)), classes, k, best, prob)
                    results[index] = {
                        "image": images.paths[index],
                        "top": [{"class": best[j], "label": labels[best[j]], "prob": prob[j]} for j in range(k)],
                    }

            callbacks = _Callbacks(on_batch)
            self._run_set(
                callbacks,
                batch,
                workers,
                lambda params, err: _lib.cln_pool_run_images(
                    self._pool, images.c_paths, images.count, byref(params), None, byref(err)
                ),
            )
            failures = [(images.paths[i], message) for i, message in callbacks.failures]
            if failures and errors == "raise":
                raise _failure_error(failures, images.count)
            for i, message in callbacks.failures:
                results[i] = {"image": images.paths[i], "error": message}
        return results

    def _run_set(self, callbacks, batch, workers, run):
        """Runs a set of images through the pool: run(params, err) calls the
        library with the run's parameters (the preprocessing of the network,
        batch, workers and the callbacks); raises what a callback raised or
        the library's error."""
        with self._lock:
            self._model()
            params = _lib.cln_run_default_params()
            self._stream(params, workers)
            params.batch = int(batch)
            callbacks.install(params)
            err = _capi.cln_error()
            status = run(params, err)
        callbacks.reraise()
        _check(status, err)

    def _fid_stats(self, images, dims, errors, batch, workers):
        """The statistics of images' features at dims (the model must be the
        FID Inception) into a new cln_fid_stats."""
        if self.network != "fid":
            raise ValueError(f"FID statistics need the FID Inception (network='fid'), not {self.network!r}")
        accumulator = c_void_p()
        err = _capi.cln_error()
        _check(_lib.cln_fid_accumulator_create(dims, byref(accumulator), byref(err)), err)
        try:
            with _ImageSet(images) as image_set:
                _folder_warnings(image_set, errors)
                callbacks = _Callbacks()
                self._run_set(
                    callbacks,
                    batch,
                    workers,
                    lambda params, run_err: _lib.cln_pool_fid_accumulate(
                        self._pool, image_set.c_paths, image_set.count, byref(params), accumulator, byref(run_err)
                    ),
                )
                failures = [(image_set.paths[i], message) for i, message in callbacks.failures]
                if failures and errors == "raise":
                    raise _failure_error(failures, image_set.count)
                for path, message in failures:
                    warnings.warn(f"{path}: {message} (left out)", RuntimeWarning, stacklevel=4)
            stats = _capi.cln_fid_stats()
            _check(_lib.cln_fid_stats_from(accumulator, byref(stats), byref(err)), err)
            return stats
        finally:
            _lib.cln_fid_accumulator_free(accumulator)


# ---- FID -----------------------------------------------------------------


def _check_dims(dims):
    if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or _lib.cln_fid_layer(int(dims)) is None:
        raise ValueError(f"dims must be one of {', '.join(map(str, _FID_DIMS))}, not {dims!r}")
    return int(dims)


def _is_npz(source):
    if not isinstance(source, (str, bytes, os.PathLike)):
        return False
    path = os.fsdecode(os.fspath(source))
    return path.lower().endswith(".npz") and not os.path.isdir(path)


def _is_stats_pair(source):
    return (
        isinstance(source, tuple)
        and len(source) == 2
        and all(isinstance(part, np.ndarray) for part in source)
    )


class _Stats:
    """A cln_fid_stats and who frees it: the library (read or computed) or
    numpy (a (mu, sigma) pair, kept alive here)."""

    def __init__(self, stats, owned, arrays=()):
        self.stats = stats
        self.owned = owned
        self._arrays = arrays

    @classmethod
    def from_pair(cls, pair):
        mu = np.ascontiguousarray(pair[0], dtype=np.float64)
        sigma = np.ascontiguousarray(pair[1], dtype=np.float64)
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.shape[0] < 1:
            raise ValueError(f"(mu, sigma) must be shaped (D,) and (D, D), not {mu.shape} and {sigma.shape}")
        stats = _capi.cln_fid_stats()
        stats.dims = mu.shape[0]
        stats.mu = mu.ctypes.data_as(POINTER(c_double))
        stats.sigma = sigma.ctypes.data_as(POINTER(c_double))
        return cls(stats, False, (mu, sigma))

    def arrays(self):
        d = self.stats.dims
        mu = np.ctypeslib.as_array(self.stats.mu, shape=(d,)).copy()
        sigma = np.ctypeslib.as_array(self.stats.sigma, shape=(d, d)).copy()
        return mu, sigma

    def free(self):
        if self.owned:
            _lib.cln_fid_stats_free(byref(self.stats))
            self.owned = False


class _FidModel:
    """The FID Inception of `weights` (a path, or a Model of network "fid"
    used as it is): opened on first use, closed by close() if it was opened
    here."""

    def __init__(self, weights, device):
        self._weights = weights
        self._device = device
        self._model = weights if isinstance(weights, Model) else None
        self._owned = False

    def get(self):
        if self._model is None:
            if self._weights is None:
                raise ValueError("images need weights: the FID Inception's .safetensors (or a Model(network='fid'))")
            self._model = Model(self._weights, network="fid", device=self._device)
            self._owned = True
        return self._model

    def close(self):
        if self._owned:
            self._model.close()


def _stats_of(source, dims, fid_model, errors, batch, workers):
    if _is_stats_pair(source):
        return _Stats.from_pair(source)
    if _is_npz(source):
        stats = _capi.cln_fid_stats()
        err = _capi.cln_error()
        _check(_lib.cln_fid_stats_read(_fs(source), byref(stats), byref(err)), err)
        return _Stats(stats, True)
    return _Stats(fid_model.get()._fid_stats(source, dims, errors, batch, workers), True)


def fid_stats(images, *, weights=None, dims=2048, device=None, errors="raise", batch=0, workers=0):
    """The FID statistics of images: the mean and covariance (N - 1, float64)
    of the FID Inception's features at `dims`, averaged over space, as FID
    tools compute them (streamed: memory does not grow with the images).

    Args:
        images: a folder (read recursively), an image file or a list of them;
            or a statistics .npz (mu and sigma), which is read.
        weights: the FID Inception's .safetensors, or a Model(network="fid")
            to run on.
        dims: 2048 (the final average pool), 768 (Mixed_6e), 192 (maxpool2)
            or 64 (maxpool1).
        device: as Model takes it (when weights is a path).
        errors: "raise" (the default): images that could not be read raise
            Error naming them; "skip": they are left out, with a warning.
        batch, workers: as Model.classify takes them.

    Returns: (mu, sigma), float64 ndarrays (dims,) and (dims, dims). Save them
    as FID tools read them with numpy.savez(path, mu=mu, sigma=sigma)."""
    _errors_choice(errors, ("raise", "skip"))
    dims = _check_dims(dims)
    fid_model = _FidModel(weights, device)
    try:
        stats = _stats_of(images, dims, fid_model, errors, batch, workers)
        try:
            return stats.arrays()
        finally:
            stats.free()
    finally:
        fid_model.close()


def fid(a, b, *, weights=None, dims=2048, device=None, errors="raise", batch=0, workers=0):
    """The Fréchet Inception Distance between two sets of images, as FID
    tools compute it: |mu_a - mu_b|^2 + tr(s_a + s_b - 2 sqrtm(s_a s_b)),
    with 1e-6 added to both diagonals where the product is singular.

    Args:
        a, b: each a folder of images (read recursively), an image file or a
            list of them; a statistics .npz (mu and sigma, float32 or float64,
            as FID tools save them); or a (mu, sigma) pair of ndarrays, as
            fid_stats returns it. Two .npz files or pairs need no weights.
        weights: the FID Inception's .safetensors, or a Model(network="fid")
            to run on (which saves loading it again).
        dims: the features of images: 2048, 768, 192 or 64 (fid_stats).
        device, errors, batch, workers: as fid_stats takes them.

    Returns: the distance, a float."""
    _errors_choice(errors, ("raise", "skip"))
    dims = _check_dims(dims)
    fid_model = _FidModel(weights, device)
    both = []
    try:
        for source in (a, b):
            both.append(_stats_of(source, dims, fid_model, errors, batch, workers))
        distance = c_double()
        offset = c_bool()
        err = _capi.cln_error()
        status = _lib.cln_fid_distance(
            byref(both[0].stats), byref(both[1].stats), byref(distance), byref(offset), byref(err)
        )
        _check(status, err)
        return distance.value
    finally:
        for stats in both:
            stats.free()
        fid_model.close()


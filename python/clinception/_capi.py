"""The C library through ctypes: its structures, callback types and the
functions the package calls, each declared once (argtypes and restype) as
include/clinception.h defines it.

The library is the libclinception beside this file (the wheel installs it
there), or the one $CLINCEPTION_LIBRARY names (for development against a
build folder)."""

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

LIBRARY_ENV = "CLINCEPTION_LIBRARY"

# cln_status
CLN_OK = 0
CLN_ERR_INVALID_ARGUMENT = 1
CLN_ERROR_MESSAGE_SIZE = 8192

# cln_preprocess
CLN_PREPROCESS_TORCHVISION = 0
CLN_PREPROCESS_FID = 1

CLN_MIN_INPUT_SIZE = 75
CLN_FID_SIZE = 299


class cln_error(Structure):
    _fields_ = [("status", c_int), ("message", c_char * CLN_ERROR_MESSAGE_SIZE)]


class cln_device_info(Structure):
    _fields_ = [
        ("platform_index", c_int),
        ("device_index", c_int),
        ("platform_name", c_char * 256),
        ("device_name", c_char * 256),
        ("device_version", c_char * 128),
        ("driver_version", c_char * 128),
        ("is_gpu", c_bool),
        ("is_cpu", c_bool),
        ("compute_units", c_uint32),
        ("global_mem_bytes", c_uint64),
        ("max_alloc_bytes", c_uint64),
    ]


class cln_forward_options(Structure):
    _fields_ = [("transform_input", c_bool), ("conv_algo", c_int), ("profile", c_bool)]


class cln_stream_params(Structure):
    _fields_ = [
        ("preprocess", c_int),
        ("resize", c_int),
        ("crop", c_int),
        ("workers", c_int),
        ("slots", c_size_t),
    ]


class cln_pool_params(Structure):
    _fields_ = [
        ("devices", c_char_p),
        ("only", c_int),
        ("network", c_int),
        ("weights", c_char_p),
        ("seed", c_uint64),
        ("on_open", c_void_p),  # void (*)(void *, int, cln_runtime *, cln_model *): unused here
        ("ctx", c_void_p),
    ]


# cln_batch_fn, cln_failure_fn, cln_forward_fn, cln_warning_fn
BATCH_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_size_t), c_int, POINTER(c_float), POINTER(cln_error))
FAILURE_FN = CFUNCTYPE(None, c_void_p, c_size_t, POINTER(cln_error))
FORWARD_FN = CFUNCTYPE(
    c_int, c_void_p, c_int, c_void_p, POINTER(c_float), c_int, c_int, c_int, POINTER(c_float), POINTER(cln_error)
)
WARNING_FN = CFUNCTYPE(None, c_void_p, c_char_p)


class cln_run_params(Structure):
    _fields_ = [
        ("layer", c_char_p),
        ("forward", cln_forward_options),
        ("batch", c_int),
        ("stream", cln_stream_params),
        ("exact_batches", c_bool),
        ("on_batch", BATCH_FN),
        ("on_failure", FAILURE_FN),
        ("run", FORWARD_FN),
        ("ctx", c_void_p),
    ]


class cln_fid_stats(Structure):
    _fields_ = [
        ("dims", c_int),
        ("count", c_size_t),
        ("mu", POINTER(c_double)),
        ("sigma", POINTER(c_double)),
    ]


_ERR = POINTER(cln_error)
_HANDLE = c_void_p  # every opaque handle: cln_pool *, cln_model *, ...

# name: (restype, argtypes)
_FUNCTIONS = {
    "cln_version": (c_char_p, []),
    "cln_status_name": (c_char_p, [c_int]),
    "cln_devices_list": (c_int, [POINTER(POINTER(cln_device_info)), POINTER(c_size_t), _ERR]),
    "cln_network_name": (c_char_p, [c_int]),
    "cln_network_from_name": (c_int, [c_char_p, POINTER(c_int), _ERR]),
    "cln_runtime_device": (POINTER(cln_device_info), [_HANDLE]),
    "cln_model_num_classes": (c_int, [_HANDLE]),
    "cln_model_feature_layers": (POINTER(c_char_p), [_HANDLE, POINTER(c_size_t)]),
    "cln_model_feature_shape": (
        c_int,
        [_HANDLE, c_char_p, c_int, c_int, POINTER(c_int), POINTER(c_int), POINTER(c_int), _ERR],
    ),
    "cln_pool_default_params": (cln_pool_params, []),
    "cln_pool_create": (c_int, [POINTER(cln_pool_params), POINTER(_HANDLE), _ERR]),
    "cln_pool_free": (None, [_HANDLE]),
    "cln_pool_size": (c_int, [_HANDLE]),
    "cln_pool_runtime": (_HANDLE, [_HANDLE, c_int]),
    "cln_pool_model": (_HANDLE, [_HANDLE, c_int]),
    "cln_pool_largest_batch": (c_int, [_HANDLE, c_int, c_int, c_int, POINTER(c_int)]),
    "cln_stream_default_params": (cln_stream_params, []),
    "cln_run_default_params": (cln_run_params, []),
    "cln_run_output_floats": (c_int, [_HANDLE, POINTER(cln_run_params), c_int, c_int, POINTER(c_size_t), _ERR]),
    "cln_pool_run_images": (
        c_int,
        [_HANDLE, POINTER(c_char_p), c_size_t, POINTER(cln_run_params), POINTER(c_size_t), _ERR],
    ),
    "cln_pool_run_input": (
        c_int,
        [
            _HANDLE,
            POINTER(c_float),
            c_int,
            c_int,
            c_int,
            POINTER(cln_run_params),
            POINTER(c_float),
            POINTER(c_size_t),
            _ERR,
        ],
    ),
    "cln_imagenet_label": (c_char_p, [c_int]),
    "cln_top_classes": (None, [POINTER(c_float), c_int, c_int, POINTER(c_int), POINTER(c_double)]),
    "cln_image_set_create": (c_int, [WARNING_FN, c_void_p, POINTER(_HANDLE), _ERR]),
    "cln_image_set_free": (None, [_HANDLE]),
    "cln_image_set_add": (c_int, [_HANDLE, c_char_p, _ERR]),
    "cln_image_set_count": (c_size_t, [_HANDLE]),
    "cln_image_set_paths": (POINTER(c_char_p), [_HANDLE]),
    "cln_fid_layer": (c_char_p, [c_int]),
    "cln_fid_accumulator_create": (c_int, [c_int, POINTER(_HANDLE), _ERR]),
    "cln_fid_accumulator_free": (None, [_HANDLE]),
    "cln_pool_fid_accumulate": (
        c_int,
        [_HANDLE, POINTER(c_char_p), c_size_t, POINTER(cln_run_params), _HANDLE, _ERR],
    ),
    "cln_fid_stats_from": (c_int, [_HANDLE, POINTER(cln_fid_stats), _ERR]),
    "cln_fid_stats_read": (c_int, [c_char_p, POINTER(cln_fid_stats), _ERR]),
    "cln_fid_stats_free": (None, [POINTER(cln_fid_stats)]),
    "cln_fid_distance": (
        c_int,
        [POINTER(cln_fid_stats), POINTER(cln_fid_stats), POINTER(c_double), POINTER(c_bool), _ERR],
    ),
}


def library_path():
    """The path of the C library to load: $CLINCEPTION_LIBRARY, else the
    libclinception installed beside this package."""
    path = os.environ.get(LIBRARY_ENV)
    if path:
        return path
    here = os.path.dirname(os.path.abspath(__file__))
    names = {"darwin": ["libclinception.dylib"], "win32": ["clinception.dll", "libclinception.dll"]}
    for name in names.get(sys.platform, ["libclinception.so"]):
        candidate = os.path.join(here, name)
        if os.path.exists(candidate):
            return candidate
    raise ImportError(
        f"clinception: no libclinception in {here} (install the package with `pip install .` "
        f"from a checkout, or point ${LIBRARY_ENV} at a built libclinception)"
    )


def load():
    """Loads the library and declares every function the package calls."""
    path = library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"clinception: cannot load {path}: {e}") from None
    missing = []
    for name, (restype, argtypes) in _FUNCTIONS.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        function.restype = restype
        function.argtypes = argtypes
    if missing:
        raise ImportError(f"clinception: {path} lacks {', '.join(missing)} (an older library?)")
    return lib, path


lib, path = load()

# free() of the C library's malloc, for cln_devices_list's array
_libc = ctypes.CDLL(None) if sys.platform != "win32" else ctypes.cdll.msvcrt
free = _libc.free
free.restype = None
free.argtypes = [c_void_p]

"""ctypes bindings of libkdac_capi.so (include/kdac-c/Kdac.h).

ctypes rather than a compiled extension: the library has a C ABI, so one
build serves every Python version and needs no Python headers.
"""

import ctypes
import os

API_VERSION = 3

F64, F32, F16, BF16, I64, I32 = range(6)
MAX_RANK = 8


class CApiError(RuntimeError):
    """A failure reported by kdac's C interface (its one-line message)."""


class Spec(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in ("B", "T", "H", "HV", "K", "V")] + [
        ("varlen", ctypes.c_int32),
        ("dtype", ctypes.c_int32),
        ("gate_dtype", ctypes.c_int32),
        ("beta_dtype", ctypes.c_int32),
        ("state_dtype", ctypes.c_int32),
        ("gate", ctypes.c_int32),
        ("update", ctypes.c_int32),
        ("activation", ctypes.c_int32),
        ("has_lower_bound", ctypes.c_int32),
        ("lower_bound", ctypes.c_double),
        ("has_a_log", ctypes.c_int32),
        ("has_dt_bias", ctypes.c_int32),
        ("qk_l2norm", ctypes.c_int32),
        ("beta_sigmoid", ctypes.c_int32),
        ("has_initial_state", ctypes.c_int32),
        ("has_final_state", ctypes.c_int32),
        ("state_v_first", ctypes.c_int32),
        ("has_scale", ctypes.c_int32),
        ("scale", ctypes.c_double),
        ("decode", ctypes.c_int32),
        ("state_pool", ctypes.c_int32),
        ("per_token_states", ctypes.c_int32),
        ("accepted_counts", ctypes.c_int32),
        ("backward", ctypes.c_int32),
        ("token_records", ctypes.c_int32),
        ("commit", ctypes.c_int32),
    ]


class Tensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("dtype", ctypes.c_int32),
        ("rank", ctypes.c_int32),
        ("shape", ctypes.c_int64 * MAX_RANK),
    ]


TENSOR_FIELDS = ("q", "k", "v", "g", "beta", "a_log", "dt_bias", "initial_state",
                 "cu_seqlens", "o", "final_state", "state_pool", "state_indices",
                 "num_accepted", "d_o", "dht", "dq", "dk", "dv", "dg", "dbeta", "da_log",
                 "ddt_bias", "dh0", "token_records")


class LaunchArgs(ctypes.Structure):
    _fields_ = [(name, Tensor) for name in TENSOR_FIELDS]


def _candidates():
    explicit = os.environ.get("KDAC_CAPI_LIBRARY")
    if explicit:
        yield explicit
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libkdac_capi.so")
    # A source checkout: python/kdac next to build/lib.
    yield os.path.join(here, "..", "..", "build", "lib", "libkdac_capi.so")


def library_path():
    """Where libkdac_capi.so is loaded from (KDAC_CAPI_LIBRARY overrides)."""
    for path in _candidates():
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise CApiError("kdac: libkdac_capi.so not found (looked in "
                    + ", ".join(_candidates()) + "); install the package with pip "
                    "or set KDAC_CAPI_LIBRARY")


_lib = None


def lib():
    global _lib
    if _lib is not None:
        return _lib
    handle = ctypes.CDLL(library_path())
    handle.kdac_api_version.restype = ctypes.c_int
    handle.kdac_last_error.restype = ctypes.c_char_p
    handle.kdac_validate_spec.argtypes = [ctypes.POINTER(Spec)]
    handle.kdac_check_launch.argtypes = [ctypes.POINTER(Spec), ctypes.POINTER(LaunchArgs)]
    handle.kdac_get_kernel.argtypes = [ctypes.POINTER(Spec), ctypes.c_int64, ctypes.c_int,
                                       ctypes.POINTER(ctypes.c_void_p)]
    handle.kdac_kernel_description.argtypes = [ctypes.c_void_p]
    handle.kdac_kernel_description.restype = ctypes.c_char_p
    handle.kdac_kernel_num_workspaces.argtypes = [ctypes.c_void_p]
    handle.kdac_kernel_workspace_bytes.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(LaunchArgs), ctypes.POINTER(ctypes.c_size_t),
        ctypes.c_int]
    handle.kdac_kernel_launch.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(LaunchArgs),
        ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_int]
    version = handle.kdac_api_version()
    if version != API_VERSION:
        raise CApiError(f"kdac: {library_path()} has C API version {version}, "
                        f"this package needs {API_VERSION}")
    _lib = handle
    return _lib


def check(code):
    if code != 0:
        raise CApiError(lib().kdac_last_error().decode("utf-8", "replace"))


def validate_spec(spec):
    check(lib().kdac_validate_spec(ctypes.byref(spec)))


def check_launch(spec, args):
    check(lib().kdac_check_launch(ctypes.byref(spec), ctypes.byref(args)))


class Kernel:
    """A loaded kernel set: workspace sizes and launches."""

    def __init__(self, spec, typical_t, device):
        handle = ctypes.c_void_p()
        check(lib().kdac_get_kernel(ctypes.byref(spec), typical_t, device,
                                    ctypes.byref(handle)))
        self.handle = handle
        self.num_workspaces = lib().kdac_kernel_num_workspaces(handle)
        self.description = lib().kdac_kernel_description(handle).decode()
        self._sizes = (ctypes.c_size_t * max(self.num_workspaces, 1))()
        self._pointers = (ctypes.c_uint64 * max(self.num_workspaces, 1))()

    def workspace_bytes(self, args):
        check(lib().kdac_kernel_workspace_bytes(self.handle, ctypes.byref(args),
                                                self._sizes, self.num_workspaces))
        return list(self._sizes[:self.num_workspaces])

    def launch(self, stream, args, pointers, sizes):
        for i, (p, n) in enumerate(zip(pointers, sizes)):
            self._pointers[i] = p
            self._sizes[i] = n
        check(lib().kdac_kernel_launch(self.handle, ctypes.c_void_p(stream),
                                       ctypes.byref(args), self._pointers, self._sizes,
                                       self.num_workspaces))

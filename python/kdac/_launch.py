"""Launch plans: what one argument signature implies, worked out once.

A plan holds the loaded kernel set, the C launch descriptors with every
shape and dtype already written, the workspace layout, the outputs' shapes
and, per input, where its tensor comes from (the caller's tensor as is, or a
conversion such as a dtype change). A call with a known signature then only
writes data pointers, allocates its outputs from torch's caching allocator,
takes its stream's workspace (stream_workspace) and makes one ctypes call:
this is what keeps the Python path within a few microseconds of the C
launch.
"""

import ctypes
import os
import threading

import torch

from . import _capi

TENSOR_CODES = {torch.float64: _capi.F64, torch.float32: _capi.F32, torch.float16: _capi.F16,
                torch.bfloat16: _capi.BF16, torch.int64: _capi.I64, torch.int32: _capi.I32}

# Descriptor i's data pointer is word i * _WORDS of the LaunchArgs struct.
_WORDS = ctypes.sizeof(_capi.Tensor) // 8
_FIELD_WORD = {name: getattr(_capi.LaunchArgs, name).offset // 8
               for name in _capi.TENSOR_FIELDS}

# Tests set KDAC_POISON_OUTPUTS=1: outputs start as NaN, so a row a kernel
# skipped cannot pass as a zero.
POISON = os.environ.get("KDAC_POISON_OUTPUTS", "") not in ("", "0")

try:
    _raw_stream = torch._C._cuda_getCurrentRawStream
except AttributeError:  # pragma: no cover - older torch
    def _raw_stream(device):
        return torch.cuda.current_stream(device).cuda_stream


# Workspaces up to this size are kept per (device, stream) and reused by
# every later launch on that stream, as cuBLAS keeps its workspace: stream
# order makes the reuse safe and saves the call an allocation. Larger ones
# (long prefills, where a few microseconds do not matter) and those made
# during a graph capture (which must come from the graph's pool) are taken
# from torch's caching allocator per call.
WORKSPACE_CACHE_BYTES = 64 << 20
_stream_workspaces = {}
_capturing = torch.cuda.is_current_stream_capturing


def stream_workspace(device, device_index, stream, nbytes):
    """A workspace of at least `nbytes` for launches on `stream`."""
    if nbytes > WORKSPACE_CACHE_BYTES or _capturing():
        return torch.empty(nbytes, dtype=torch.uint8, device=device)
    key = (device_index, stream)
    workspace = _stream_workspaces.get(key)
    if workspace is None or workspace.numel() < nbytes:
        # Grow geometrically so a caller whose sizes creep up does not
        # reallocate on every call.
        size = max(nbytes, 2 * workspace.numel() if workspace is not None else 0, 1 << 20)
        workspace = torch.empty(min(size, WORKSPACE_CACHE_BYTES), dtype=torch.uint8,
                                device=device)
        _stream_workspaces[key] = workspace
    return workspace


def new_output(shape, dtype, device):
    if POISON:
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def fill(descriptor, t):
    """Writes tensor t's descriptor (data, dtype, shape) into a LaunchArgs field."""
    rank = t.dim()
    if rank > _capi.MAX_RANK:
        raise ValueError("kdac: tensor rank over the C API's limit")
    descriptor.data = t.data_ptr()
    descriptor.dtype = TENSOR_CODES[t.dtype]
    descriptor.rank = rank
    descriptor.shape[:rank] = t.shape


_kernels = {}


def kernel_for(spec, T, device, log):
    """The kernel set of an interned spec on a device, compiled on first use;
    the kernels are tuned for T rounded up to a power of two."""
    typical_t = 1 << max(int(T) - 1, 0).bit_length()
    key = (id(spec), device, typical_t)
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _capi.Kernel(spec, typical_t, device)
        log.debug("kdac: kernels for %s (T ~ %d) on cuda:%d: %s",
                  {name: getattr(spec, name) for name, _ in _capi.Spec._fields_},
                  typical_t, device, kernel.description)
        _kernels[key] = kernel
    return kernel


class Plan:
    """One signature's launch. `inputs` maps a C API field to the tensor the
    first call passed and, for a call's own tensors, where it came from:
    (field, tensor, role, dtype) with `role` the index of the call's tensor
    (None: a constant the plan keeps) and `dtype` None when the call's tensor
    is passed as is, else the dtype it is converted to (contiguous, on the
    device). `outputs` maps "o" / "final_state" to (shape, dtype)."""

    def __init__(self, spec, device, inputs, outputs, T, log):
        self._device = device
        self._device_index = device.index if device.index is not None else \
            torch.cuda.current_device()
        self._args = _capi.LaunchArgs()  # zeroed: an absent tensor reads as absent
        self._words = (ctypes.c_uint64 * (len(_capi.TENSOR_FIELDS) * _WORDS)).from_buffer(
            self._args)
        self._inputs = []
        self._constants = []
        for field, tensor, role, dtype in inputs:
            fill(getattr(self._args, field), tensor)
            if role is None:
                self._constants.append(tensor)
            else:
                self._inputs.append((_FIELD_WORD[field], role, dtype))
        self._outputs = []
        for field, (shape, dtype) in outputs.items():
            self._outputs.append((_FIELD_WORD[field], tuple(shape), dtype))
            descriptor = getattr(self._args, field)
            descriptor.dtype = TENSOR_CODES[dtype]
            descriptor.rank = len(shape)
            descriptor.shape[:len(shape)] = shape
            descriptor.data = 1  # present; each call writes its own
        self._lock = threading.Lock()
        self._kernel = None
        if T == 0:
            return
        kernel = self._kernel = kernel_for(spec, T, self._device_index, log)
        sizes = kernel.workspace_bytes(self._args)
        # One allocation from torch's caching allocator, cut at 256 bytes.
        offsets, total = [], 0
        for n in sizes:
            offsets.append(total)
            total += (n + 255) // 256 * 256
        self._offsets = offsets
        self._total = max(total, 1)
        count = max(len(sizes), 1)
        self._pointers = (ctypes.c_uint64 * count)()
        self._sizes = (ctypes.c_size_t * count)(*sizes)
        self._count = len(sizes)
        self._call = _capi.lib().kdac_kernel_launch
        self._handle = kernel.handle
        self._args_ref = ctypes.byref(self._args)

    def run(self, tensors):
        """Launches on `tensors` (the call's tensors, indexed by role) on
        the current stream; returns the outputs in `outputs`' order."""
        device = self._device
        make = new_output if POISON else torch.empty
        outputs = [make(shape, dtype=dtype, device=device) for _, shape, dtype in self._outputs]
        if self._kernel is None:
            return outputs
        stream = _raw_stream(self._device_index)
        workspace = stream_workspace(device, self._device_index, stream, self._total)
        base = workspace.data_ptr()
        converted = []  # alive until the launch is enqueued
        with self._lock:
            words = self._words
            for word, role, dtype in self._inputs:
                t = tensors[role]
                if dtype is not None:
                    t = t.to(device=device, dtype=dtype).contiguous()
                    converted.append(t)
                words[word] = t.data_ptr()
            for (word, _, _), t in zip(self._outputs, outputs):
                words[word] = t.data_ptr()
            pointers = self._pointers
            for i, offset in enumerate(self._offsets):
                pointers[i] = base + offset
            code = self._call(self._handle, stream, self._args_ref, pointers, self._sizes,
                              self._count)
        if code:
            _capi.check(code)
        return outputs


class PlanCache:
    """Plans by signature, dropped wholesale past a bound (a varlen caller
    whose total length changes on every call would otherwise grow it)."""

    LIMIT = 4096

    def __init__(self):
        self._plans = {}

    def get(self, key):
        return self._plans.get(key)

    def put(self, key, plan):
        if len(self._plans) >= self.LIMIT:
            self._plans.clear()
        self._plans[key] = plan


def signature(value):
    """What a call's argument contributes to its signature: for a tensor
    everything the checks read (shape, dtype, device, contiguity, grad)."""
    if isinstance(value, torch.Tensor):
        return (value.shape, value.dtype, value.device, value.is_contiguous(),
                value.requires_grad)
    return value


def source_of(prepared, given):
    """(role dtype) for a prepared tensor that came from the call's tensor
    `given`: None when it is `given` itself, else the dtype to convert to."""
    if (prepared is given or (prepared.data_ptr() == given.data_ptr()
                              and prepared.dtype == given.dtype
                              and prepared.device == given.device
                              and given.is_contiguous())):
        return None
    return prepared.dtype

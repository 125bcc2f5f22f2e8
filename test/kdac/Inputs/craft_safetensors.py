"""Writes a safetensors file from a description, for the hardening tests.

  craft_safetensors.py OUT 'JSON'
JSON: {"metadata": {key: value, ...}            (values stored as JSON texts)
       "tensors": {name: [dtype, shape], ...}    (zero-filled data)
       "header": "..."}                          (a raw header instead)
       "nested_header": N}                       (a header of N nested objects)
The metadata defaults to a small valid case (B=1, T=2, H=HV=1, K=V=4) that
the given keys override, so a test states only what it breaks.
"""
import json
import struct
import sys

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}
DEFAULT_META = {"B": 1, "T": 2, "H": 1, "HV": 1, "K": 4, "V": 4, "scale": None,
                "gate_kind": "none", "lower_bound": None,
                "use_qk_l2norm_in_kernel": False,
                "use_beta_sigmoid_in_kernel": False, "state_v_first": False,
                "has_initial_state": False}

out, spec = sys.argv[1], json.loads(sys.argv[2])
if "nested_header" in spec:
    header, data = ('{"a":' * spec["nested_header"]).encode(), b""
elif "header" in spec:
    header, data = spec["header"].encode(), b""
else:
    meta = dict(DEFAULT_META)
    meta.update(spec.get("metadata", {}))
    root, offset = {}, 0
    for name, (dtype, shape) in spec.get("tensors", {}).items():
        n = SIZES[dtype]
        for d in shape:
            n *= d
        root[name] = {"dtype": dtype, "shape": shape,
                      "data_offsets": [offset, offset + n]}
        offset += n
    root["__metadata__"] = {k: json.dumps(v) for k, v in meta.items()}
    header, data = json.dumps(root).encode(), bytes(offset)
header += b" " * (-len(header) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + data)

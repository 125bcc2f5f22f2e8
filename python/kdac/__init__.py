"""kdac from Python: Kimi Delta Attention kernels generated per shape.

``kdac.torch`` holds drop-in replacements for FLA's ``chunk_kda``,
``fused_recurrent_kda`` and ``fused_recurrent_kda_fwd``. Importing ``kdac``
itself needs neither torch nor a GPU.
"""

from ._capi import CApiError, library_path

__all__ = ["CApiError", "library_path"]
__version__ = "0.7.0"

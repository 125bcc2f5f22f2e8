# -*- Python -*-
# lit configuration of the kdac suite: FileCheck tests over kdac and kda-opt.
import os
import sys

import lit.formats
from lit.llvm import llvm_config

config.name = "KDAC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.kdac_obj_root, "test")
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Unit", "Inputs"]

config.substitutions.append(("%PATH%", config.environment["PATH"]))
# %golden_bwd first: lit substitutes in order and %golden is its prefix.
config.substitutions.append(("%golden_bwd", config.kdac_golden_bwd_dir))
config.substitutions.append(("%golden", config.kdac_golden_dir))
config.substitutions.append(("%python", sys.executable))
# Runs a command that must fail with one clean error: no crash, hang or exit
# status >= 128 (test/kdac/Inputs/expect_error.py).
config.substitutions.append(
    ("%expect-error", sys.executable + " " +
     os.path.join(config.test_source_root, "kdac", "Inputs", "expect_error.py")))

# Tests of the no-driver message run only where there is no CUDA driver.
try:
    import ctypes
    ctypes.CDLL("libcuda.so.1")
except OSError:
    config.available_features.add("no-cuda-driver")

llvm_config.with_system_environment(["HOME", "TMPDIR", "PATH"])
llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.kdac_tools_dir, append_path=True)
# A cubin cache left by a developer must not make tests pass or fail.
config.environment["KDAC_CACHE_DIR"] = os.path.join(config.test_exec_root, "kdac-cache")

tool_dirs = [config.kdac_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["kdac", "kda-opt", "kdac-translate"], tool_dirs)
llvm_config.add_tool_substitutions(["not", "count", "split-file"], [config.llvm_tools_dir])

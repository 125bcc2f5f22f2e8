#!/bin/sh
# Fails when a kdac binary needs a shared library beyond libc, libstdc++,
# libm, libgcc and the loader: the GPU machine has no LLVM installed.
set -eu
binary=$1
libs=$(ldd "$binary" | awk '{print $1}')
echo "$libs"
bad=$(echo "$libs" | grep -vE '^(linux-vdso\.so|libstdc\+\+\.so|libm\.so|libgcc_s\.so|libc\.so|/lib64/ld-linux-x86-64\.so|libdl\.so|libpthread\.so|librt\.so)' || true)
if [ -n "$bad" ]; then
  echo "unexpected shared libraries: $bad"
  exit 1
fi

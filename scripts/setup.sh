#!/usr/bin/env bash
# Installs what kdac's build needs (Debian 12 packages; idempotent), then
# configures and builds into ./build. Re-running only rebuilds what changed.
#   scripts/setup.sh [--python] [extra cmake -D options...]
# --python also installs torch and pytest (PyPI) for the Python package's tests.
set -euo pipefail
with_python=0
if [ "${1:-}" = "--python" ]; then
  with_python=1
  shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KDAC_BUILD_DIR:-$root/build}

packages=(libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools libfmt-dev
          ninja-build cmake g++ libgtest-dev python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ((with_python)) && ! python3 -c "import torch, pytest" 2>/dev/null; then
  echo "setup: installing torch and pytest for the Python tests"
  python3 -m pip install -q torch pytest
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
elif (($#)); then
  cmake "$build" "$@"
fi
cmake --build "$build"
echo "setup: built $build/bin/kdac"

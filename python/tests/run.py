"""ctest's entry to the Python tests: `run.py cpu` or `run.py gpu`. Exits
77 (ctest's skip) with a one-line reason when torch, or for gpu a CUDA
device, is missing, so a skipped suite never reads as passed."""

import os
import sys

SKIP = 77


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    try:
        import pytest
        import torch
    except ImportError as e:
        print(f"kdac python tests skipped: {e} (./scripts/setup.sh --python installs them)")
        return SKIP
    if suite == "gpu" and not torch.cuda.is_available():
        print("kdac python GPU tests skipped: no CUDA device")
        return SKIP
    here = os.path.dirname(os.path.abspath(__file__))
    return pytest.main(["-q", "-p", "no:cacheprovider",
                        os.path.join(here, f"test_torch_{suite}.py")] + sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Run on the development machine (where cnncost is installed, with network access to the package
# index), in the repository root, before copying the repository to a CUDA machine.
#
# A CUDA machine without network access that has Python 3.12, torch, torchvision, networkx, rich,
# typer, pyyaml, numpy, tabulate, portalocker and tqdm still lacks pydantic and fvcore. This puts
# the missing ones, as wheels, into .whl/ (ignored by git), to be copied along with the
# repository; benchmarks/gpu/device_sweep.sh installs them there. Versions follow this machine's
# installed ones, so both sides run the same code.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
mkdir -p .whl
rm -f .whl/*.whl
v() { python3 -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
binary=(pydantic pydantic_core annotated-types typing-inspection typing_extensions yacs termcolor)
specs=()
for name in "${binary[@]}"; do specs+=("$name==$(v "$name")"); done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${specs[@]}"
# fvcore and iopath are published as source only: pure Python, so a wheel built here runs there
python3 -m pip wheel -q --no-deps -w .whl "fvcore==$(v fvcore)" "iopath==$(v iopath)"
ls -l .whl

#!/usr/bin/env bash
# Prepare, where pip reaches a package index, what the GPU check needs on a machine that reaches none:
#   .gpu/wheels/  wheels of the suite's base dependencies that such a machine lacks (jsonschema and
#                 what it needs; the lent H200 image has numpy, hypothesis, pytest, ml_dtypes,
#                 packaging, tqdm, jinja2, attrs and typing-extensions but no jsonschema), built for
#                 that machine's Python (default 3.12) on x86-64 Linux;
#   .gpu/data/    the CIFAR-10 JPEG copy (../shared/data/cifar10-jpeg.zip), when it is beside the
#                 project, for the check's short CIFAR-10 run.
# `.gpu/` is ignored by git; carry it to the GPU machine with the working tree (about 60 MiB, nearly
# all of it the data). `bash benchmarks/gpu_check.sh OUTDIR` installs the wheels into a temporary
# folder only when a base dependency is missing, and points CIFAR10_PATH at .gpu/data when unset.
#
# Usage, from the repository root:
#   bash benchmarks/gpu_prepare.sh [PYTHON_VERSION]      (default 3.12)
# Environment: PYTHON (the interpreter whose pip downloads; default python3).
set -euo pipefail

[ -f bnconform/__init__.py ] || { echo "gpu_prepare: run from the repository root" >&2; exit 2; }
PYV=${1:-3.12}
PY=${PYTHON:-python3}
WHEELS=.gpu/wheels
DATA=.gpu/data
# jsonschema 4.x and its requirements not on that machine (attrs and typing-extensions are there);
# one version of each, the whole closure, since the install there takes --no-deps
NEEDED=(jsonschema jsonschema-specifications referencing rpds-py)

rm -rf "$WHEELS"
mkdir -p "$WHEELS" "$DATA"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64; do
    platforms+=(--platform "$p")
done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
    "${platforms[@]}" -d "$WHEELS" "${NEEDED[@]}"
echo "gpu_prepare: wheels for Python $PYV in $WHEELS:"
ls -1 "$WHEELS" | sed 's/^/  /'

SHARED=../shared/data/cifar10-jpeg.zip
if [ -f "$SHARED" ]; then
    cp -f "$SHARED" "$DATA/"
    echo "gpu_prepare: CIFAR-10 JPEG copy in $DATA ($(du -m "$DATA/cifar10-jpeg.zip" | cut -f1) MB)"
else
    echo "gpu_prepare: $SHARED not found: the check's CIFAR-10 step will be skipped with its reason"
fi
echo "gpu_prepare: $(du -sm .gpu | cut -f1) MB in .gpu; carry it beside the working tree and run"
echo "  bash benchmarks/gpu_check.sh OUTDIR"

#!/usr/bin/env bash
# The GPU check: on one machine with an accelerator, in at most 8 minutes, run
#   0. the suite's base dependencies, installed from .gpu/wheels where one is missing (a machine that
#      reaches no package index: see benchmarks/gpu_prepare.sh, which also brings the CIFAR-10 copy),
#   1. the device facts (nvidia-smi, torch.cuda, jax.devices, TensorFlow's GPUs),
#   2. the conformance suite with --device cuda for every framework family installed (torch, jax/flax,
#      keras on each backend, tf_keras); a family whose modules are not importable is skipped with
#      its reason (a machine with PyTorch, JAX and Flax but no Keras or TensorFlow is the usual case),
#   3. the float32 math-mode probes (bnconform/adapters/math_mode.py) of every target, by default and in full
#      float32,
#   4. a short CIFAR-10 run on the device: model A of the quick profile, 1 epoch, seed 0, on the CIFAR-10
#      target of every family that ran (torch, flax-linen, keras-*; tf_keras has no trainer), through
#      `python -m bnconform.cifar run --device` (a target whose framework does not see the device: exit 2, named),
#   5. the report and the gate over everything written,
# into OUTDIR: device_facts.txt, results/<family>/{results.json,junit.xml,pytest.log},
# math_mode/<family>.json, cifar.txt, report/index.html, gate.txt, steps.tsv (step, exit, seconds),
# skipped.txt.
#
# Usage, from the repository root (installed, or not: the root goes on PYTHONPATH):
#   bash benchmarks/gpu_check.sh OUTDIR
# Environment:
#   GPU_CHECK_DEVICE        the --device (default cuda; cpu exercises the same steps without a GPU)
#   GPU_CHECK_BUDGET_S      total seconds (default 480): each step's timeout is cut to what is left
#   GPU_CHECK_PROFILE       Hypothesis profile (default ci: 20 derandomized examples per test)
#   GPU_CHECK_FAMILIES      the families to try (default: torch jax keras-torch keras-jax keras-tensorflow tf_keras)
#   GPU_CHECK_PYTEST_ARGS   extra pytest arguments, e.g. '-k conv2d'
#   GPU_CHECK_ASSUME_MISSING  modules to treat as not installed (tests simulate a machine without them)
#   GPU_CHECK_CIFAR_PROFILE the CIFAR-10 profile of step 4 (default quick; its protocol cut to 1 epoch)
#   GPU_CHECK_CIFAR_ARGS    extra `python -m bnconform.cifar run` arguments, e.g. '--n-train 500' (tests keep it short)
#   GPU_CHECK_WHEELS        wheels of missing base dependencies (default .gpu/wheels, from
#                           `bash benchmarks/gpu_prepare.sh`); installed into a temporary folder only when
#                           one is missing; none there and one missing: exit 2, naming it
#   GPU_CHECK_DRY_RUN=1     print each step and its timeout, run nothing
#   PYTHON                  the interpreter (default python3, else python)
set -u

OUT=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
BUDGET=${GPU_CHECK_BUDGET_S:-480}
PROFILE=${GPU_CHECK_PROFILE:-ci}
FAMILIES=${GPU_CHECK_FAMILIES:-torch jax keras-torch keras-jax keras-tensorflow tf_keras}
PYTEST_ARGS=${GPU_CHECK_PYTEST_ARGS:-}
MISSING=" ${GPU_CHECK_ASSUME_MISSING:-} "
DRY=${GPU_CHECK_DRY_RUN:-0}
PY=${PYTHON:-$(command -v python3 || command -v python)}  # python3: the lent GPU image has no `python`
REPORT_RESERVE=40   # seconds kept for the report and the gate

[ -f bnconform/__init__.py ] || { echo "gpu_check: run from the repository root" >&2; exit 2; }
mkdir -p "$OUT/results" "$OUT/math_mode" || exit 2
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}  # deterministic cuBLAS
export TF_CPP_MIN_LOG_LEVEL=2
export BNCONFORM_DEVICE="$DEVICE"
START=$(date +%s)
: > "$OUT/steps.tsv"
: > "$OUT/skipped.txt"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# step NAME SECONDS LOG CMD...: run CMD with a timeout of SECONDS, cut to the budget left (less the
# report's reserve unless NAME is report/gate); output to LOG; a line in steps.tsv.
step() {
    local name=$1 want=$2 log=$3; shift 3
    local reserve=$REPORT_RESERVE
    case $name in report|gate) reserve=0 ;; esac
    local t=$(( $(left) - reserve ))
    [ "$want" -lt "$t" ] && t=$want
    if [ "$t" -lt 5 ]; then
        echo "== $name: skipped, no time left in the ${BUDGET} s budget" | tee -a "$OUT/skipped.txt"
        printf '%s\t%s\t%s\n' "$name" "no-time" 0 >> "$OUT/steps.tsv"
        return 0
    fi
    local text="$*"
    text=${text//$'\n'/ }
    echo "== $name (timeout ${t} s): ${text:0:600}"
    if [ "$DRY" = 1 ]; then
        printf '%s\t%s\t%s\n' "$name" "dry-run" 0 >> "$OUT/steps.tsv"
        return 0
    fi
    local t0=$(date +%s) rc
    timeout -k 5 "$t" "$@" > "$log" 2>&1
    rc=$?
    [ "$rc" = 124 ] && echo "   $name: timed out after ${t} s (partial output kept)"
    printf '%s\t%s\t%s\n' "$name" "$rc" $(( $(date +%s) - t0 )) >> "$OUT/steps.tsv"
    case $name in
        facts) ;;
        math-mode-*) summarize_math_mode "$log" ;;
        *) tail -n 3 "$log" | sed 's/^/   /' ;;
    esac
    return 0
}

# summarize_math_mode FILE: one line per target of a math-mode probe file (what each probe read)
summarize_math_mode() {
    "$PY" - "$1" <<'EOF' 2>&1 | sed 's/^/   /'
import json, sys
try:
    found = json.load(open(sys.argv[1]))
except ValueError:
    print(open(sys.argv[1]).read()[-400:])
    sys.exit()
for target, probe in found.items():
    if "unavailable" in probe:
        print(probe["unavailable"])  # names the target
        continue
    value = lambda p: (p or {}).get("value") or "n/a"
    print(f"{target} on {probe['device'].get('name')}: conv2d {value(probe.get('default'))} "
          f"(full float32 {value(probe.get('full_float32'))}), matmul {value(probe['matmul'].get('default'))} "
          f"(full float32 {value(probe['matmul'].get('full_float32'))})")
EOF
}

# assumed_missing MODULE...: 0 (and prints why) if one of them is in GPU_CHECK_ASSUME_MISSING
assumed_missing() {
    local m
    for m in "$@"; do
        case $MISSING in *" $m "*) echo "$m is not installed (GPU_CHECK_ASSUME_MISSING)"; return 0 ;; esac
    done
    return 1
}

# importable MODULE...: 0 if every module has a spec (and none is assumed missing), else prints why
importable() {
    local m
    assumed_missing "$@" && return 1
    for m in "$@"; do
        "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$m') is None)" 2>/dev/null \
            || { echo "$m is not installed"; return 1; }
    done
    return 0
}

family_modules() {
    case $1 in
        torch) echo torch ;;
        jax) echo jax flax ;;
        keras-torch) echo keras torch ;;
        keras-jax) echo keras jax ;;
        keras-tensorflow) echo keras tensorflow ;;
        tf_keras) echo tf_keras tensorflow ;;
        *) return 1 ;;
    esac
}

family_targets() {
    case $1 in
        torch) echo torch torch-functional ;;
        jax) echo jax flax-linen flax-nnx ;;
        tf_keras) echo tf_keras ;;
        *) echo "$1" ;;
    esac
}

# -- 0. the suite's base dependencies (pyproject's `dependencies`) ---------------------------------
# A machine that reaches no package index may lack one (the lent H200 image has no jsonschema):
# install the wheels that `bash benchmarks/gpu_prepare.sh` put in .gpu/wheels (GPU_CHECK_WHEELS) into
# a temporary folder on PYTHONPATH, or stop here naming what is missing.
BASE_MODULES="numpy hypothesis pytest ml_dtypes packaging tqdm jinja2 jsonschema"
WHEELS=${GPU_CHECK_WHEELS:-$PWD/.gpu/wheels}
# imports MODULE...: 0 if every module imports (and none is assumed missing), else prints why
imports() {
    assumed_missing "$@" && return 1
    "$PY" -c '
import importlib, sys
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception as e:
        sys.exit(f"{m} does not import ({type(e).__name__}: {e})")
' "$@" 2>&1
}
# shellcheck disable=SC2086
if ! why=$(imports $BASE_MODULES); then
    if [ "$DRY" != 1 ] && compgen -G "$WHEELS/*.whl" > /dev/null; then
        SITE=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")
        echo "== base dependencies: $why; installing $(ls "$WHEELS" | tr '\n' ' ')into $SITE"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl \
            || { echo "gpu_check: installing the wheels of $WHEELS failed" >&2; exit 2; }
        export PYTHONPATH="$PYTHONPATH:$SITE"
        # shellcheck disable=SC2086
        why=$(MISSING=" " imports $BASE_MODULES) && why=  # what was assumed missing is there now
    fi
    if [ -n "$why" ]; then
        echo "gpu_check: $why: the suite needs its base dependencies ($BASE_MODULES). Where pip reaches" \
             "a package index, run 'bash benchmarks/gpu_prepare.sh' and bring .gpu/ along, or set" \
             "GPU_CHECK_WHEELS to a folder of wheels" | tee -a "$OUT/skipped.txt" >&2
        exit 2
    fi
fi
# the CIFAR-10 copy gpu_prepare.sh brought, unless the data is named already
if [ -z "${CIFAR10_PATH:-}" ] && [ -f "$PWD/.gpu/data/cifar10-jpeg.zip" ]; then
    export CIFAR10_PATH="$PWD/.gpu/data/cifar10-jpeg.zip"
fi

# -- 1. device facts ------------------------------------------------------------------------------
facts() {
    echo "date: $(date -u +%FT%TZ)  device asked: $DEVICE"
    if command -v nvidia-smi > /dev/null; then nvidia-smi; else echo "nvidia-smi: not found"; fi
    "$PY" - <<'EOF'
import importlib.util
def have(m):
    return importlib.util.find_spec(m) is not None
if have("torch"):
    import torch
    print(f"torch {torch.__version__} cuda {torch.version.cuda} available {torch.cuda.is_available()}",
          [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])
    print("torch cudnn.allow_tf32", torch.backends.cudnn.allow_tf32, "matmul.allow_tf32",
          torch.backends.cuda.matmul.allow_tf32, "float32_matmul_precision", torch.get_float32_matmul_precision())
else:
    print("torch: not installed")
if have("jax"):
    import jax
    print(f"jax {jax.__version__} devices {jax.devices()} default_matmul_precision {jax.config.jax_default_matmul_precision}")
else:
    print("jax: not installed")
if have("tensorflow"):
    import tensorflow as tf
    print(f"tensorflow {tf.__version__} GPUs {tf.config.list_physical_devices('GPU')}")
else:
    print("tensorflow: not installed")
EOF
}
export -f facts
export PY DEVICE
step facts 60 "$OUT/device_facts.txt" bash -c facts
[ -f "$OUT/device_facts.txt" ] && sed 's/^/   /' "$OUT/device_facts.txt"

# -- 2. conformance per family, 3. math-mode probes -----------------------------------------------
ran=()
for family in $FAMILIES; do
    modules=$(family_modules "$family") || { echo "gpu_check: unknown family $family" >&2; exit 2; }
    # shellcheck disable=SC2086
    if ! why=$(importable $modules); then
        echo "== $family: skipped: $why" | tee -a "$OUT/skipped.txt"
        continue
    fi
    targets=$(family_targets "$family")
    target_args=()
    for t in $targets; do target_args+=(--target "$t"); done
    backend_env=()
    case $family in keras-*) backend_env=(env "KERAS_BACKEND=${family#keras-}") ;; esac
    mkdir -p "$OUT/results/$family"
    # 240 s a family, at most: the jax family took 77 to 93 s on a 2-core CPU, and XLA compiles every
    # new shape, which may take longer for a GPU; a step cut short leaves an INCOMPLETE run (gate FAIL)
    # shellcheck disable=SC2086
    step "conformance-$family" 240 "$OUT/results/$family/pytest.log" "${backend_env[@]}" \
        "$PY" -m pytest bnconform/conformance -p no:cacheprovider -q --device "$DEVICE" \
        --hypothesis-profile "$PROFILE" --results "$OUT/results/$family" --run-name "gpu_check/$family" \
        "${target_args[@]}" $PYTEST_ARGS
    # shellcheck disable=SC2086
    step "math-mode-$family" 60 "$OUT/math_mode/$family.json" "${backend_env[@]}" "$PY" -m bnconform.adapters.math_mode "$DEVICE" $targets
    ran+=("$family")
done

# -- 4. CIFAR-10 ------------------------------------------------------------------------------------
family_cifar_target() {
    case $1 in
        torch) echo torch ;;
        jax) echo flax-linen ;;
        keras-*) echo "$1" ;;
        *) return 1 ;;  # tf_keras: no trainer
    esac
}
cifar_targets=()
for family in "${ran[@]}"; do
    t=$(family_cifar_target "$family") && cifar_targets+=("$t")
done
if [ ${#cifar_targets[@]} -eq 0 ]; then
    echo "== cifar: skipped: no family with a CIFAR-10 trainer ran (tried: ${ran[*]:-none})" \
        | tee -a "$OUT/skipped.txt" > "$OUT/cifar.txt"
elif ! no_data=$("$PY" -c "from bnconform.cifar.locate import locate; locate()" 2>&1); then
    echo "== cifar: skipped: ${no_data##*DataNotFound: }" | tee -a "$OUT/skipped.txt" > "$OUT/cifar.txt"
else
    [ "$DRY" = 1 ] || mkdir -p "$OUT/results/cifar"
    # shellcheck disable=SC2086
    step cifar 150 "$OUT/cifar.txt" "$PY" -m bnconform.cifar run --profile "${GPU_CHECK_CIFAR_PROFILE:-quick}" \
        --device "$DEVICE" --targets "${cifar_targets[@]}" --archs A --bn on --seeds 0 --epochs 1 \
        --out "$OUT/results/cifar/results.json" --no-progress ${GPU_CHECK_CIFAR_ARGS:-}
fi

# -- 5. report and gate -----------------------------------------------------------------------------
shopt -s nullglob
files=("$OUT"/results/*/results.json)
if [ "$DRY" = 1 ]; then
    step report 60 "$OUT/report.log" "$PY" -m bnconform report "$OUT/results/<family>/results.json" -o "$OUT/report"
    step gate 30 "$OUT/gate.txt" "$PY" -m bnconform gate "$OUT/results/<family>/results.json"
elif [ ${#files[@]} -eq 0 ]; then
    echo "gpu_check: no results were written (families tried: ${ran[*]:-none}); see $OUT/skipped.txt" | tee "$OUT/gate.txt"
else
    step report 60 "$OUT/report.log" "$PY" -m bnconform report "${files[@]}" -o "$OUT/report"
    step gate 30 "$OUT/gate.txt" "$PY" -m bnconform gate "${files[@]}"
fi
echo "gpu_check: done in $(( $(date +%s) - START )) s; steps:"
sed 's/^/  /' "$OUT/steps.tsv"
echo "results in $OUT (report: $OUT/report/index.html)"

"""Replay 'same' max and average pooling over a grid of shapes, windows and strides through
bnconform's adapter, and say for each case whether the framework's answer is what a model predicts:
outputs within the output model's tolerance, or the crash the crash model predicts, exactly where it
predicts one.

    KERAS_BACKEND=torch PYTHONPATH=. python tools/same_pooling_grid.py keras-torch \\
        same_padding_mod_stride same_padding_mod_stride_crash

Used to measure the keras 3.5.0 to 3.8.0 models against those releases (docs/history.md#keras-20235).
Exit 0 when every case agrees, 1 otherwise (each disagreement printed).
"""

from __future__ import annotations

import itertools
import sys

from bnconform import adapters, checks, models
from bnconform import cases as C

SIZES_H, SIZES_W, STEPS = (1, 2, 3, 4, 5, 6, 7), (1, 3, 4, 6), (1, 2, 3)


def grid():
    for kind, fmt, dtype, h, w, kh, kw, sh, sw in itertools.product(
            ("max", "avg"), ("channels_last", "channels_first"), ("float32", "float16"),
            SIZES_H, SIZES_W, STEPS, STEPS, STEPS, STEPS):
        if dtype == "float16" and fmt == "channels_first":
            continue  # float16 once, in one layout: the mechanism does not depend on the dtype
        shape = (2, h, w, 3) if fmt == "channels_last" else (2, 3, h, w)
        yield C.PoolCase(kind=kind, x_shape=shape, data_format=fmt, window=(kh, kw), stride=(sh, sw),
                         padding="same", dtype=dtype, x=C.Values(seed=h * 100 + w, loc=0.0, scale=1.0))


def main(argv):
    target, output_model, crash_model = argv
    adapter = adapters.load(target)
    counts = {"outputs": 0, "crash": 0, "disagree": 0}
    for case in grid():
        predicted = models.get(crash_model).predict(case, "-")
        try:
            example = checks.run("pool2d", adapter, case, "-")
        except Exception as exc:  # noqa: BLE001 -- the framework's crash is what is measured
            ok, words = models.judge_crash(crash_model, {}, checks.POOL2D, case, "-", exc)
            counts["crash" if ok else "disagree"] += 1
            if not ok:
                print(f"DISAGREE {case.kind} {case.x_shape} {case.data_format} {case.window} {case.stride}: {words}")
            continue
        if predicted.exception is not None:
            counts["disagree"] += 1
            print(f"DISAGREE {case.kind} {case.x_shape} {case.window} {case.stride}: predicted {predicted.why}; returned")
            continue
        worst = max(models.judge(output_model, {}, example), key=lambda c: c.max_ratio)
        counts["outputs" if worst.ok else "disagree"] += 1
        if not worst.ok:
            print(f"DISAGREE {case.kind} {case.x_shape} {case.data_format} {case.window} {case.stride} "
                  f"{case.dtype}: err/tol {worst.max_ratio:.3g}")
    print(f"{target}: {sum(counts.values())} cases, {counts['outputs']} outputs as modelled, "
          f"{counts['crash']} crashes as predicted, {counts['disagree']} disagreeing")
    return 1 if counts["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Text (Markdown) report of CIFAR-10 runs: the summary the HTML report of ``bnconform/reports/`` also shows.

Sections: final accuracy against the baseline band, BN against no-BN (paired: same target, arch,
profile, seed and device, so the same conv/dense initial weights and data order), images per second
per target and device (median over the runs' per-epoch medians: GPU figures next to CPU ones), and
the training curve of every run. The device is named as the conformance report names it
(:func:`bnconform.cifar.device.label`: ``cpu``, ``cuda (cuda:0 NVIDIA H200)``); a record without one ran on
the CPU.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from .device import label


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def accuracy_rows(records) -> list:
    rows = []
    for r in records:
        b = r.get("baseline") or {}
        band = (f"{_pct(b['mean'])} ± {_pct(b['std'])} (n={b['n']}{'' if b['exact'] else ', other version'})"
                if b else "-")
        rows.append([r["target"], r["arch"], "BN" if r["bn"] else "no-BN",
                     ("broken BN" if r.get("broken_bn") else ""), r["profile"], r["seed"],
                     _pct(r["test_accuracy"]), band, _pct(r.get("threshold")),
                     "-" if r.get("margin") is None else f"{100 * r['margin']:+.2f}",
                     r.get("verdict") or "-", f"{r['images_per_s']:.0f}", label(r)])
    return rows


def bn_pairs(records) -> list:
    """``(target, arch, profile, seed, acc BN, acc no-BN)`` for every paired run."""
    runs = {(r["target"], r["arch"], r["profile"], r["seed"], label(r), r["bn"]): r["test_accuracy"]
            for r in records if not r.get("broken_bn")}
    out = []
    for (target, arch, profile, seed, device, bn), acc in sorted(runs.items()):
        if bn and (target, arch, profile, seed, device, False) in runs:
            out.append((target, arch, profile, seed, acc, runs[(target, arch, profile, seed, device, False)]))
    return out


def speed_rows(records) -> list:
    groups = defaultdict(list)
    for r in records:
        groups[(r["target"], r["arch"], r["bn"], label(r))].append(r)
    rows = []
    for (target, arch, bn, device), rs in sorted(groups.items()):
        versions = " ".join(f"{k} {v}" for k, v in rs[0]["versions"].items())
        per_cpu = [r["images_per_cpu_s"] for r in rs if r.get("images_per_cpu_s")]
        rows.append([target, versions, arch, "BN" if bn else "no-BN", rs[0]["batch_size"], device,
                     f"{statistics.median(r['images_per_s'] for r in rs):.0f}",
                     f"{statistics.median(per_cpu):.0f}" if per_cpu else "-", len(rs),
                     f"{statistics.median(r['wall_seconds'] for r in rs) / 60:.1f}"])
    return rows


def render_text(records) -> str:
    lines = ["## Final accuracy (%) against the baseline band", ""]
    lines += _table(["target", "arch", "BN", "", "profile", "seed", "test acc", "baseline",
                     "threshold", "margin", "verdict", "img/s", "device"], accuracy_rows(records))
    pairs = bn_pairs(records)
    if pairs:
        lines += ["", "## BN against no-BN (test accuracy, %)", ""]
        lines += _table(["target", "arch", "profile", "seed", "BN", "no-BN", "BN - no-BN"],
                        [[t, a, p, s, _pct(x), _pct(y), f"{100 * (x - y):+.2f}"]
                         for t, a, p, s, x, y in pairs])
    lines += ["", "## Training images per second (median of per-epoch values)", "",
              "img/s: wall clock (a lower bound on a shared machine); img/CPU-s: per second of the "
              "run's CPU time (one thread: what the run would reach alone; on an accelerator it counts "
              "the host's time only).", ""]
    lines += _table(["target", "versions", "arch", "BN", "batch", "device", "img/s", "img/CPU-s", "runs",
                     "minutes/run"], speed_rows(records))
    lines += ["", "## Training curves", ""]
    for r in records:
        lines += [f"**{r['target']} {r['arch']} {'BN' if r['bn'] else 'no-BN'}"
                  f"{' broken BN' if r.get('broken_bn') else ''} {r['profile']} seed {r['seed']}"
                  f" on {label(r)}**", ""]
        lines += _table(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "img/s", "s"],
                        [[e["epoch"], f"{e['loss']:.4f}", f"{e['accuracy']:.4f}",
                          f"{e['val_loss']:.4f}", f"{e['val_accuracy']:.4f}",
                          f"{e['images_per_s']:.0f}", f"{e['seconds']:.0f}"] for e in r["epochs"]])
        lines.append("")
    return "\n".join(lines)

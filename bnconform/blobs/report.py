"""Text tables of two-blob records (``python -m bnconform.blobs report``): one line per run, and the loss gaps.

The tables are Markdown, as docs/blobs.md quotes them.
"""

from __future__ import annotations

from statistics import fmean


def _bn(record: dict) -> str:
    if not record["bn"]:
        return "no BN"
    return "BN, inverted momentum" if record.get("broken_bn") else "BN"


def summary_lines(records: list) -> list[str]:
    """One line per run: what ran, the gated numbers, the verdict."""
    lines = []
    for r in records:
        checks = r.get("checks", {})
        parts = [f"{r['target']:<16} {r['model']:<7} {_bn(r):<21} seed {r['seed']}",
                 f"acc {r['test_accuracy']:.3f}"]
        if r.get("recalibrated"):
            parts.append(f"recalibrated {r['recalibrated']['test_accuracy']:.3f}")
        band = r["bayes"]
        parts.append(f"band [{band['low']:.3f}, {band['high']:.3f}]")
        if r.get("moving_statistics"):
            s = r["moving_statistics"]
            parts.append(f"decay {s['min']:.4f}..{s['max']:.4f} (expected {s['expected']:.4f})")
        if r.get("loss_gap"):
            parts.append(f"gap BN {r['loss_gap']['gap_bn']:+.3f} vs {r['loss_gap']['gap_no_bn']:+.3f}")
        failed = [name for name, c in checks.items() if c.get("gated") and not c["ok"]]
        verdict = r["verdict"].upper()
        if r.get("broken_bn"):
            verdict += f" (control {'caught by ' + ', '.join(failed) if failed else 'NOT caught'})"
        elif failed:
            verdict += f" ({', '.join(failed)})"
        parts.append(f"{r.get('wall_seconds', 0):.1f} s")
        lines.append("  ".join(parts) + "  " + verdict)
    return lines


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render_text(records: list) -> str:
    """Markdown tables: runs (per target, model and seed), the planted bug, the loss gaps."""
    out = []
    normal = [r for r in records if not r.get("broken_bn")]
    if normal:
        band = normal[0]["bayes"]
        out.append(f"p* = {band['p_star']:.4f}; band for n = {band['n']}, alpha = {band['alpha']} "
                   f"per side: [{band['low']:.4f}, {band['high']:.4f}]; the Bayes rule on this test set: "
                   f"{band['bayes_rule_test_accuracy']:.3f} (training set "
                   f"{band['bayes_rule_train_accuracy']:.3f})")
        out.append("")
        out.append(_row(["target", "model", "seed", "no BN: test acc.", "BN: test acc. (lecture)",
                         "BN: recalibrated", "BN: decay (exp. m^k)", "gap BN / no BN",
                         "seconds (no BN, BN + twin)", "verdicts"]))
        out.append(_row(["---"] * 10))
        keys = sorted({(r["target"], r["model"], r["seed"]) for r in normal})
        for key in keys:
            pair = {r["bn"]: r for r in normal if (r["target"], r["model"], r["seed"]) == key}
            plain, bn = pair.get(False), pair.get(True)
            decay = bn.get("moving_statistics") if bn else None
            gap = bn.get("loss_gap") if bn else None
            out.append(_row([
                f"`{key[0]}`", key[1], key[2],
                f"{plain['test_accuracy']:.3f}" if plain else "-",
                f"{bn['test_accuracy']:.3f}" if bn else "-",
                f"{bn['recalibrated']['test_accuracy']:.3f}" if bn else "-",
                f"{decay['min']:.4f}..{decay['max']:.4f} ({decay['expected']:.4f})" if decay else "-",
                f"{gap['gap_bn']:+.3f} / {gap['gap_no_bn']:+.3f}" if gap else "-",
                f"{plain['wall_seconds']:.1f}, {bn['wall_seconds']:.1f}" if plain and bn else "-",
                ", ".join(r["verdict"] for r in (plain, bn) if r)]))
    broken = [r for r in records if r.get("broken_bn")]
    if broken:
        out.append("")
        out.append(_row(["target", "model", "seed", "test acc. (lecture)", "recalibrated",
                         "decay (expected)", "error / tolerance", "caught by"]))
        out.append(_row(["---"] * 8))
        for r in sorted(broken, key=lambda r: (r["target"], r["model"], r["seed"])):
            s = r.get("moving_statistics")
            caught = (r.get("control") or {}).get("caught_by") or ["NOTHING"]
            out.append(_row([f"`{r['target']}`", r["model"], r["seed"], f"{r['test_accuracy']:.3f}",
                             f"{r['recalibrated']['test_accuracy']:.3f}",
                             f"{s['min']:.4f}..{s['max']:.4f} ({s['expected']:.4f})" if s else "-",
                             f"{s['max_error_over_tol']:.0f}" if s else "-", ", ".join(caught)]))
    gaps = [r["loss_gap"] for r in normal if r.get("loss_gap")]
    if gaps:
        out.append("")
        for model in sorted({g["model"] for g in gaps}):
            chosen = [g for g in gaps if g["model"] == model]
            holds = sum(g["lecture_claim_holds"] for g in chosen)
            line = (f"{model}: gap with BN {fmean(g['gap_bn'] for g in chosen):+.3f} on average, "
                    f"without {fmean(g['gap_no_bn'] for g in chosen):+.3f}; the lecture's claim "
                    f"(BN's gap smaller) holds in {holds} of {len(chosen)} pairs")
            proper = [g for g in chosen if "inference_gap_bn" in g]
            if proper:
                smaller = sum(g["inference_gap_bn"] < g["inference_gap_no_bn"] for g in proper)
                line += (f"; test minus training loss in inference (BN recalibrated): with BN "
                         f"{fmean(g['inference_gap_bn'] for g in proper):+.3f}, without "
                         f"{fmean(g['inference_gap_no_bn'] for g in proper):+.3f}, BN's smaller in "
                         f"{smaller} of {len(proper)}")
            out.append(line)
    return "\n".join(out)

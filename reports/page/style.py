"""The report's stylesheet and verdict colours (inlined into the page)."""

from __future__ import annotations

#: Fill colour of each verdict (matrix cells, badges, chart marks).
VERDICT_COLORS = {
    "pass": "#3a9d5d",
    "fail": "#d64541",
    "error": "#8e44ad",
    "known-deviation": "#f0a030",
    "fixed-deviation": "#3c78c3",
    "skip": "#a0a4a8",
}

#: Light backgrounds for matrix cells, same hues.
VERDICT_TINTS = {
    "pass": "#dcf1e2",
    "fail": "#fbd9d7",
    "error": "#ead9f2",
    "known-deviation": "#fdebc8",
    "fixed-deviation": "#d9e6f7",
    "skip": "#eceef0",
}

CSS = """
:root { --fg:#1f2328; --muted:#5b636b; --line:#d8dde3; --bg:#ffffff; --soft:#f5f7f9; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:18px 28px 12px; border-bottom:1px solid var(--line); background:var(--soft); }
header h1 { margin:0 0 4px; font-size:22px; }
header .meta { color:var(--muted); font-size:12.5px; }
nav { padding:6px 28px; border-bottom:1px solid var(--line); font-size:13px; position:sticky; top:0;
      background:var(--bg); z-index:2; }
nav a { margin-right:14px; color:#1f5fa8; text-decoration:none; }
main { padding:8px 28px 40px; max-width:1400px; }
section { margin-top:26px; }
h2 { font-size:18px; margin:0 0 8px; padding-bottom:4px; border-bottom:1px solid var(--line); }
h3 { font-size:15px; margin:18px 0 6px; }
p.note { color:var(--muted); margin:4px 0 10px; font-size:13px; }
table { border-collapse:collapse; font-size:13px; }
th, td { border:1px solid var(--line); padding:4px 8px; text-align:left; vertical-align:top; }
th { background:var(--soft); font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
pre { background:var(--soft); border:1px solid var(--line); padding:8px 10px; overflow:auto; margin:4px 0;
      font:12px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace; white-space:pre-wrap;
      word-break:break-word; max-height:420px; }
code { font:12px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace; }
.banner { display:inline-block; padding:6px 12px; border-radius:6px; font-weight:600; margin:8px 0 4px; }
.banner.pass { background:#dcf1e2; color:#1d5e33; border:1px solid #3a9d5d; }
.banner.fail { background:#fbd9d7; color:#8c1d1a; border:1px solid #d64541; }
.reasons { margin:2px 0 0 0; padding-left:20px; color:#8c1d1a; }
.warnings { margin:6px 0 0 0; padding-left:20px; color:#7a4f00; font-size:12.5px; }
.badge { display:inline-block; padding:0 7px; border-radius:10px; font-size:12px; color:#fff; white-space:nowrap;
         line-height:18px; }
.totals .warnings { margin:6px 0 0 0; padding-left:20px; color:#7a4f00; font-size:12.5px; }
.badge { margin-right:6px; }
table.matrix td.cell { min-width:118px; padding:0; }
table.matrix td.cell a { display:block; padding:5px 8px; color:var(--fg); text-decoration:none; }
table.matrix td.cell a:hover { outline:2px solid #1f5fa8; outline-offset:-2px; }
table.matrix td.empty { color:var(--muted); text-align:center; background:#fafbfc; }
table.matrix th.rowhead { min-width:200px; }
.rowhead .sub, .sub { display:block; color:var(--muted); font-weight:normal; font-size:11.5px; }
.count { display:block; font-size:12.5px; white-space:nowrap; }
.count b { font-variant-numeric:tabular-nums; }
.legend { font-size:12.5px; margin:6px 0; }
.legend span.swatch { display:inline-block; width:12px; height:12px; border-radius:3px; vertical-align:-2px;
                      margin:0 4px 0 12px; }
details.failure { border:1px solid var(--line); border-left:5px solid #d64541; border-radius:4px;
                  padding:6px 10px; margin:8px 0; }
details.failure.v-error { border-left-color:#8e44ad; }
details.failure.v-known-deviation { border-left-color:#f0a030; }
details.failure summary { cursor:pointer; font-weight:600; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:3px 12px; margin:8px 0; }
dl.kv dt { color:var(--muted); }
dl.kv dd { margin:0; min-width:0; }
.differs { background:#fff3cd; font-weight:600; }
.evidence { color:var(--muted); font-size:11.5px; }
.warn { color:#8a5a00; font-weight:600; }
svg.chart { display:block; margin:8px 0 14px; font:11px system-ui,"DejaVu Sans",sans-serif; }
svg.chart .chart-title { font-weight:600; font-size:12.5px; }
svg.chart .tick { fill:var(--muted); font-size:10.5px; }
svg.chart .axis-label { fill:var(--muted); }
svg.chart .grid { stroke:#e6e9ed; stroke-width:1; }
svg.chart .axis { stroke:#9aa1a9; }
svg.chart .band { fill:#f6f8fa; }
svg.chart .reference { stroke:#d64541; stroke-width:1.5; stroke-dasharray:5 3; }
svg.chart .threshold { stroke:#d64541; stroke-width:2.5; }
svg.chart .baseline { fill:#cfe3f7; }
svg.chart .dot { stroke:#ffffff; stroke-width:0.8; fill-opacity:0.9; }
svg.chart .cross { stroke-width:2.2; fill:none; }
svg.chart .line { stroke-width:1.8; }
.charts { display:flex; flex-wrap:wrap; gap:0 24px; }
.muted { color:var(--muted); }
a.anchor { color:inherit; }
"""

"""The run report's stylesheet, inlined into the page (the report is one file, no network)."""

CSS = """
:root { --ok: #1a7f37; --bad: #c62828; --wait: #9a6700; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       margin: 0; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 8px; }
section, .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card { margin: 12px 0; }
.muted { color: var(--muted); }
.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
              overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
         color: #fff; background: var(--muted); vertical-align: middle; }
.badge.succeeded, .badge.ok, .badge.answered { background: var(--ok); }
.badge.failed, .badge.bad, .badge.denied { background: var(--bad); }
.badge.waiting, .badge.open, .badge.expired, .badge.paused { background: var(--wait); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num, td.time { text-align: right; white-space: nowrap; }
td.time { text-align: left; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.verdict { font-weight: 600; }
.verdict.ok { color: var(--ok); } .verdict.bad { color: var(--bad); }
.attempt { border-top: 1px dashed var(--line); padding-top: 10px; margin-top: 10px; }
.shots { display: flex; gap: 12px; flex-wrap: wrap; margin: 8px 0; }
figure { margin: 0; }
figure img { display: block; width: 340px; max-width: 100%; border: 1px solid var(--line);
             border-radius: 4px; }
figcaption { font-size: 12px; color: var(--muted); }
.error { color: var(--bad); }
details summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 28px; font-size: 12px; color: var(--muted); }
"""

// The live view served at GET /: one self-contained page (no external resources) that subscribes
// to `cluster.watch` on this node's WebSocket and draws what each snapshot holds. Data is written
// with textContent only, never as HTML.
import { LIVE_SCRIPT } from './live-script.js';

const STYLE = `
:root { color-scheme: light dark; --bg:#f6f7f9; --fg:#17202a; --muted:#4a5563; --card:#fff;
  --line:#d5dae1; --accent:#1f5fbf; --ok:#17743a; --bad:#b42318; --warn:#8a5a00; }
@media (prefers-color-scheme: dark) { :root { --bg:#0f1419; --fg:#e8edf2; --muted:#a7b1bc;
  --card:#182029; --line:#2c3742; --accent:#7fb0ff; --ok:#5fd08a; --bad:#ff8a80; --warn:#f2c14e; } }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background:var(--bg); color:var(--fg); }
header { display:flex; flex-wrap:wrap; gap:.5rem 1.5rem; align-items:baseline;
  padding:1rem 1.5rem; border-bottom:1px solid var(--line); background:var(--card); }
h1 { font-size:1.25rem; margin:0; }
h2 { font-size:1rem; margin:0 0 .5rem; }
#leader { font-weight:600; color:var(--accent); }
#conn { color:var(--muted); margin-left:auto; }
main { display:grid; gap:1rem; padding:1rem 1.5rem; grid-template-columns:repeat(auto-fit,minmax(340px,1fr)); }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:1rem; }
#nodes-section { grid-column:1 / -1; }
#nodes { display:flex; flex-wrap:wrap; gap:.75rem; list-style:none; margin:0; padding:0; }
.node { flex:1 1 180px; border:2px solid var(--line); border-radius:10px; padding:.75rem;
  transition:border-color .4s, transform .4s; }
.node.leader { border-color:var(--accent); transform:translateY(-2px); }
.node.down { opacity:.6; border-style:dashed; }
.node h3 { margin:0 0 .25rem; font-size:1.05rem; display:flex; justify-content:space-between; }
.role { font-size:.8rem; font-weight:600; text-transform:uppercase; letter-spacing:.04em; }
.leader .role { color:var(--accent); }
.health { font-size:.85rem; }
.health.ok { color:var(--ok); } .health.bad { color:var(--bad); }
dl { display:grid; grid-template-columns:auto 1fr; gap:0 .75rem; margin:.25rem 0 0; font-size:.9rem; }
dt { color:var(--muted); } dd { margin:0; font-variant-numeric:tabular-nums; }
table { width:100%; border-collapse:collapse; font-size:.9rem; }
th, td { text-align:left; padding:.3rem .4rem; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:600; }
td.num { font-variant-numeric:tabular-nums; white-space:nowrap; }
tr.fresh { animation:flash 1.2s ease-out; }
@keyframes flash { from { background:color-mix(in srgb, var(--accent) 25%, transparent); } }
.uncommitted { color:var(--warn); }
.empty { color:var(--muted); font-style:italic; }
@media (prefers-reduced-motion: reduce) { * { animation:none !important; transition:none !important; } }
`;

export const LIVE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quorum Lock · live view</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>Quorum Lock · live view</h1>
  <p id="leader-line" role="status" aria-live="polite">Leader: <span id="leader">unknown</span>
    <span id="term"></span></p>
  <p id="conn">connecting…</p>
</header>
<main>
  <section id="nodes-section" aria-labelledby="nodes-title">
    <h2 id="nodes-title">Nodes</h2>
    <ul id="nodes"></ul>
  </section>
  <section aria-labelledby="locks-title">
    <h2 id="locks-title">Locks</h2>
    <table><caption class="empty" id="locks-empty">no locks</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Holder</th><th scope="col">Token</th>
        <th scope="col">TTL left</th><th scope="col">Waiters</th></tr></thead>
      <tbody id="locks"></tbody></table>
  </section>
  <section aria-labelledby="elections-title">
    <h2 id="elections-title">Elections</h2>
    <table><caption class="empty" id="elections-empty">no elections</caption>
      <thead><tr><th scope="col">Election</th><th scope="col">Leader</th><th scope="col">Value</th>
        <th scope="col">Token</th><th scope="col">Candidates</th></tr></thead>
      <tbody id="elections"></tbody></table>
  </section>
  <section aria-labelledby="leases-title">
    <h2 id="leases-title">Leases</h2>
    <table><caption class="empty" id="leases-empty">no leases</caption>
      <thead><tr><th scope="col">Lease</th><th scope="col">TTL</th><th scope="col">Left</th>
        <th scope="col">Holds</th><th scope="col">Waits</th></tr></thead>
      <tbody id="leases"></tbody></table>
  </section>
  <section aria-labelledby="log-title">
    <h2 id="log-title">Log tail <span class="empty" id="log-node"></span></h2>
    <table>
      <thead><tr><th scope="col">Index</th><th scope="col">Term</th><th scope="col">Entry</th></tr></thead>
      <tbody id="log"></tbody></table>
  </section>
</main>
<script>${LIVE_SCRIPT}</script>
</body>
</html>
`;

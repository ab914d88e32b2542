/**
 * The demo page, served by the server itself (the demo-page protocol): no external
 * assets, so it works offline and on a closed network. Three WebSockets to the page's own
 * origin: dumb-increment-protocol (a counter and a reset button), lws-mirror-protocol (a
 * shared canvas; ?mirror=NAME picks the instance) and lws-status (who is connected).
 * While any of them is down the page greys out (lws's dim-on-disconnect) and retries
 * with backoff (250 ms doubling to 5 s); it recovers by itself when the server is back.
 *
 * Hooks for tests: body[data-connected], #counter, #reset, canvas#mirror[data-strokes]
 * (strokes received), #status-count (connections in the last status).
 */
export const demoPageHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsloop demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 0; padding: 1em 2em; color: #222; background: #fff; transition: filter .3s, opacity .3s; }
  body[data-connected="false"] main { filter: grayscale(1); opacity: .35; pointer-events: none; }
  #banner { display: none; background: #b00; color: #fff; padding: .4em 1em; border-radius: 4px; margin-bottom: 1em; }
  body[data-connected="false"] #banner { display: block; }
  h1 { font-size: 1.4em; margin: 0 0 .5em; }
  section { border: 1px solid #ccc; border-radius: 6px; padding: .8em 1em; margin: 0 0 1em; }
  h2 { font-size: 1.1em; margin: 0 0 .5em; }
  #counter { font: bold 2em monospace; margin-right: 1em; }
  canvas { border: 1px solid #888; background: #fafafa; touch-action: none; cursor: crosshair; }
  table { border-collapse: collapse; font-size: .9em; }
  td, th { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; }
  tr.you td { font-weight: bold; }
  .dot { display: inline-block; width: .8em; height: .8em; border-radius: 50%; background: #b00; }
  .dot.on { background: #0a0; }
</style>
</head>
<body data-connected="false">
<div id="banner" role="status">Disconnected from the server — retrying…</div>
<main>
<h1>wsloop demo</h1>
<section id="increment">
  <h2><span class="dot" id="dot-increment"></span> dumb-increment-protocol</h2>
  <span id="counter">–</span><button id="reset" type="button">Reset</button>
</section>
<section id="mirror-section">
  <h2><span class="dot" id="dot-mirror"></span> lws-mirror-protocol <small id="mirror-name"></small></h2>
  <p>Draw here: every page open on the same mirror instance sees the stroke.
  Colour <select id="colour"><option>#000</option><option>#c00</option><option>#080</option><option>#00c</option></select>
  <button id="clear" type="button">Clear (locally)</button></p>
  <canvas id="mirror" width="600" height="300" data-strokes="0"></canvas>
</section>
<section id="status-section">
  <h2><span class="dot" id="dot-status"></span> lws-status: <span id="status-count">0</span> connections</h2>
  <table><thead><tr><th>#</th><th>protocol</th><th>peer</th><th>path</th><th>browser</th></tr></thead><tbody id="status"></tbody></table>
</section>
<section id="post">
  <h2>post-demo (HTTP form)</h2>
  <form method="post" action="/formtest"><input name="text" placeholder="say something"> <button>Send</button></form>
</section>
</main>
<script>
"use strict";
const base = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
const mirrorName = new URLSearchParams(location.search).get("mirror") || "";
document.getElementById("mirror-name").textContent = mirrorName ? "(instance " + mirrorName + ")" : "";
const up = {};

function setUp(name, isUp) {
  up[name] = isUp;
  document.getElementById("dot-" + name).className = isUp ? "dot on" : "dot";
  const all = ["increment", "mirror", "status"].every((n) => up[n]);
  document.body.dataset.connected = all ? "true" : "false";
}

// One WebSocket that comes back after every loss, with backoff.
function keep(name, path, protocol, onMessage) {
  let delay = 250;
  const handle = { ws: null, send(text) { if (handle.ws && handle.ws.readyState === 1) handle.ws.send(text); } };
  function open() {
    const ws = new WebSocket(base + path, protocol);
    handle.ws = ws;
    ws.onopen = () => { delay = 250; setUp(name, true); };
    ws.onmessage = (e) => onMessage(e.data);
    ws.onclose = () => {
      setUp(name, false);
      handle.ws = null;
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  }
  setUp(name, false);
  open();
  return handle;
}

// dumb-increment-protocol
const counter = document.getElementById("counter");
const increment = keep("increment", "", "dumb-increment-protocol", (text) => { counter.textContent = text; });
document.getElementById("reset").onclick = () => increment.send("reset\\n");

// lws-mirror-protocol: "d #rgb x1 y1 x2 y2;" per segment, as lws's test page draws.
const canvas = document.getElementById("mirror");
const ctx = canvas.getContext("2d");
let strokes = 0;
function drawSegment(colour, x1, y1, x2, y2) {
  ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.lineCap = "round";
  ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
}
const mirror = keep("mirror", mirrorName ? "?mirror=" + encodeURIComponent(mirrorName) : "", "lws-mirror-protocol", (text) => {
  for (const cmd of String(text).split(";")) {
    const p = cmd.trim().split(/\\s+/);
    if (p[0] === "d" && p.length === 6 && /^#[0-9a-fA-F]{3,6}$/.test(p[1])) {
      drawSegment(p[1], +p[2], +p[3], +p[4], +p[5]);
      strokes++;
    }
  }
  canvas.dataset.strokes = String(strokes);
});
let last = null;
function point(e) { const r = canvas.getBoundingClientRect(); return [Math.round(e.clientX - r.left), Math.round(e.clientY - r.top)]; }
canvas.addEventListener("pointerdown", (e) => { last = point(e); canvas.setPointerCapture(e.pointerId); });
canvas.addEventListener("pointermove", (e) => {
  if (!last) return;
  const next = point(e);
  mirror.send("d " + document.getElementById("colour").value + " " + last[0] + " " + last[1] + " " + next[0] + " " + next[1] + ";");
  last = next;
});
canvas.addEventListener("pointerup", () => { last = null; });
canvas.addEventListener("pointercancel", () => { last = null; });
document.getElementById("clear").onclick = () => ctx.clearRect(0, 0, canvas.width, canvas.height);

// lws-status: a JSON document, sent as a fragmented message (the browser reassembles it).
const statusBody = document.getElementById("status");
keep("status", "", "lws-status", (text) => {
  let status;
  try { status = JSON.parse(text); } catch { return; }
  document.getElementById("status-count").textContent = String(status.connections.length);
  statusBody.replaceChildren(...status.connections.map((c) => {
    const tr = document.createElement("tr");
    if (c.id === status.you) tr.className = "you";
    for (const v of [c.id, c.protocol, c.peer, c.path, c.userAgent]) {
      const td = document.createElement("td"); td.textContent = v == null ? "" : String(v); tr.append(td);
    }
    return tr;
  }));
});
</script>
</body>
</html>
`;

#!/usr/bin/env node
// ws_load.mjs: a closed-loop load generator on the Node `ws` client, for
// the step of `make bench` that reproduces the conditions of issue 4's
// reference figures ("measured here with a Node client"). The same
// arguments and output keys as bench/lws_load.c:
//
//   node ws_load.mjs [-l LABEL] [-c CONNS] [-w WARMUP_S] [-d SECONDS] -m TEMPLATE URL
//
// Opens CONNS connections to URL, then each sends TEMPLATE (each "{id}"
// replaced by a number unique to the run), waits for the answer and sends
// again, for WARMUP_S + SECONDS. Prints one JSON line: rps and latency
// percentiles over the SECONDS after the warm-up, `finals` (answers over
// the whole run, for CPU per request), `errors` (answers of type error,
// failed or closed connections) and `first_error`, last.
import { WebSocket } from "ws";

function usage() {
  console.error("usage: node ws_load.mjs [-l LABEL] [-c CONNS] [-w WARMUP_S] [-d SECONDS]" +
    " -m TEMPLATE ws://HOST:PORT/PATH");
  process.exit(2);
}

let label = "ws_load", nconns = 100, warm = 1, dur = 5, tmpl = null, url = null;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], more = i + 1 < argv.length;
  if (more && a === "-l") label = argv[++i];
  else if (more && a === "-c") nconns = Number(argv[++i]);
  else if (more && a === "-w") warm = Number(argv[++i]);
  else if (more && a === "-d") dur = Number(argv[++i]);
  else if (more && a === "-m") tmpl = argv[++i];
  else if (!a.startsWith("-") && url === null) url = a;
  else usage();
}
if (!tmpl || !url || !(nconns > 0) || !(dur > 0) || !(warm >= 0)) usage();

const parts = tmpl.split("{id}");
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

let nextId = 0, finals = 0, errors = 0, firstError = "", up = 0, settled = 0;
let measureUs = Infinity, endUs = Infinity, done = false;
const lat = [];

function fail(what) {
  errors++;
  if (!firstError) firstError = what.slice(0, 200);
}

function send(c) {
  c.sentUs = nowUs();
  c.ws.send(parts.join(String(nextId++)));
}

const clients = [];
for (let i = 0; i < nconns; i++) {
  const c = { ws: new WebSocket(url, { perMessageDeflate: false }), sentUs: 0, up: false };
  clients.push(c);
  c.ws.on("open", () => {
    c.up = true;
    up++;
    if (++settled === nconns) begin();
  });
  c.ws.on("message", (data) => {
    const t = nowUs();
    finals++;
    const text = data.toString();
    if (text.includes('"type":"error"')) fail("error answer: " + text);
    if (c.sentUs >= measureUs && t <= endUs) lat.push(t - c.sentUs);
    if (!done) send(c);
  });
  c.ws.on("error", (err) => {
    fail("connection failed: " + err.message);
    if (!c.up && ++settled === nconns) begin();
  });
  c.ws.on("close", () => {
    if (c.up) up--;
    if (c.up && !done) fail("closed by the server");
    c.up = false;
  });
}

// Connections not all settled within 10 s: start with those that are up.
const connectTimer = setTimeout(begin, 10000);
let begun = false;

function begin() {
  if (begun) return;
  begun = true;
  clearTimeout(connectTimer);
  const start = nowUs();
  measureUs = start + warm * 1e6;
  endUs = measureUs + dur * 1e6;
  for (const c of clients) if (c.up) send(c);
  setTimeout(finish, (warm + dur) * 1000);
}

function finish() {
  done = true;
  const open = up;
  for (const c of clients) c.ws.terminate();
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.round(p * (lat.length - 1))] : 0);
  const out = `{"label":${JSON.stringify(label)},"mode":"closed","client":"node",` +
    `"conns":${nconns},"open":${open},"rps":${(lat.length / dur).toFixed(1)},` +
    `"lat_p50_us":${pct(0.5)},"lat_p99_us":${pct(0.99)},` +
    `"lat_max_us":${lat.length ? lat[lat.length - 1] : 0},"finals":${finals},` +
    `"errors":${errors},"first_error":${JSON.stringify(firstError.replace(/[\x00-\x1f]/g, " "))}}`;
  console.log(out);
  process.exit(finals === 0 ? 1 : 0);
}

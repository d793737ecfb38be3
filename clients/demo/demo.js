// demo.js: the demo page streamerd serves at `/`. It drives the demo
// service (idl/demo.stream: `echo`, sync; `delay`, async with progress)
// through the JS client; streamer.js links to clients/js/streamer.mjs
// (tests/4900 checks they are the same: edit the original, then copy).
import { StreamerClient } from './streamer.js';

const $ = (id) => document.getElementById(id);
const STORE = 'streamer-demo.running'; // request ids to resume after a reload

let client = null;
const shown = new Set(); // request ids with a card on the page

// --- the token: the URL fragment (#token=JWT or #JWT), else what was typed last

function tokenFromFragment() {
  const h = decodeURIComponent(location.hash.slice(1));
  if (!h) return '';
  const p = new URLSearchParams(h);
  return p.get('token') ?? (h.split('.').length === 3 ? h : '');
}

$('url').value = (location.protocol === 'https:' ? 'wss://' : 'ws://') + (location.host || '127.0.0.1:8080') + '/';
$('token').value = tokenFromFragment() || localStorage.getItem('streamer-demo.token') || '';
if (tokenFromFragment()) history.replaceState(null, '', location.pathname + location.search);

// --- the message log

function log(cls, text) {
  const el = $('log');
  const line = document.createElement('div');
  line.className = cls;
  line.textContent = `${new Date().toLocaleTimeString()} ${cls === 'in' ? '←' : cls === 'out' ? '→' : '·'} ${text}`;
  const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
  el.append(line);
  while (el.childElementCount > 500) el.firstElementChild.remove();
  if (atEnd) el.scrollTop = el.scrollHeight;
}
$('clear').onclick = () => { $('log').textContent = ''; };

// Wraps the socket so that the log also shows what the page sends.
function LoggingWebSocket(url) {
  const ws = new WebSocket(url);
  const send = ws.send.bind(ws);
  ws.send = (data) => { log('out', data); send(data); };
  return ws;
}

// --- connection

function setState(s) {
  $('state').textContent = s;
  $('state').className = s;
  const open = s === 'open';
  for (const id of ['echo', 'echo-bad', 'delay', 'delay10', 'list', 'ping', 'drop']) $(id).disabled = !open;
  $('disconnect').disabled = s === 'idle' || s === 'closed';
  $('connect').disabled = !(s === 'idle' || s === 'closed');
}

async function connect() {
  const token = $('token').value.trim();
  localStorage.setItem('streamer-demo.token', token);
  client = new StreamerClient($('url').value.trim(), {
    token, WebSocket: LoggingWebSocket, reconnect: { minMs: 500, maxMs: 10000 },
  });
  client.on('message', (m) => log('in', JSON.stringify(m)));
  client.on('open', (e) => { setState('open'); log('ev', e.reconnected ? 'reconnected: resuming running requests' : 'connected'); });
  client.on('close', (e) => { setState(client.state === 'closed' ? 'closed' : e.willReconnect ? 'reconnecting' : 'idle'); log('ev', `connection closed (${e.code})${e.willReconnect ? ', reconnecting' : ''}`); });
  client.on('reconnecting', (e) => log('ev', `reconnect attempt ${e.attempt} in ${e.delayMs} ms`));
  client.on('error', (e) => log('ev', `error: ${e.code}: ${e.message}`));
  setState('connecting');
  try {
    await client.connect();
  } catch (e) {
    setState('idle');
    log('ev', `${e.code}: ${e.message}`);
    client = null;
    return;
  }
  // Requests that were running when the page was left: follow them again.
  for (const rid of running()) follow(rid, { resumed: true });
}

$('connect').onclick = connect;
$('disconnect').onclick = async () => { await client?.close(); setState('closed'); client = null; };
$('drop').onclick = () => { log('ev', 'dropping the connection'); client?.reconnect().catch(() => {}); };
$('ping').onclick = async () => {
  try { $('pingout').textContent = `pong in ${await client.ping()} ms`; } catch (e) { $('pingout').textContent = e.code; }
};

// --- echo

async function echo(message) {
  const out = $('echo-out');
  out.textContent = '…';
  const t0 = performance.now();
  try {
    const r = await client.request('echo', { message });
    out.textContent = `${(performance.now() - t0).toFixed(1)} ms\n${JSON.stringify(r, null, 2)}`;
  } catch (e) {
    out.textContent = describe(e);
  }
}
$('echo').onclick = () => echo($('echo-msg').value);
$('echo-bad').onclick = () => echo('');

function describe(e) {
  let s = `${e.code}: ${e.message}`;
  if (e.field) s += `\nfield: ${e.field}`;
  if (e.retryAfterMs !== undefined) s += `\nretry after ${e.retryAfterMs} ms`;
  if (e.retryable) s += '\n(retryable)';
  return s;
}

// --- delay: one card per request, with its progress bar

function running() {
  try { return JSON.parse(localStorage.getItem(STORE)) ?? []; } catch { return []; }
}
function remember(rid, on) {
  const s = new Set(running());
  if (on) s.add(rid); else s.delete(rid);
  localStorage.setItem(STORE, JSON.stringify([...s]));
}

function card(title) {
  const el = document.createElement('div');
  el.className = 'req';
  el.innerHTML = '<header><span class="title"></span><span><button class="secondary cancel">Cancel</button> '
    + '<button class="secondary dismiss">×</button></span></header>'
    + '<div class="rid"></div><div class="bar"><div></div></div><div class="msg"></div>';
  el.querySelector('.title').textContent = title;
  el.querySelector('.dismiss').onclick = () => el.remove();
  $('reqs').prepend(el);
  const set = {
    rid(r) { el.querySelector('.rid').textContent = r; },
    pct(p) { el.querySelector('.bar > div').style.width = `${Math.max(0, Math.min(100, p))}%`; },
    msg(t) { el.querySelector('.msg').textContent = t; },
    onCancel(fn) { el.querySelector('.cancel').onclick = fn; },
    done(ok, text) {
      el.classList.add(ok ? 'done' : 'failed');
      if (ok) set.pct(100);
      set.msg(text);
      el.querySelector('.cancel').remove();
    },
  };
  return set;
}

function track(ui, promise, getRid) {
  ui.onCancel(async () => {
    const rid = getRid();
    if (!rid) return;
    try { await client.cancel(rid); } catch (e) { ui.msg(describe(e)); }
  });
  promise.then(
    (r) => { ui.done(true, `complete: ${JSON.stringify(r)}`); remember(getRid(), false); },
    (e) => {
      ui.done(false, describe(e));
      // A request that failed for good is forgotten; one we just could not
      // follow (connection or client closed) is resumed next time.
      if (!['CONNECTION_LOST', 'CLIENT_CLOSED', 'CONNECT_FAILED'].includes(e.code)) remember(getRid(), false);
    });
}

function delay() {
  const ms = Number($('delay-ms').value);
  const steps = Number($('delay-steps').value);
  const ui = card(`delay ${ms} ms, ${steps} steps`);
  let rid = null;
  const t0 = performance.now();
  ui.msg('sent');
  const p = client.request('delay', { ms, steps }, {
    onAck: (a) => {
      rid = a.requestId;
      shown.add(rid);
      remember(rid, true);
      ui.rid(rid);
      ui.msg(`queued (estimated ${a.estimatedDurationMs} ms), acknowledged in ${(performance.now() - t0).toFixed(1)} ms`);
    },
    onProgress: (e) => { ui.pct(e.percentage); ui.msg(`${e.percentage.toFixed(0)}% ${e.message}`); },
  });
  track(ui, p, () => rid);
}
$('delay').onclick = delay;
$('delay10').onclick = () => { for (let i = 0; i < 10; i++) delay(); };

// Follows a request by its request_id (after a reload, or from the list).
function follow(rid, { resumed = false } = {}) {
  if (shown.has(rid)) return;
  shown.add(rid);
  const ui = card(resumed ? 'resumed after reload' : 'followed from the list');
  ui.rid(rid);
  ui.msg('asking for its status');
  const p = client.resume(rid, {
    onProgress: (e) => { ui.pct(e.percentage); ui.msg(`${e.percentage.toFixed(0)}% ${e.message}`); },
  });
  track(ui, p, () => rid);
}

$('list').onclick = async () => {
  try {
    const items = await client.list();
    if (items.length === 0) log('ev', 'no recent requests');
    for (const s of items) {
      const line = `${s.request_id} ${s.action} ${s.status} ${Number(s.percentage ?? 0).toFixed(0)}%`;
      log('ev', line);
      if (s.status === 'pending' || s.status === 'processing') follow(s.request_id);
    }
  } catch (e) {
    log('ev', describe(e));
  }
};

setState('idle');
if ($('token').value) connect();

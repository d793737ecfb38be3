// The JS client (clients/js/streamer.mjs) against a fake streamerd written
// here: correlation, the async sequence, errors, reconnect and resume,
// cancel, timeouts, and close() settling every promise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { StreamerClient, StreamerError } from '../clients/js/streamer.mjs';
import { startFakeServer, TestWebSocket } from './lib/fake_ws_server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const clientPath = join(here, '..', 'clients', 'js', 'streamer.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(5);
  }
}

/** Resolves with the n-th message (0-based) of type `type` the server got on conn. */
function received(conn, type, n = 0) {
  return waitFor(`a '${type}' message`, () => conn.received.filter((m) => m.type === type)[n]);
}

// A fake of the demo service. `echo` answers at once; `delay` is acknowledged
// and then driven by the test through svc.progress/complete/fail; state lives
// per request like the server's table, so status and list work across
// connections.
function demoService() {
  const svc = {
    reqs: new Map(), seq: 0, conn: null,
    onMessage(conn, m) {
      svc.conn = conn;
      const reply = (o) => conn.send(m.id !== undefined ? { ...o, id: m.id } : o);
      switch (m.type ?? 'request') {
      case 'ping': reply({ type: 'pong' }); return;
      case 'list':
        reply({ type: 'list', data: [...svc.reqs.values()].reverse().map((r) => svc.state(r, true)) });
        return;
      case 'status': case 'cancel': {
        const r = svc.reqs.get(m.request_id);
        if (!r) { reply({ type: 'error', error: { code: 'NOT_FOUND', message: 'No such request' } }); return; }
        r.conn = conn;
        if (m.type === 'cancel' && !r.final) {
          r.status = 'cancelled';
          r.error = { code: 'CANCELLED', message: 'The request was cancelled' };
        }
        reply({ type: 'status', request_id: r.rid, data: svc.state(r, false) });
        if (m.type === 'cancel' && !r.final) svc.finish(r, { type: 'error', error: r.error });
        return;
      }
      case 'request': break;
      default: reply({ type: 'error', error: { code: 'VALIDATION_ERROR', message: 'unknown message type', field: 'type' } }); return;
      }
      const rid = `00000000-0000-4000-8000-${String(++svc.seq).padStart(12, '0')}`;
      if (m.action === 'echo') {
        if (typeof m.payload?.message !== 'string') {
          reply({ type: 'error', request_id: rid, error: { code: 'VALIDATION_ERROR', message: 'required', field: 'payload.message' } });
          return;
        }
        reply({ type: 'response', request_id: rid, success: true, data: { message: m.payload.message, echoed_at: '2026-01-01T00:00:00.000Z' } });
      } else if (m.action === 'delay') {
        const r = { rid, id: m.id, action: 'delay', status: 'pending', percentage: 0, message: '', conn, final: false };
        svc.reqs.set(rid, r);
        reply({ type: 'acknowledgment', request_id: rid, status: 'queued', estimated_duration_ms: 10000 });
      } else if (m.action !== 'hold') { // hold: never answered
        reply({ type: 'error', request_id: rid, error: { code: 'INVALID_ACTION', message: `unknown action '${m.action}'` } });
      }
    },
    state(r, ids) {
      const s = { status: r.status, percentage: r.percentage, message: r.message, attempts: 1, created_at: '2026-01-01T00:00:00.000Z' };
      if (r.result !== undefined) s.result = r.result;
      if (r.error !== undefined) s.error = r.error;
      return ids ? { request_id: r.rid, action: r.action, id: r.id, ...s } : s;
    },
    only() { return [...svc.reqs.values()].at(-1); },
    send(r, o) { r.conn?.send({ ...o, request_id: r.rid, id: r.id }); },
    progress(r, pct, message = `${pct}%`, { store = true, send = true } = {}) {
      if (store) { r.status = 'processing'; r.percentage = pct; r.message = message; }
      if (send) svc.send(r, { type: 'progress', percentage: pct, message, timestamp: Date.now() });
    },
    finish(r, o) { r.final = true; svc.send(r, { ...o, timestamp: Date.now() }); },
    complete(r, data, { send = true } = {}) {
      r.status = 'completed'; r.percentage = 100; r.result = data;
      if (send) svc.finish(r, { type: 'complete', success: true, data });
      else r.final = true;
    },
    fail(r, error) { r.status = 'failed'; r.error = error; svc.finish(r, { type: 'error', error }); },
  };
  return svc;
}

async function setup(t, { service = demoService(), clientOpts = {}, serverOpts = {} } = {}) {
  const srv = await startFakeServer({ onMessage: (c, m) => service.onMessage(c, m), ...serverOpts });
  const client = new StreamerClient(srv.url, {
    token: 'tok.en.sig', WebSocket: TestWebSocket, idPrefix: 't',
    reconnect: { minMs: 10, maxMs: 40 }, ...clientOpts,
  });
  t.after(async () => { await client.close(); await srv.close(); });
  return { srv, client, svc: service };
}

test('connects with the token in the query and answers ping', async (t) => {
  const { srv, client } = await setup(t);
  const opened = [];
  client.on('open', (e) => opened.push(e));
  await client.connect();
  assert.equal(client.state, 'open');
  const conn = await srv.nextConnection(0);
  assert.equal(conn.url.searchParams.get('Authorization'), 'Bearer tok.en.sig');
  assert.match(conn.url.search, /^\?Authorization=Bearer%20tok\.en\.sig$/);
  const rtt = await client.ping();
  assert.equal(typeof rtt, 'number');
  const ping = conn.received[0];
  assert.equal(ping.type, 'ping');
  assert.equal(typeof ping.id, 'string');
  assert.deepEqual(opened, [{ reconnected: false }]);
  await client.connect(); // idempotent
  assert.equal(srv.connections.length, 1);
});

test('concurrent requests are correlated by id, whatever the answer order', async (t) => {
  const held = [];
  const service = {
    onMessage(conn, m) { held.push([conn, m]); },
  };
  const { client } = await setup(t, { service });
  await client.connect();
  const ps = [];
  for (let i = 0; i < 20; i++) ps.push(client.request('echo', { message: `m${i}` }));
  await waitFor('20 requests', () => held.length === 20);
  const ids = new Set(held.map(([, m]) => m.id));
  assert.equal(ids.size, 20, 'ids are unique');
  for (const [, m] of held) {
    assert.equal(m.type, 'request');
    assert.equal(m.action, 'echo');
    assert.match(m.id, /^t-\d+$/);
  }
  // answer in reverse order, each echoing its own payload
  for (const [conn, m] of held.slice().reverse()) {
    conn.send({ type: 'response', id: m.id, request_id: `r-${m.id}`, success: true, data: { message: m.payload.message } });
  }
  const out = await Promise.all(ps);
  assert.deepEqual(out.map((d) => d.message), Array.from({ length: 20 }, (_, i) => `m${i}`));
  assert.equal(client.pending, 0);
});

test('a caller-given id is sent as is; duplicate and oversized ids are refused', async (t) => {
  const held = [];
  const { client } = await setup(t, { service: { onMessage(c, m) { held.push([c, m]); } } });
  await client.connect();
  const p = client.request('echo', { message: 'x' }, { id: 'mine-1', metadata: { trace_id: 'abc' } });
  await assert.rejects(client.request('echo', {}, { id: 'mine-1' }), { code: 'VALIDATION_ERROR', field: 'id' });
  await assert.rejects(client.request('echo', {}, { id: 'x'.repeat(129) }), { code: 'VALIDATION_ERROR', field: 'id' });
  await waitFor('the request', () => held.length === 1);
  const [conn, m] = held[0];
  assert.deepEqual(m, { type: 'request', id: 'mine-1', action: 'echo', payload: { message: 'x' }, metadata: { trace_id: 'abc' } });
  conn.send({ type: 'response', id: 'mine-1', request_id: 'r1', success: true, data: 7 });
  assert.equal(await p, 7);
});

test('async: acknowledgment, progress (never decreasing), complete', async (t) => {
  const { client, svc } = await setup(t);
  await client.connect();
  const acks = [];
  const prog = [];
  const p = client.request('delay', { ms: 1000 }, {
    onAck: (a) => acks.push(a),
    onProgress: (e) => prog.push([e.percentage, e.message, e.requestId]),
  });
  const r = await waitFor('the request queued', () => svc.only());
  await waitFor('the ack', () => acks.length === 1);
  assert.deepEqual(acks[0], { requestId: r.rid, id: r.id, status: 'queued', estimatedDurationMs: 10000 });
  svc.progress(r, 10);
  svc.progress(r, 50, 'half');
  svc.progress(r, 50, 'half');      // a repeat is not delivered twice
  svc.progress(r, 40, 'back');      // never decreasing
  svc.progress(r, 90, 'almost');
  svc.complete(r, { slept_ms: 1000 });
  assert.deepEqual(await p, { slept_ms: 1000 });
  assert.deepEqual(prog, [[10, '10%', r.rid], [50, 'half', r.rid], [90, 'almost', r.rid]]);
  assert.equal(client.pending, 0);
});

test('errors become StreamerError with code, field, retry hints', async (t) => {
  const { srv, client, svc } = await setup(t);
  await client.connect();
  const conn = await srv.nextConnection(0);

  const v = await client.request('echo', {}).catch((e) => e);
  assert.ok(v instanceof StreamerError);
  assert.ok(v instanceof Error);
  assert.equal(v.code, 'VALIDATION_ERROR');
  assert.equal(v.field, 'payload.message');
  assert.equal(v.message, 'required');
  assert.equal(v.retryable, false);
  assert.match(v.requestId, /^0000/);

  await assert.rejects(client.request('nope', {}), { name: 'StreamerError', code: 'INVALID_ACTION', message: "unknown action 'nope'" });

  // an async request failing after its acknowledgment
  const p = client.request('delay', { ms: 5 });
  const r = await waitFor('queued', () => svc.only());
  await sleep(10);
  svc.fail(r, { code: 'TIMEOUT', message: 'The handler ran out of time' });
  const e2 = await p.catch((e) => e);
  assert.equal(e2.code, 'TIMEOUT');
  assert.equal(e2.retryable, true);
  assert.equal(e2.requestId, r.rid);

  // rate limiting carries retry_after_ms; details pass through
  const held = client.request('hold', {}, { id: 'rl' });
  await received(conn, 'request', 3);
  conn.send({ type: 'error', id: 'rl', error: { code: 'RATE_LIMITED', message: 'Too many requests', retry_after_ms: 250, details: { limit: 100 } } });
  const e3 = await held.catch((e) => e);
  assert.equal(e3.code, 'RATE_LIMITED');
  assert.equal(e3.retryAfterMs, 250);
  assert.equal(e3.retryable, true);
  assert.deepEqual(e3.details, { limit: 100 });

  // an error about no request of ours is an 'error' event
  const events = [];
  client.on('error', (e) => events.push(e));
  conn.send({ type: 'error', error: { code: 'VALIDATION_ERROR', message: 'the message must be a JSON object' } });
  conn.send('not json');
  await waitFor('two error events', () => events.length === 2);
  assert.equal(events[0].code, 'VALIDATION_ERROR');
  assert.equal(events[1].code, 'PROTOCOL_ERROR');
  assert.equal(client.pending, 0);
});

test('reconnects with backoff and resumes async requests via status', async (t) => {
  const { srv, client, svc } = await setup(t);
  const events = [];
  client.on('close', (e) => events.push(['close', e.willReconnect]));
  client.on('reconnecting', (e) => events.push(['reconnecting', e.attempt]));
  client.on('open', (e) => events.push(['open', e.reconnected]));
  await client.connect();
  const conn0 = await srv.nextConnection(0);
  const prog = [];
  const p = client.request('delay', { ms: 1000 }, { onProgress: (e) => prog.push(e.percentage) });
  const r = await waitFor('queued', () => svc.only());
  await waitFor('acked', () => client._byRid.has(r.rid));
  svc.progress(r, 20);
  await waitFor('progress 20', () => prog.length === 1);

  // the server's answers are swallowed, then the TCP link drops
  svc.onMessage = ((orig) => (c, m) => { if (c !== conn0) orig(c, m); })(svc.onMessage);
  // a sync request without an answer when the link drops is lost...
  const lost = client.request('echo', { message: 'late' }, { id: 'lost-1' });
  // ...unless the caller says it may be sent again
  const again = client.request('echo', { message: 'again' }, { id: 'again-1', idempotent: true });
  await received(conn0, 'request', 2);
  svc.progress(r, 40, 'while away', { send: false }); // happens while disconnected
  conn0.destroy();

  const e = await lost.catch((x) => x);
  assert.equal(e.code, 'CONNECTION_LOST');
  assert.equal(e.retryable, true);
  assert.equal(e.id, 'lost-1');
  // a request made while reconnecting waits for the connection
  const queued = client.request('echo', { message: 'queued' });

  const conn1 = await srv.nextConnection(1);
  const st = await received(conn1, 'status');
  assert.equal(st.request_id, r.rid);
  assert.notEqual(st.id, r.id, 'the status message has an id of its own');
  assert.deepEqual((await queued).message, 'queued');
  assert.deepEqual((await again).message, 'again');
  const resent = conn1.received.filter((m) => m.type === 'request').map((m) => m.id);
  assert.ok(resent.includes('again-1'), 'the idempotent request was sent again with its id');
  assert.ok(!resent.includes('lost-1'));

  await waitFor('progress from status', () => prog.length === 2);
  svc.progress(r, 80);
  svc.complete(r, { slept_ms: 1000 });
  assert.deepEqual(await p, { slept_ms: 1000 });
  assert.deepEqual(prog, [20, 40, 80]);
  assert.deepEqual(events, [['open', false], ['close', true], ['reconnecting', 1], ['open', true]]);
  assert.equal(client.pending, 0);
});

test('resume: a request that finished while away resolves from status; an expired one rejects', async (t) => {
  const { srv, client, svc } = await setup(t);
  await client.connect();
  const p1 = client.request('delay', { ms: 1 });
  const p2 = client.request('delay', { ms: 2 });
  const p3 = client.request('delay', { ms: 3 });
  await waitFor('3 queued', () => svc.reqs.size === 3 && client._byRid.size === 3);
  const [r1, r2, r3] = [...svc.reqs.values()];
  svc.complete(r1, { slept_ms: 1 }, { send: false });
  svc.reqs.delete(r2.rid);                      // expired or not ours
  r3.status = 'failed'; r3.error = { code: 'LEDGER_BUSY', message: 'busy', retryable: true };
  srv.dropAll();
  assert.deepEqual(await p1, { slept_ms: 1 });
  await assert.rejects(p2, { code: 'NOT_FOUND', requestId: r2.rid });
  await assert.rejects(p3, { code: 'LEDGER_BUSY', retryable: true, requestId: r3.rid });
  assert.equal(client.pending, 0);
});

test('resume(requestId) follows a request this client did not send', async (t) => {
  const { srv, client, svc } = await setup(t);
  // made by "another page": queue it through a second client
  const other = new StreamerClient(srv.url, { token: 'x', WebSocket: TestWebSocket });
  t.after(() => other.close());
  const rid = await new Promise((resolve) => {
    other.request('delay', { ms: 9 }, { onAck: (a) => resolve(a.requestId) }).catch(() => {});
  });
  await other.close();
  const r = svc.reqs.get(rid);
  svc.progress(r, 30, 'a third', { send: false });
  const prog = [];
  const p = client.resume(rid, { onProgress: (e) => prog.push([e.percentage, e.requestId]) });
  assert.equal(client.resume(rid), p, 'resuming twice gives the same promise');
  await waitFor('status answered', () => prog.length === 1);
  svc.progress(r, 60);
  svc.complete(r, { slept_ms: 9 });
  assert.deepEqual(await p, { slept_ms: 9 });
  assert.deepEqual(prog, [[30, rid], [60, rid]]);
});

test('cancel, status and list', async (t) => {
  const { client, svc } = await setup(t);
  await client.connect();
  let rid;
  const p = client.request('delay', { ms: 100000 }, { onAck: (a) => { rid = a.requestId; } });
  await waitFor('acked', () => rid);
  svc.progress(svc.reqs.get(rid), 25, 'quarter');
  const s = await client.status(rid);
  assert.equal(s.request_id, rid);
  assert.equal(s.status, 'processing');
  assert.equal(s.percentage, 25);
  const l = await client.list();
  assert.equal(l.length, 1);
  assert.equal(l[0].request_id, rid);
  assert.equal(l[0].action, 'delay');
  const c = await client.cancel(rid);
  assert.equal(c.status, 'cancelled');
  await assert.rejects(p, { code: 'CANCELLED', requestId: rid, retryable: false });
  await assert.rejects(client.status('no-such'), { code: 'NOT_FOUND', requestId: 'no-such' });
  assert.equal(client.pending, 0);
});

test('close() settles every pending promise', async (t) => {
  const service = { onMessage(conn, m) {
    if (m.action === 'delay') conn.send({ type: 'acknowledgment', id: m.id, request_id: 'r-' + m.id, status: 'queued', estimated_duration_ms: 1 });
    // everything else is never answered
  } };
  const { client } = await setup(t, { service });
  await client.connect();
  const ps = [
    client.request('echo', { message: 'x' }),
    client.request('delay', { ms: 5 }, { onAck() {} }),
    client.status('r-1'),
    client.list(),
    client.ping(),
    client.resume('r-elsewhere'),
  ];
  await waitFor('the ack', () => client._byRid.has('r-t-2'));
  assert.equal(client.pending, 6);
  const closed = [];
  client.on('close', (e) => closed.push(e));
  const settled = Promise.allSettled(ps);
  await client.close();
  const out = await settled;
  for (const o of out) {
    assert.equal(o.status, 'rejected');
    assert.equal(o.reason.code, 'CLIENT_CLOSED');
  }
  assert.equal(client.pending, 0);
  assert.equal(client.state, 'closed');
  assert.equal(closed.length, 1);
  assert.equal(closed[0].willReconnect, false);
  await assert.rejects(client.request('echo', {}), { code: 'CLIENT_CLOSED' });
  await assert.rejects(client.connect(), { code: 'CLIENT_CLOSED' });
});

test('close() while reconnecting settles queued requests and stops retrying', async (t) => {
  const { srv, client } = await setup(t, { clientOpts: { reconnect: { minMs: 5000, maxMs: 5000 } } });
  await client.connect();
  srv.dropAll();
  await waitFor('reconnecting', () => client.state === 'reconnecting');
  const p = assert.rejects(client.request('echo', { message: 'x' }), { code: 'CLIENT_CLOSED' });
  await client.close();
  await p;
  await sleep(50);
  assert.equal(srv.connections.length, 1);
});

test('timeouts: no answer at all, and no final answer in time', async (t) => {
  const service = { onMessage(conn, m) {
    if (m.action === 'delay') conn.send({ type: 'acknowledgment', id: m.id, request_id: 'r-' + m.id, status: 'queued', estimated_duration_ms: 1 });
  } };
  const { client } = await setup(t, { service, clientOpts: { replyTimeoutMs: 50 } });
  await client.connect();
  await assert.rejects(client.request('echo', { message: 'x' }), { code: 'CLIENT_TIMEOUT' });
  await assert.rejects(client.ping(), { code: 'CLIENT_TIMEOUT' });
  // acknowledged: the reply timeout no longer applies, timeoutMs does
  const t0 = Date.now();
  await assert.rejects(client.request('delay', { ms: 1 }, { timeoutMs: 150 }), { code: 'CLIENT_TIMEOUT', requestId: /^r-/ });
  assert.ok(Date.now() - t0 >= 140);
  assert.equal(client.pending, 0);
});

test('an AbortSignal rejects with ABORTED and cancels on the server', async (t) => {
  const { srv, client } = await setup(t);
  await client.connect();
  const conn = await srv.nextConnection(0);
  const ac = new AbortController();
  let rid;
  const p = client.request('delay', { ms: 100000 }, { signal: ac.signal, onAck: (a) => { rid = a.requestId; } });
  await waitFor('acked', () => rid);
  ac.abort();
  await assert.rejects(p, { code: 'ABORTED' });
  const c = await received(conn, 'cancel');
  assert.equal(c.request_id, rid);
  await assert.rejects(client.request('echo', { message: 'x' }, { signal: AbortSignal.abort() }), { code: 'ABORTED' });
});

test('a refused handshake fails connect() and what waited for it', async (t) => {
  const { client } = await setup(t, { serverOpts: { authorize: () => 401 } });
  const waiting = client.request('echo', { message: 'x' }); // connects lazily
  await assert.rejects(client.connect(), { code: 'CONNECT_FAILED', retryable: true });
  await assert.rejects(waiting, { code: 'CONNECT_FAILED' });
  assert.equal(client.state, 'idle');
  assert.equal(client.pending, 0);
});

test('the token function is called for every connection', async (t) => {
  let n = 0;
  const { srv, client } = await setup(t, { clientOpts: { token: async () => `tok-${++n}` } });
  await client.connect();
  srv.dropAll();
  const c1 = await srv.nextConnection(1);
  assert.equal(srv.connections[0].url.searchParams.get('Authorization'), 'Bearer tok-1');
  assert.equal(c1.url.searchParams.get('Authorization'), 'Bearer tok-2');
  await waitFor('open again', () => client.state === 'open');
  assert.equal(typeof await client.ping(), 'number');
});

test('reconnect: false reports the loss and fails what is pending', async (t) => {
  const service = { onMessage() {} };
  const { srv, client } = await setup(t, { service, clientOpts: { reconnect: false } });
  await client.connect();
  const p = client.request('echo', { message: 'x' });
  await waitFor('sent', () => srv.connections[0].received.length === 1);
  srv.dropAll();
  await assert.rejects(p, { code: 'CONNECTION_LOST' });
  assert.equal(client.state, 'idle');
});

test('works with the runtime\'s own WebSocket (undici in Node 20 with --experimental-websocket)', async (t) => {
  const flags = typeof WebSocket === 'function' ? [] : ['--experimental-websocket'];
  const probe = spawnSync(process.execPath, [...flags, '-e', 'process.exit(typeof WebSocket === "function" ? 0 : 1)']);
  if (probe.status !== 0) { t.skip('no built-in WebSocket in this Node'); return; }
  const { srv } = await setup(t);
  const dir = mkdtempSync(join(process.env.ST_TMP || tmpdir(), 'ws-'));
  const script = join(dir, 'builtin.mjs');
  writeFileSync(script, `
    import { StreamerClient } from ${JSON.stringify(clientPath)};
    const c = new StreamerClient(${JSON.stringify(srv.url.replace('ws:', 'http:'))}, { token: 'abc' });
    const prog = [];
    const r = await c.request('echo', { message: 'héllo ✓' });
    const rtt = await c.ping();
    await c.close();
    console.log(JSON.stringify({ r, rtt: typeof rtt }));
  `);
  // asynchronously: the fake server lives in this process
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...flags, '--no-warnings', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0, err);
  const res = JSON.parse(out);
  assert.equal(res.r.message, 'héllo ✓');
  assert.equal(res.rtt, 'number');
  assert.equal(srv.connections[0].url.searchParams.get('Authorization'), 'Bearer abc');
});

test('the demo page serves the same client (clients/demo/streamer.js links to clients/js/streamer.mjs)', () => {
  const demo = join(here, '..', 'clients', 'demo');
  assert.equal(readFileSync(join(demo, 'streamer.js'), 'utf8'), readFileSync(clientPath, 'utf8'));
  assert.match(readFileSync(join(demo, 'demo.js'), 'utf8'), /from '\.\/streamer\.js'/);
  assert.match(readFileSync(join(demo, 'index.html'), 'utf8'), /<script type="module" src="demo.js">/);
});

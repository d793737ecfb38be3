// streamer.mjs: the JavaScript client of Streamer's wire protocol
// (docs/protocol.md). One ES module, no dependencies; works in browsers and
// in Node 20+ (pass `WebSocket` in the options when there is no global one,
// e.g. Node 20 without --experimental-websocket).
//
//   const c = new StreamerClient('ws://127.0.0.1:8080/', { token });
//   await c.connect();
//   const r = await c.request('delay', { ms: 3000 }, {
//     onAck: (a) => console.log('queued as', a.requestId),
//     onProgress: (p) => console.log(p.percentage, p.message),
//   });
//
// Every request gets a client `id` (unique per client: a random prefix and a
// counter) which the server echoes; async requests are also followed by
// their server `request_id`. When the connection drops the client
// reconnects with backoff, sends `status` for every async request still
// running and keeps delivering its progress and final message to the
// original promise. close() settles every pending promise.

/** Codes whose failures may succeed when tried again later. */
const RETRYABLE = new Set([
  'SERVICE_UNAVAILABLE', 'TIMEOUT',
  // client-side codes
  'CONNECTION_LOST', 'CONNECT_FAILED',
]);

const ID_MAX_BYTES = 128;

/**
 * A failed request, as the server reported it (`code` is one of the
 * protocol's codes or a service's own) or as the client saw it locally
 * (CONNECTION_LOST, CONNECT_FAILED, CLIENT_CLOSED, CLIENT_TIMEOUT, ABORTED,
 * VALIDATION_ERROR for a bad `id` before sending).
 */
export class StreamerError extends Error {
  constructor({ code, message, field, retryAfterMs, retryable, details,
                requestId, id, cause } = {}) {
    super(message || code || 'Error', cause === undefined ? undefined : { cause });
    this.name = 'StreamerError';
    this.code = code || 'INTERNAL_ERROR';
    if (field !== undefined) this.field = field;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    if (details !== undefined) this.details = details;
    if (requestId !== undefined) this.requestId = requestId;
    if (id !== undefined) this.id = id;
    this.retryable = retryable !== undefined ? !!retryable
      : RETRYABLE.has(this.code) || retryAfterMs !== undefined;
  }

  /** From the wire's `error` object (and the message carrying it). */
  static fromWire(e, msg = {}) {
    e = e && typeof e === 'object' ? e : {};
    return new StreamerError({
      code: typeof e.code === 'string' ? e.code : 'INTERNAL_ERROR',
      message: typeof e.message === 'string' ? e.message : undefined,
      field: e.field ?? undefined,
      retryAfterMs: typeof e.retry_after_ms === 'number' ? e.retry_after_ms : undefined,
      retryable: typeof e.retryable === 'boolean' ? e.retryable : undefined,
      details: e.details ?? undefined,
      requestId: msg.request_id ?? undefined,
      id: msg.id ?? undefined,
    });
  }
}

const OPEN = 1;

function randomPrefix() {
  const b = new Uint8Array(6);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(36).padStart(2, '0')).join('').slice(0, 10);
}

function byteLength(s) {
  return new TextEncoder().encode(s).length;
}

/** ws(s):// URL with the token as the `Authorization` query parameter. */
function authUrl(url, token) {
  const u = new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  u.hash = '';
  if (token) {
    const q = u.search ? u.search + '&' : '?';
    u.search = q + 'Authorization=' + encodeURIComponent('Bearer ' + token);
  }
  return u.toString();
}

/**
 * One pending operation: a request (sync or async), a resumed async
 * request, or a control message (status, list, cancel, ping).
 */
class Op {
  constructor(client, kind, opts) {
    this.client = client;
    this.kind = kind;           // 'request' | 'resume' | 'status' | 'list' | 'cancel' | 'ping'
    this.id = opts.id;          // the client id of the message we send
    this.frame = opts.frame;    // what we send (an object)
    this.requestId = opts.requestId ?? null; // server's request_id when known
    this.async = kind === 'resume';
    this.sentGen = 0;           // connection generation it was last sent on (0: never)
    this.internal = !!opts.internal;
    this.target = opts.target ?? null; // control op: the tracked request it informs
    this.onAck = opts.onAck;
    this.onProgress = opts.onProgress;
    this.idempotent = !!opts.idempotent;
    this.lastPct = -1;
    this.settled = false;
    this.timers = [];
    this.promise = new Promise((res, rej) => { this.res = res; this.rej = rej; });
    if (this.internal) this.promise.catch(() => {});
  }

  resolve(v) {
    if (this.settled) return;
    this.settled = true;
    this.client._forget(this);
    this.res(v);
  }

  reject(e) {
    if (this.settled) return;
    this.settled = true;
    this.client._forget(this);
    this.rej(e);
  }

  progress(pct, message, timestamp) {
    if (typeof pct !== 'number' || pct < this.lastPct) return; // never decreases
    if (pct === this.lastPct && message === this.lastMsg) return;
    this.lastPct = pct;
    this.lastMsg = message;
    this.client._callback(this.onProgress, {
      requestId: this.requestId, id: this.id, percentage: pct,
      message: message ?? '', timestamp: timestamp ?? Date.now(),
    });
  }

  /** The server accepted an async request under `rid`. */
  track(rid) {
    if (!rid || this.requestId === rid) return;
    this.requestId = rid;
    this.async = true;
    this.client._byRid.set(rid, this);
  }

  /** A status object (from `status`, `cancel` or a resume). */
  applyState(s) {
    if (!s || typeof s !== 'object') return;
    switch (s.status) {
    case 'completed':
      this.resolve(s.result ?? null);
      break;
    case 'failed':
      this.reject(StreamerError.fromWire(s.error ?? { code: 'INTERNAL_ERROR' },
        { request_id: this.requestId, id: this.id }));
      break;
    case 'cancelled':
      this.reject(StreamerError.fromWire(s.error ?? { code: 'CANCELLED', message: 'The request was cancelled' },
        { request_id: this.requestId, id: this.id }));
      break;
    default: // pending, processing
      this.progress(s.percentage, s.message, undefined);
    }
  }

  /** A message about a request (matched by id or request_id). */
  handleRequestMsg(m) {
    if (typeof m.request_id === 'string') {
      const final = m.type === 'response' || m.type === 'complete' || m.type === 'error';
      if (!final) this.track(m.request_id);
      else if (!this.requestId) this.requestId = m.request_id;
    }
    switch (m.type) {
    case 'acknowledgment':
      this.clearReplyTimer();
      this.client._callback(this.onAck, {
        requestId: m.request_id, id: this.id, status: m.status ?? 'queued',
        estimatedDurationMs: m.estimated_duration_ms,
      });
      break;
    case 'progress':
      this.clearReplyTimer();
      this.progress(m.percentage, m.message, m.timestamp);
      break;
    case 'response':
    case 'complete':
      this.resolve(m.data ?? null);
      break;
    case 'error':
      this.reject(StreamerError.fromWire(m.error, m));
      break;
    case 'status':
      this.clearReplyTimer();
      this.applyState(m.data);
      break;
    default:
      this.client._emit('unhandled', m);
    }
  }

  /** The answer to a control message we sent with this.id. */
  handleControlMsg(m) {
    if (m.type === 'error') {
      const e = StreamerError.fromWire(m.error, m);
      if (e.requestId === undefined && this.frame.request_id) e.requestId = this.frame.request_id;
      const t = this.target;
      if (t && e.code === 'NOT_FOUND') {
        // Resuming a request the server no longer knows (expired, or not ours).
        t.reject(new StreamerError({ code: 'NOT_FOUND', message: e.message,
          requestId: t.requestId, id: t.id ?? undefined }));
      } else if (t && e.retryAfterMs !== undefined) {
        const c = this.client;
        const gen = c._gen;
        t.timers.push(setTimeout(() => {
          if (!t.settled && c._gen === gen && c._state === 'open') c._resumeOne(t);
        }, e.retryAfterMs));
      }
      this.reject(e);
      return;
    }
    const want = { status: 'status', cancel: 'status', list: 'list', ping: 'pong' }[this.kind];
    if (m.type !== want) {
      this.client._emit('unhandled', m);
      return;
    }
    if (this.kind === 'ping') {
      this.resolve(Date.now() - this.sentAt);
    } else if (this.kind === 'list') {
      const items = Array.isArray(m.data) ? m.data : [];
      for (const s of items) this.client._byRid.get(s.request_id)?.applyState(s);
      this.resolve(items);
    } else {
      const rid = m.request_id ?? this.frame.request_id;
      const s = { request_id: rid, ...(m.data ?? {}) };
      const t = this.target ?? this.client._byRid.get(rid);
      t?.applyState(s);
      this.resolve(s);
    }
  }

  startReplyTimer(ms) {
    this.clearReplyTimer();
    if (!(ms > 0)) return;
    this.replyTimer = setTimeout(() => {
      this.reject(new StreamerError({
        code: 'CLIENT_TIMEOUT', id: this.id, requestId: this.requestId ?? undefined,
        message: `no answer from the server within ${ms} ms`,
      }));
    }, ms);
  }

  clearReplyTimer() {
    if (this.replyTimer !== undefined) clearTimeout(this.replyTimer);
    this.replyTimer = undefined;
  }
}

export class StreamerClient {
  /**
   * @param {string} url ws://, wss://, http:// or https:// URL of streamerd.
   * @param {object} [opts]
   * @param {string|function():(string|Promise<string>)} [opts.token] the JWT,
   *   or a function returning it (called before every connection, so a
   *   reconnect can use a fresh token).
   * @param {Function} [opts.WebSocket] a WHATWG-compatible WebSocket class
   *   (default: globalThis.WebSocket).
   * @param {{minMs?:number,maxMs?:number,factor?:number,maxAttempts?:number}|false} [opts.reconnect]
   *   backoff between reconnection attempts (default 500 ms doubling up to
   *   30 s, with jitter, forever); false disables reconnection.
   * @param {number} [opts.connectTimeoutMs=10000] limit on one handshake.
   * @param {number} [opts.replyTimeoutMs=30000] limit on the first answer
   *   to a request (acknowledgment, response or error) or to a control
   *   message; 0 disables it.
   * @param {string} [opts.idPrefix] prefix of generated ids (default random).
   */
  constructor(url, opts = {}) {
    this.url = url;
    this._token = opts.token;
    this._WS = opts.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WS !== 'function') {
      throw new TypeError('StreamerClient: no WebSocket class: pass {WebSocket} '
        + '(Node 20 has a global one only with --experimental-websocket)');
    }
    const r = opts.reconnect;
    this._reconnect = r === false ? null : {
      minMs: r?.minMs ?? 500, maxMs: r?.maxMs ?? 30000,
      factor: r?.factor ?? 2, maxAttempts: r?.maxAttempts ?? Infinity,
    };
    this._connectTimeoutMs = opts.connectTimeoutMs ?? 10000;
    this._replyTimeoutMs = opts.replyTimeoutMs ?? 30000;
    this._prefix = opts.idPrefix ?? randomPrefix();
    this._seq = 0;
    this._ops = new Map();      // client id -> Op (requests and control messages)
    this._byRid = new Map();    // request_id -> Op (async requests being followed)
    this._listeners = new Map();
    this._ws = null;
    this._gen = 0;              // bumps with every socket that opens
    this._state = 'idle';       // idle | connecting | open | reconnecting | closed
    this._attempt = 0;
    this._retryTimer = undefined;
    this._connecting = null;
  }

  /** 'idle', 'connecting', 'open', 'reconnecting' or 'closed'. */
  get state() { return this._state; }

  /** How many operations are waiting for the server (for diagnostics). */
  get pending() {
    const all = new Set([...this._ops.values(), ...this._byRid.values()]);
    return [...all].filter((o) => !o.internal).length;
  }

  /**
   * Listens to 'open' ({reconnected}), 'close' ({code, reason, willReconnect}),
   * 'reconnecting' ({attempt, delayMs}), 'message' (every message received),
   * 'error' (a StreamerError about no request of ours, e.g. RATE_LIMITED for
   * an unreadable frame), 'unhandled' (a message nobody waits for).
   * Returns a function that removes the listener.
   */
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, new Set());
    this._listeners.get(event).add(fn);
    return () => this._listeners.get(event)?.delete(fn);
  }

  /** Opens the connection; resolves once it is open. Idempotent. */
  connect() {
    if (this._state === 'closed') return Promise.reject(this._closedError());
    if (this._state === 'open') return Promise.resolve();
    if (this._connecting) return this._connecting;
    if (this._state === 'reconnecting') {
      // connect() during a backoff: try now.
      clearTimeout(this._retryTimer);
      this._retryTimer = undefined;
    }
    const reconnecting = this._gen > 0;
    this._state = reconnecting ? 'reconnecting' : 'connecting';
    const p = this._open().finally(() => { if (this._connecting === p) this._connecting = null; });
    this._connecting = p;
    p.catch((e) => {
      if (this._state === 'closed') return;
      if (reconnecting) {
        this._scheduleReconnect(e);
      } else {
        // The first connection failed: whatever waited for it fails too.
        this._state = 'idle';
        for (const op of [...this._ops.values(), ...this._byRid.values()]) op.reject(e);
      }
    });
    return p;
  }

  /**
   * Sends a request. Resolves with the result (`data` of `response` or
   * `complete`); rejects with a StreamerError.
   *   id          the client id (default generated; must be unique among
   *               pending requests; for async actions it is also the
   *               server's idempotency key per user)
   *   onAck       ({requestId, id, status, estimatedDurationMs}) when queued
   *   onProgress  ({requestId, id, percentage, message, timestamp})
   *   timeoutMs   overall limit (CLIENT_TIMEOUT; the server is not told)
   *   signal      an AbortSignal: rejects with ABORTED and cancels on the server
   *   metadata    sent as is (e.g. {trace_id})
   *   idempotent  re-send with the same id if the connection drops before
   *               the first answer (default: reject with CONNECTION_LOST)
   */
  request(action, payload = {}, opts = {}) {
    const id = opts.id ?? this._nextId();
    const bad = this._checkId(id);
    if (bad) return Promise.reject(bad);
    const frame = { type: 'request', id, action, payload };
    if (opts.metadata !== undefined) frame.metadata = opts.metadata;
    const op = new Op(this, 'request', {
      id, frame, onAck: opts.onAck, onProgress: opts.onProgress,
      idempotent: opts.idempotent,
    });
    return this._start(op, opts);
  }

  /**
   * Follows an async request known from elsewhere (a previous page load, a
   * list()): sends `status`, then delivers its progress and final message.
   * Options as for request(): onProgress, timeoutMs, signal.
   */
  resume(requestId, opts = {}) {
    const known = this._byRid.get(requestId);
    if (known) return known.promise;
    const op = new Op(this, 'resume', { id: null, requestId, onProgress: opts.onProgress });
    this._byRid.set(requestId, op);
    return this._start(op, opts);
  }

  /** The state of one of the user's requests (`data` of the `status` answer, with request_id). */
  status(requestId) { return this._control('status', { request_id: requestId }); }

  /** Asks the server to cancel a request; resolves with its state. */
  cancel(requestId) { return this._control('cancel', { request_id: requestId }); }

  /** The user's unfinished and recently finished requests, newest first. */
  list() { return this._control('list', {}); }

  /** Round trip to the server; resolves with the time it took in ms. */
  ping() { return this._control('ping', {}); }

  /**
   * Drops the current connection and reconnects at once, resuming every
   * async request (e.g. after the token function can give a fresh token).
   * Requests without an answer yet fail with CONNECTION_LOST unless
   * `idempotent`. Resolves once connected again.
   */
  reconnect() {
    if (this._state === 'closed') return Promise.reject(this._closedError());
    const ws = this._ws;
    if (this._state !== 'open' || !ws) return this.connect();
    this._onClose({ code: 4000, reason: 'reconnect' }, true);
    ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
    try { ws.close(4000, 'reconnect'); } catch { /* already closing */ }
    return this.connect();
  }

  /**
   * Closes the connection for good: no reconnection, and every pending
   * promise rejects with CLIENT_CLOSED. Resolves once the socket is closed.
   */
  close(code = 1000, reason = '') {
    if (this._state === 'closed') return Promise.resolve();
    this._state = 'closed';
    clearTimeout(this._retryTimer);
    this._retryTimer = undefined;
    const err = this._closedError();
    for (const op of [...this._ops.values(), ...this._byRid.values()]) op.reject(err);
    const ws = this._ws;
    this._ws = null;
    if (!ws || ws.readyState === 3 /* CLOSED */) {
      this._emit('close', { code, reason, willReconnect: false });
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      let t;
      const done = () => { clearTimeout(t); resolve(); };
      ws.onclose = (ev) => {
        this._emit('close', { code: ev?.code ?? code, reason: ev?.reason ?? reason, willReconnect: false });
        done();
      };
      ws.onerror = null;
      ws.onmessage = null;
      try { ws.close(code, reason); } catch { try { ws.close(); } catch { done(); } }
      // Some implementations never report a close that we started before open.
      t = setTimeout(done, 1000);
      t.unref?.();
    });
  }

  // --- internals ---------------------------------------------------------

  _nextId() { return `${this._prefix}-${++this._seq}`; }

  _checkId(id) {
    if (typeof id !== 'string' || id === '' || byteLength(id) > ID_MAX_BYTES) {
      return new StreamerError({ code: 'VALIDATION_ERROR', field: 'id',
        message: `id must be a non-empty string of at most ${ID_MAX_BYTES} bytes` });
    }
    if (this._ops.has(id)) {
      return new StreamerError({ code: 'VALIDATION_ERROR', field: 'id', id,
        message: `id '${id}' is already used by a pending request` });
    }
    return null;
  }

  _closedError() {
    return new StreamerError({ code: 'CLIENT_CLOSED', message: 'the client was closed' });
  }

  _emit(event, arg) {
    for (const fn of this._listeners.get(event) ?? []) this._callback(fn, arg);
  }

  // A user callback must not break the client: report its exception async.
  _callback(fn, arg) {
    if (typeof fn !== 'function') return;
    try { fn(arg); } catch (e) { setTimeout(() => { throw e; }); }
  }

  _forget(op) {
    op.clearReplyTimer();
    for (const t of op.timers) clearTimeout(t);
    if (op.abortCleanup) op.abortCleanup();
    if (op.id !== null && this._ops.get(op.id) === op) this._ops.delete(op.id);
    if (op.requestId && this._byRid.get(op.requestId) === op) this._byRid.delete(op.requestId);
  }

  /** Registers op, applies timeoutMs/signal, sends it now or once connected. */
  _start(op, opts) {
    if (this._state === 'closed') { op.reject(this._closedError()); return op.promise; }
    if (op.id !== null) this._ops.set(op.id, op);
    if (opts.timeoutMs > 0) {
      op.timers.push(setTimeout(() => op.reject(new StreamerError({
        code: 'CLIENT_TIMEOUT', id: op.id ?? undefined, requestId: op.requestId ?? undefined,
        message: `no final answer within ${opts.timeoutMs} ms`,
      })), opts.timeoutMs));
    }
    const signal = opts.signal;
    if (signal) {
      const abort = () => {
        const rid = op.requestId;
        op.reject(new StreamerError({ code: 'ABORTED', id: op.id ?? undefined,
          requestId: rid ?? undefined, message: 'the request was aborted', cause: signal.reason }));
        if (rid && op.kind === 'request') this.cancel(rid).catch(() => {});
      };
      if (signal.aborted) { abort(); return op.promise; }
      signal.addEventListener('abort', abort, { once: true });
      op.abortCleanup = () => signal.removeEventListener('abort', abort);
    }
    // Sent now when open, else by _attach() once a connection opens.
    if (this._state === 'open') {
      if (op.kind === 'resume') this._resumeOne(op);
      else this._send(op);
    } else if (this._state === 'idle') {
      this.connect().catch(() => {}); // a failure rejects op
    }
    return op.promise;
  }

  _control(kind, fields) {
    const id = this._nextId();
    const frame = { type: kind, id, ...fields };
    const op = new Op(this, kind, { id, frame });
    return this._start(op, {});
  }

  /** Writes op's frame on the open socket. */
  _send(op) {
    if (!op.frame || op.settled) return;
    op.sentGen = this._gen;
    op.sentAt = Date.now();
    if (!(op.kind === 'request' && op.async)) op.startReplyTimer(this._replyTimeoutMs);
    try {
      this._ws.send(JSON.stringify(op.frame));
    } catch (e) {
      op.reject(new StreamerError({ code: 'CONNECTION_LOST', id: op.id, message: String(e?.message ?? e) }));
    }
  }

  /** Sends `status` for a followed async request; the answer informs it. */
  _resumeOne(target) {
    const id = this._nextId();
    const ctl = new Op(this, 'status', {
      id, internal: true, target,
      frame: { type: 'status', id, request_id: target.requestId },
    });
    this._ops.set(id, ctl);
    this._send(ctl);
  }

  async _token_() {
    const t = this._token;
    return typeof t === 'function' ? await t() : t;
  }

  _open() {
    return (async () => {
      let token;
      try {
        token = await this._token_();
      } catch (e) {
        throw new StreamerError({ code: 'CONNECT_FAILED', message: 'cannot get a token: ' + (e?.message ?? e), cause: e });
      }
      if (this._state === 'closed') throw this._closedError();
      const ws = new this._WS(authUrl(this.url, token));
      this._ws = ws;
      await new Promise((resolve, reject) => {
        let opened = false;
        const timer = setTimeout(() => {
          fail(new StreamerError({ code: 'CONNECT_FAILED',
            message: `no connection within ${this._connectTimeoutMs} ms` }));
          try { ws.close(); } catch { /* ignore */ }
        }, this._connectTimeoutMs);
        const fail = (e) => {
          clearTimeout(timer);
          ws.onopen = ws.onclose = ws.onerror = ws.onmessage = null;
          if (this._ws === ws) this._ws = null;
          reject(e);
        };
        ws.onopen = () => {
          clearTimeout(timer);
          if (this._state === 'closed') { try { ws.close(1000); } catch { /* */ } reject(this._closedError()); return; }
          opened = true;
          this._attach(ws);
          resolve();
        };
        ws.onerror = () => { /* the close event follows and says more */ };
        ws.onclose = (ev) => {
          if (opened) return;
          fail(new StreamerError({ code: 'CONNECT_FAILED',
            message: `cannot connect to ${this.url} (close code ${ev?.code ?? 1006}; `
              + 'a refused token looks the same as a network failure to browsers)' }));
        };
      });
    })();
  }

  /** The socket is open: wire its events, resume, flush. */
  _attach(ws) {
    const gen = ++this._gen;
    const reconnected = gen > 1;
    this._state = 'open';
    this._attempt = 0;
    ws.onmessage = (ev) => { if (this._gen === gen && this._ws === ws) this._onMessage(ev.data); };
    ws.onerror = () => {};
    ws.onclose = (ev) => { if (this._ws === ws) this._onClose(ev); };
    // 1. follow every async request we know of on the new connection
    for (const op of this._byRid.values()) if (!op.settled) this._resumeOne(op);
    // 2. send what waited for a connection, in order
    for (const op of [...this._ops.values()]) {
      if (op.sentGen === 0 && !op.internal) this._send(op);
    }
    this._emit('open', { reconnected });
  }

  _onMessage(data) {
    let m;
    if (typeof data !== 'string') {
      this._emit('error', new StreamerError({ code: 'PROTOCOL_ERROR', message: 'unexpected binary frame' }));
      return;
    }
    try { m = JSON.parse(data); } catch {
      this._emit('error', new StreamerError({ code: 'PROTOCOL_ERROR', message: 'a frame that is not JSON' }));
      return;
    }
    if (!m || typeof m !== 'object' || typeof m.type !== 'string') {
      this._emit('error', new StreamerError({ code: 'PROTOCOL_ERROR', message: 'a message without type' }));
      return;
    }
    this._emit('message', m);
    // A message with one of our ids answers that op; otherwise its
    // request_id names a request we follow (resumed, or acknowledged).
    const op = typeof m.id === 'string' ? this._ops.get(m.id) : undefined;
    if (op) {
      if (op.kind === 'request' || op.kind === 'resume') op.handleRequestMsg(m);
      else op.handleControlMsg(m);
      return;
    }
    const t = typeof m.request_id === 'string' ? this._byRid.get(m.request_id) : undefined;
    if (t && m.type !== 'status') { t.handleRequestMsg(m); return; }
    if (m.type === 'error') { this._emit('error', StreamerError.fromWire(m.error, m)); return; }
    this._emit('unhandled', m);
  }

  _onClose(ev, now = false) {
    this._ws = null;
    if (this._state === 'closed') return;
    const lost = (op) => new StreamerError({ code: 'CONNECTION_LOST', id: op.id ?? undefined,
      requestId: op.requestId ?? undefined,
      message: `the connection was lost before an answer (close code ${ev?.code ?? 1006}); `
        + 'sending again with the same id returns the first request if it was queued' });
    for (const op of [...this._ops.values()]) {
      op.clearReplyTimer();
      if (op.internal) { op.reject(lost(op)); continue; }
      if (op.kind === 'request' && !op.async && op.sentGen !== 0) {
        // No answer yet: we cannot know whether the server got it.
        if (op.idempotent) op.sentGen = 0;
        else op.reject(lost(op));
      } else if (op.kind !== 'request') {
        op.sentGen = 0; // control messages are safe to send again
      }
    }
    const willReconnect = !!this._reconnect || now;
    this._emit('close', { code: ev?.code ?? 1006, reason: ev?.reason ?? '', willReconnect });
    if (willReconnect || now) {
      this._state = 'reconnecting';
      if (!now) this._scheduleReconnect();
    } else {
      this._state = 'idle';
      const err = new StreamerError({ code: 'CONNECTION_LOST', message: 'the connection was lost' });
      for (const op of [...this._ops.values(), ...this._byRid.values()]) op.reject(err);
    }
  }

  _scheduleReconnect(lastError) {
    const r = this._reconnect;
    if (this._state === 'closed') return;
    this._state = 'reconnecting';
    if (!r || this._attempt >= r.maxAttempts) {
      const err = lastError ?? new StreamerError({ code: 'CONNECTION_LOST', message: 'gave up reconnecting' });
      this._state = 'idle';
      for (const op of [...this._ops.values(), ...this._byRid.values()]) op.reject(err);
      return;
    }
    const base = Math.min(r.maxMs, r.minMs * Math.pow(r.factor, this._attempt));
    const delayMs = Math.round(base / 2 + Math.random() * base / 2);
    this._attempt++;
    this._emit('reconnecting', { attempt: this._attempt, delayMs });
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = undefined;
      if (this._state === 'reconnecting') this.connect().catch(() => {});
    }, delayMs);
  }
}

export default StreamerClient;

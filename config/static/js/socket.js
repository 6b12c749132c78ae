/**
 * The chat socket client (docs/protocol.md, v1), for every role: member, coach,
 * supervisor. No framework, no build step: an ES module.
 *
 *   import { ChatClient } from "./socket.js";
 *   const client = new ChatClient();          // options below
 *   client.on("state", ({ state }) => …);     // show the connection state
 *   client.on("hello", (hello) => …);         // after every (re)connect
 *   client.connect();
 *
 * Options (all optional): `url` (default ws(s)://this host/ws/chat/), `loginUrl`
 * ("/accounts/login/"), `requestTimeout` (ms, 10000), `ackTimeout` (ms before an
 * unacked message.send is sent again, 6000), `backoff` ({ base: 500, max: 15000 } ms),
 * `storage` (where unsent messages survive a reload: sessionStorage by default; null
 * for none).
 *
 * What it does by itself:
 * - Reconnects after any drop with exponential backoff and full jitter, at once on the
 *   window's `online` event; while the browser is offline it does not try (it closes
 *   the socket on `offline`: a dead network does not always close a socket).
 *   Close 4401/4000 (not signed in, signed out) → the login page; 4403 → state
 *   "forbidden", no retry. A request that times out on an open socket means the
 *   socket is dead: it is closed and reopened.
 * - Holds threads: for each thread id, the T with the highest `version` and the
 *   messages by `seq` (deduplicated). A thread is "loaded" once its newest page has
 *   been fetched (`load`); from then on the client keeps a gap-free tail: a message
 *   past a gap, a T or ack whose seq is ahead, or a reconnect sends `thread.sync` from
 *   the last seq held, until nothing is missing.
 * - Sends messages through an outbox: a fresh client_id each (crypto.randomUUID),
 *   sent again with the same client_id until acked (after a timeout, a reconnect,
 *   `unavailable`, or `rate_limited` after its retry_after). A message the server
 *   refuses for good (invalid, not_found, forbidden, conflict) is marked failed.
 *
 * Methods:
 *   connect(), close()
 *   request(frame, { timeout }) → Promise of the reply frame (matched by `ref`); rejects
 *       with a ChatRequestError { code, message, frame } (codes from the protocol, plus
 *       "timeout" and "disconnected")
 *   send(frame) → boolean: fire and forget (typing, read)
 *   thread(id) → { id, t, messages: [M ascending], loaded, hasMoreBefore, latest, readSeq }
 *   threadIds() → ids of every thread held
 *   load(id) → Promise: fetch the newest page once; loadOlder(id) → Promise<bool more>
 *   forget(id): stop holding a thread (a coach lost it)
 *   mergeThread(T) → bool: take a T from elsewhere (queue `flagged`, alerts do it already)
 *   sendMessage(threadId, body) → outbox entry { clientId, thread, body, state, seq, error }
 *   outbox(threadId) → entries not yet held as messages, in send order
 *   retry(clientId), discard(clientId): for a failed entry
 *   markRead(threadId, seq): `read` if it moves this user's read_seq forward
 *   watch(id), unwatch(id): supervisors; watches are renewed after a reconnect
 *   user: hello's user ({ id, role, name }) or null; state: the connection state
 *
 * Events (client.on(name, fn) → an unsubscribe function):
 *   "state"    { state: "connecting" | "open" | "reconnecting" | "offline" | "forbidden"
 *                | "signed-out" | "closed", delay?: ms until the next try }
 *   "hello"    the hello frame (its threads already merged)
 *   "thread"   (T, previous T or null): a newer T for a thread
 *   "messages" { thread, messages: [M], older, initial }: newly held messages, ascending;
 *              older: a page of history before the oldest held; initial: the first page
 *   "outbox"   entry: a pending send changed (pending → sent, failed, or held: `done`)
 *   "gone"     { thread, error }: a held thread answered not_found (access lost)
 *   "error"    an error frame no request was waiting for (typing, read)
 *   "frame"    every server frame, and "frame:<type>" (e.g. "frame:queue") per type
 */

const DEFAULTS = {
  loginUrl: "/accounts/login/",
  requestTimeout: 10000,
  ackTimeout: 6000,
  backoff: { base: 500, max: 15000 },
};
const HISTORY_PAGE = 50;
const SYNC_PAGE = 200;
const GAP_CHECK_MS = 1500;
const OUTBOX_KEY = "chat-outbox";
const RETRYABLE = new Set(["timeout", "disconnected", "unavailable", "rate_limited"]);
const CLOSE_TO_LOGIN = new Set([4401, 4000]);
const CLOSE_FORBIDDEN = 4403;

export class ChatRequestError extends Error {
  constructor(code, message, frame = null) {
    super(message || code);
    this.code = code;
    this.frame = frame;
  }
}

/** A v4 UUID; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newClientId() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") {
    return crypto.randomUUID();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  const part = (from, to) => hex.slice(from, to);
  return `${part(0, 8)}-${part(8, 12)}-${part(12, 16)}-${part(16, 20)}-${part(20)}`;
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/chat/`;
}

function defaultStorage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

class HeldThread {
  constructor(id) {
    this.id = id;
    this.t = null;
    this.messages = new Map(); // seq → M
    this.loaded = false; // the newest page was fetched: `held` is meaningful
    this.loading = null; // the promise of that fetch
    this.held = 0; // every seq from the first loaded up to this one is held
    this.oldest = null; // the lowest seq held (history pages go back from it)
    this.hasMoreBefore = false;
    this.latest = 0; // the highest seq known to exist
    this.readSeq = 0; // how far this user has read
    this.syncing = false;
    this.syncAgain = false;
    this.gapTimer = null;
  }

  advance() {
    while (this.messages.has(this.held + 1)) this.held += 1;
  }

  view() {
    return {
      id: this.id,
      t: this.t,
      messages: [...this.messages.values()].sort((a, b) => a.seq - b.seq),
      loaded: this.loaded,
      hasMoreBefore: this.hasMoreBefore,
      latest: this.latest,
      readSeq: this.readSeq,
    };
  }
}

export class ChatClient {
  constructor(options = {}) {
    this.options = { ...DEFAULTS, url: defaultUrl(), storage: defaultStorage(), ...options };
    this.user = null;
    this.state = "closed";
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    this.reconnectTimer = null;
    this.refCounter = 0;
    this.refPrefix = Math.random().toString(36).slice(2, 8);
    this.pending = new Map(); // ref → { resolve, reject, timer }
    this.threads = new Map(); // id → HeldThread
    this.forgotten = new Map(); // id → the version held when it was forgotten
    this.entries = new Map(); // clientId → outbox entry
    this.watching = new Set();
    this.watchRequests = new Map(); // thread id → this connection's watch request
    this.listeners = new Map();
    this.onOnline = () => this.connectNow();
    this.onOffline = () => this.dropForOffline();
    this.onPageHide = (event) => {
      // Leaving the page (not entering the back-forward cache): no reconnects.
      if (!event.persisted) this.stopped = true;
    };
  }

  // --- events ------------------------------------------------------------------------

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  emit(name, ...args) {
    for (const fn of this.listeners.get(name) || []) {
      try {
        fn(...args);
      } catch (error) {
        // One broken listener must not stop the others, nor the socket.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  // --- the connection ----------------------------------------------------------------

  connect() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("pagehide", this.onPageHide);
    this.open();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("pagehide", this.onPageHide);
    if (this.ws) this.ws.close(1000);
    this.setState("closed");
  }

  open() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.reconnectTimer);
    if (navigator.onLine === false) {
      this.setState("offline");
      return; // the `online` event brings us back
    }
    this.setState(this.attempt === 0 && !this.user ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.options.url);
    this.ws = ws;
    ws.addEventListener("message", (event) => {
      if (this.ws === ws) this.receive(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws === ws) this.closed(event.code);
    });
  }

  connectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    if (!this.ws) this.open();
  }

  dropForOffline() {
    if (this.ws) this.drop();
    this.setState("offline");
  }

  /** Close the current socket ourselves and carry on as after any drop. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    try {
      ws.close(1000);
    } catch {
      // Already closing.
    }
    this.closed(1006);
  }

  closed(code) {
    this.ws = null;
    for (const [ref, request] of this.pending) {
      clearTimeout(request.timer);
      request.reject(new ChatRequestError("disconnected", "the connection dropped"));
      this.pending.delete(ref);
    }
    if (CLOSE_TO_LOGIN.has(code)) {
      this.stopped = true;
      this.setState("signed-out");
      const next = encodeURIComponent(location.pathname + location.search);
      location.assign(`${this.options.loginUrl}?next=${next}`);
      return;
    }
    if (code === CLOSE_FORBIDDEN) {
      this.stopped = true;
      this.setState("forbidden");
      return;
    }
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.setState("offline");
      return;
    }
    const { base, max } = this.options.backoff;
    const ceiling = Math.min(max, base * 2 ** this.attempt);
    // Full jitter, with a floor so a flapping server is not hammered.
    const delay = Math.round(base / 2 + Math.random() * ceiling);
    this.attempt += 1;
    this.setState("reconnecting", { delay });
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  // --- frames ------------------------------------------------------------------------

  nextRef() {
    this.refCounter += 1;
    return `${this.refPrefix}-${this.refCounter}`;
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.user) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  request(frame, { timeout = this.options.requestTimeout } = {}) {
    return new Promise((resolve, reject) => {
      const ref = this.nextRef();
      if (!this.send({ ...frame, ref })) {
        reject(new ChatRequestError("disconnected", "not connected"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new ChatRequestError("timeout", `no reply to ${frame.type}`));
        // An open socket that answers nothing is dead (a half-open TCP connection).
        this.drop();
      }, timeout);
      this.pending.set(ref, { resolve, reject, timer });
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== "string") return;
    const request = frame.ref ? this.pending.get(frame.ref) : null;
    switch (frame.type) {
      case "hello":
        this.hello(frame);
        break;
      case "thread":
      case "alert":
        this.mergeThread(frame.thread);
        break;
      case "message.new":
        this.addMessages(frame.thread, [frame.message]);
        break;
      case "message.ack":
        this.acked(frame);
        break;
      case "error":
        if (!request) this.emit("error", frame);
        break;
      default:
        break;
    }
    if (request) {
      this.pending.delete(frame.ref);
      clearTimeout(request.timer);
      if (frame.type === "error") {
        request.reject(new ChatRequestError(frame.code, frame.message, frame));
      } else {
        request.resolve(frame);
      }
    }
    this.emit("frame", frame);
    this.emit(`frame:${frame.type}`, frame);
  }

  hello(frame) {
    const first = this.user === null;
    this.user = frame.user;
    this.attempt = 0;
    for (const t of frame.threads || []) this.mergeThread(t);
    if (first) this.restoreOutbox();
    this.setState("open");
    // Watches first: a supervisor's watch is her recorded read of a thread, and a
    // sync sent before it would be recorded as a second, separate read.
    for (const id of this.watching) this.requestWatch(id);
    for (const held of this.threads.values()) {
      if (held.loaded) this.sync(held.id);
    }
    for (const entry of this.entries.values()) {
      if (entry.state === "pending") this.transmit(entry);
    }
    // Last, so listeners see a client that has already renewed what it holds.
    this.emit("hello", frame);
  }

  // --- threads and messages ------------------------------------------------------------

  held(id) {
    let held = this.threads.get(id);
    if (!held) {
      held = new HeldThread(id);
      this.threads.set(id, held);
    }
    return held;
  }

  thread(id) {
    return this.threads.has(id) ? this.threads.get(id).view() : null;
  }

  threadIds() {
    return [...this.threads.keys()];
  }

  forget(id) {
    const held = this.threads.get(id);
    if (!held) return;
    clearTimeout(held.gapTimer);
    // A late or stale copy of the T (a queue snapshot taken just before) must not
    // bring the thread back: only a newer version may.
    if (held.t) this.forgotten.set(id, held.t.version);
    this.threads.delete(id);
  }

  mergeThread(t) {
    if (!t || typeof t.id !== "number") return false;
    if (t.version <= (this.forgotten.get(t.id) ?? 0)) return false;
    const held = this.held(t.id);
    if (typeof t.read_seq === "number") held.readSeq = Math.max(held.readSeq, t.read_seq);
    held.latest = Math.max(held.latest, t.last_seq || 0);
    const previous = held.t;
    if (previous && previous.version >= t.version) return false;
    held.t = t;
    this.forgotten.delete(t.id);
    this.emit("thread", t, previous);
    if (held.loaded && held.latest > held.held) this.sync(t.id);
    return true;
  }

  addMessages(threadId, messages, { older = false, initial = false } = {}) {
    const held = this.held(threadId);
    const added = [];
    for (const message of messages) {
      if (held.messages.has(message.seq)) continue;
      held.messages.set(message.seq, message);
      held.latest = Math.max(held.latest, message.seq);
      if (held.oldest === null || message.seq < held.oldest) held.oldest = message.seq;
      added.push(message);
      this.settleOutbox(message);
    }
    if (held.loaded) {
      held.advance();
      if (held.latest > held.held) this.sync(threadId);
    }
    if (added.length) {
      added.sort((a, b) => a.seq - b.seq);
      this.emit("messages", { thread: threadId, messages: added, older, initial });
    }
    return added;
  }

  load(id) {
    const held = this.held(id);
    if (held.loaded) return Promise.resolve(held.view());
    if (held.loading) return held.loading;
    held.loading = this.request({ type: "thread.history", thread: id, limit: HISTORY_PAGE })
      .then((page) => {
        const messages = page.messages || [];
        held.hasMoreBefore = Boolean(page.has_more);
        held.held = messages.length ? messages[messages.length - 1].seq : 0;
        held.loaded = true;
        this.addMessages(id, messages, { initial: true });
        return held.view();
      })
      .catch((error) => {
        if (error.code === "not_found") this.lost(id, error);
        throw error;
      })
      .finally(() => {
        held.loading = null;
      });
    return held.loading;
  }

  async loadOlder(id) {
    const held = this.threads.get(id);
    if (!held || !held.loaded || !held.hasMoreBefore || held.oldest === null) return false;
    const page = await this.request({
      type: "thread.history",
      thread: id,
      before_seq: held.oldest,
      limit: HISTORY_PAGE,
    });
    held.hasMoreBefore = Boolean(page.has_more);
    this.addMessages(id, page.messages || [], { older: true });
    return held.hasMoreBefore;
  }

  /** thread.sync from the last seq held, page after page, until nothing is missing. */
  sync(id) {
    const held = this.threads.get(id);
    if (!held || !held.loaded) return;
    if (held.syncing) {
      held.syncAgain = true;
      return;
    }
    held.syncing = true;
    held.syncAgain = false;
    this.request({ type: "thread.sync", thread: id, after_seq: held.held, limit: SYNC_PAGE })
      .then((page) => {
        held.syncing = false;
        this.addMessages(id, page.messages || []);
        if (page.has_more || held.syncAgain) this.sync(id);
      })
      .catch((error) => {
        held.syncing = false;
        if (error.code === "not_found") this.lost(id, error);
        // Dropped or timed out: the next hello syncs again.
      });
  }

  lost(id, error) {
    this.forget(id);
    this.emit("gone", { thread: id, error });
  }

  checkGapSoon(id) {
    const held = this.threads.get(id);
    if (!held || !held.loaded) return;
    clearTimeout(held.gapTimer);
    // The message.new for an ack normally follows at once; if the channel layer
    // dropped it, fetch it from the database.
    held.gapTimer = setTimeout(() => {
      if (held.latest > held.held) this.sync(id);
    }, GAP_CHECK_MS);
  }

  markRead(threadId, seq) {
    const held = this.threads.get(threadId);
    if (!held || seq <= held.readSeq) return;
    if (this.send({ type: "read", thread: threadId, seq })) held.readSeq = seq;
  }

  watch(id) {
    // Watching already (renewed at this connection's hello): nothing to send again.
    if (this.watching.has(id) && this.watchRequests.has(id)) return this.watchRequests.get(id);
    this.watching.add(id);
    return this.requestWatch(id);
  }

  requestWatch(id) {
    const request = this.request({ type: "thread.watch", thread: id }).catch((error) => {
      // A dropped connection renews the watch at the next hello; a refusal ends it.
      if (error.code !== "disconnected" && error.code !== "timeout") {
        this.watching.delete(id);
        this.watchRequests.delete(id);
      }
      throw error;
    });
    this.watchRequests.set(id, request);
    return request;
  }

  unwatch(id) {
    this.watching.delete(id);
    this.watchRequests.delete(id);
    return this.request({ type: "thread.unwatch", thread: id });
  }

  // --- the outbox --------------------------------------------------------------------

  sendMessage(threadId, body) {
    const entry = {
      clientId: newClientId(),
      thread: threadId,
      body,
      state: "pending",
      seq: null,
      error: null,
      userId: this.user ? this.user.id : null,
      retryTimer: null,
    };
    this.entries.set(entry.clientId, entry);
    this.saveOutbox();
    this.emit("outbox", entry);
    this.transmit(entry);
    return entry;
  }

  outbox(threadId) {
    return [...this.entries.values()].filter((entry) => entry.thread === threadId);
  }

  retry(clientId) {
    const entry = this.entries.get(clientId);
    if (!entry || entry.state !== "failed") return;
    entry.state = "pending";
    entry.error = null;
    this.emit("outbox", entry);
    this.transmit(entry);
  }

  discard(clientId) {
    const entry = this.entries.get(clientId);
    if (!entry || entry.state === "sent") return;
    clearTimeout(entry.retryTimer);
    this.entries.delete(clientId);
    entry.state = "discarded";
    this.saveOutbox();
    this.emit("outbox", entry);
  }

  transmit(entry) {
    if (entry.state !== "pending" || entry.inFlight) return;
    clearTimeout(entry.retryTimer);
    entry.inFlight = true;
    this.request(
      { type: "message.send", thread: entry.thread, client_id: entry.clientId, body: entry.body },
      { timeout: this.options.ackTimeout },
    )
      .then(() => {
        entry.inFlight = false; // receive() already took the ack
      })
      .catch((error) => {
        entry.inFlight = false;
        if (entry.state !== "pending") return;
        if (!RETRYABLE.has(error.code)) {
          entry.state = "failed";
          entry.error = error;
          this.saveOutbox();
          this.emit("outbox", entry);
          return;
        }
        if (error.code === "disconnected" || error.code === "timeout") return; // resent after hello
        const after = error.code === "rate_limited" ? (error.frame?.retry_after || 1) * 1000 : 2000;
        entry.retryTimer = setTimeout(() => this.transmit(entry), after);
      });
  }

  acked(ack) {
    const entry = this.entries.get(ack.client_id);
    const held = this.held(ack.thread);
    held.latest = Math.max(held.latest, ack.seq);
    // Her own message counts as read by her (the server records it so).
    held.readSeq = Math.max(held.readSeq, ack.seq);
    if (held.messages.has(ack.seq)) {
      if (entry) this.settle(entry, ack.seq);
      return;
    }
    if (entry && entry.state === "pending") {
      entry.state = "sent";
      entry.seq = ack.seq;
      this.saveOutbox();
      this.emit("outbox", entry);
    }
    this.checkGapSoon(ack.thread);
  }

  settleOutbox(message) {
    if (!message.client_id || !this.user || message.sender?.id !== this.user.id) return;
    const entry = this.entries.get(message.client_id);
    if (entry) this.settle(entry, message.seq);
  }

  settle(entry, seq) {
    clearTimeout(entry.retryTimer);
    this.entries.delete(entry.clientId);
    entry.state = "done";
    entry.seq = seq;
    this.saveOutbox();
    this.emit("outbox", entry);
  }

  saveOutbox() {
    const storage = this.options.storage;
    if (!storage) return;
    const unsent = [...this.entries.values()]
      .filter((entry) => entry.state === "pending" && entry.userId !== null)
      .map(({ clientId, thread, body, userId }) => ({ clientId, thread, body, userId }));
    try {
      if (unsent.length) storage.setItem(OUTBOX_KEY, JSON.stringify(unsent));
      else storage.removeItem(OUTBOX_KEY);
    } catch {
      // Storage full or refused: the outbox still lives in memory.
    }
  }

  /** Messages left unsent by an earlier page of this tab are sent again, same client_id. */
  restoreOutbox() {
    const storage = this.options.storage;
    if (!storage) return;
    let saved = [];
    try {
      saved = JSON.parse(storage.getItem(OUTBOX_KEY) || "[]");
    } catch {
      saved = [];
    }
    for (const item of Array.isArray(saved) ? saved : []) {
      if (!item || item.userId !== this.user.id || this.entries.has(item.clientId)) continue;
      const entry = {
        clientId: item.clientId,
        thread: item.thread,
        body: item.body,
        state: "pending",
        seq: null,
        error: null,
        userId: item.userId,
        retryTimer: null,
      };
      this.entries.set(entry.clientId, entry);
      this.emit("outbox", entry);
    }
    for (const entry of this.entries.values()) {
      if (entry.userId === null) entry.userId = this.user.id;
    }
    this.saveOutbox();
  }
}

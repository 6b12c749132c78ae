/**
 * Pieces of the chat pages shared by the portal and the console: building DOM
 * without HTML strings, the message list, typing, the connection banner, a beep,
 * and the words for times and waits.
 *
 * The only HTML ever parsed is a message's `body`, which the server sanitized
 * (docs/protocol.md): `text` is always set as text.
 */

/** el("p", { class: "x", hidden: true, dataset: { seq: 3 } }, "text", child) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The JSON a template put in a json_script block, or a default. */
export function pageData(id, fallback = null) {
  const node = document.getElementById(id);
  if (!node) return fallback;
  try {
    return JSON.parse(node.textContent);
  } catch {
    return fallback;
  }
}

// --- words ---------------------------------------------------------------------------

export function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"}`;
}

/** "within about 5 minutes", from a wait estimate in seconds. */
export function etaWords(seconds) {
  if (seconds <= 0) return "in a moment";
  const minutes = Math.ceil(seconds / 60);
  if (minutes <= 1) return "within about a minute";
  if (minutes < 90) return `within about ${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  return `within about ${hours} hours`;
}

/** What a queued member is told about her place and the wait. */
export function queueWords(position, etaSeconds) {
  if (etaSeconds === null || etaSeconds === undefined) {
    return (
      "No coach is online right now. Your message is saved and a coach will reply " +
      "here as soon as one is online."
    );
  }
  const place = position === 1 ? "You're next in line." : `You're ${ordinal(position)} in line.`;
  if (etaSeconds <= 0) return `${place} A coach will be with you in a moment.`;
  return `${place} A coach usually replies ${etaWords(etaSeconds)}.`;
}

/** "45s", "4m 05s", "1h 02m": a wait as it ticks. */
export function shortDuration(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s < 60) return `${s}s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

export function secondsSince(iso, now = Date.now()) {
  return iso ? (now - Date.parse(iso)) / 1000 : 0;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

export function clockTime(iso) {
  const moment = new Date(iso);
  const today = new Date().toDateString() === moment.toDateString();
  const time = timeFormat.format(moment);
  return today ? time : `${dateFormat.format(moment)}, ${time}`;
}

export function dateWords(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "";
}

// --- the message list ----------------------------------------------------------------

const NEAR_BOTTOM_PX = 80;

/**
 * An <ol> of messages in seq order, then the sender's unsent ones (the outbox).
 * Own messages show Sending… → Sent → Read.
 */
export class MessageList {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLElement} scroller the element that scrolls (holds the list)
   * @param {{ meId: () => number|null, onRetry, onDiscard,
   *           decorate?: (li, m, { live }) => void }} options  live: it just arrived
   */
  constructor(list, scroller, options) {
    this.list = list;
    this.scroller = scroller;
    this.options = options;
    this.items = new Map(); // seq → li
    this.pending = new Map(); // clientId → li
    this.peerRead = 0;
    // When banners or alerts take room from the log, keep the newest message in view
    // if that is where the reader was.
    this.atBottom = true;
    scroller.addEventListener("scroll", () => {
      this.atBottom = this.nearBottom();
    });
    new ResizeObserver(() => {
      if (this.atBottom) this.scrollToBottom();
    }).observe(scroller);
  }

  reset() {
    this.items.clear();
    this.pending.clear();
    this.peerRead = 0;
    this.list.replaceChildren();
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.atBottom = true;
  }

  newestSeq() {
    let newest = 0;
    for (const seq of this.items.keys()) newest = Math.max(newest, seq);
    return newest;
  }

  /** Insert messages by seq; keeps the view pinned to the bottom, or still on an older page. */
  add(messages, { older = false, live = false } = {}) {
    const stick = !older && this.nearBottom();
    const heightBefore = this.scroller.scrollHeight;
    const topBefore = this.scroller.scrollTop;
    for (const message of messages) {
      if (this.items.has(message.seq)) continue;
      const li = this.render(message, { live });
      this.items.set(message.seq, li);
      this.list.insertBefore(li, this.nextSibling(message.seq));
    }
    if (older) {
      this.scroller.scrollTop = topBefore + (this.scroller.scrollHeight - heightBefore);
    } else if (stick) {
      this.scrollToBottom();
    }
  }

  nextSibling(seq) {
    let best = null;
    let bestSeq = Infinity;
    for (const [other, li] of this.items) {
      if (other > seq && other < bestSeq) {
        best = li;
        bestSeq = other;
      }
    }
    return best || this.list.querySelector(".msg--pending");
  }

  isOwn(message) {
    const id = message.sender?.id;
    return id !== null && id !== undefined && id === this.options.meId();
  }

  render(message, { live = false } = {}) {
    const system = message.kind === "system";
    const own = !system && this.isOwn(message);
    const safety = system && message.event === "safety";
    let kind = own ? "own" : "peer";
    if (system) kind = safety ? "safety" : "system";
    const body = el("div", { class: "msg__body", dir: "auto" });
    body.innerHTML = message.body; // sanitized by the server; never `text` as HTML
    const li = el(
      "li",
      {
        class: `msg msg--${kind}`,
        dataset: { seq: message.seq, role: message.sender?.role || "" },
      },
      el(
        "p",
        { class: "msg__meta" },
        el("span", { class: "msg__who" }, own ? "You" : message.sender?.name || "Coaching team"),
        " ",
        el("time", { datetime: message.created_at }, clockTime(message.created_at)),
      ),
      body,
    );
    if (own) {
      li.append(el("p", { class: "msg__status" }, this.statusWords(message.seq)));
    }
    if (this.options.decorate) this.options.decorate(li, message, { live });
    return li;
  }

  statusWords(seq) {
    return seq <= this.peerRead ? "Read" : "Sent";
  }

  setPeerRead(seq) {
    if (seq <= this.peerRead) return;
    this.peerRead = seq;
    for (const [itemSeq, li] of this.items) {
      const status = li.querySelector(".msg__status");
      if (status) status.textContent = this.statusWords(itemSeq);
    }
  }

  /** Show the outbox: entries not yet held as messages, after every message. */
  setOutbox(entries) {
    const stick = this.nearBottom();
    const keep = new Set();
    for (const entry of entries) {
      if (entry.seq !== null && this.items.has(entry.seq)) continue;
      keep.add(entry.clientId);
      let li = this.pending.get(entry.clientId);
      if (!li) {
        li = el(
          "li",
          { class: "msg msg--own msg--pending", dataset: { clientId: entry.clientId } },
          el("p", { class: "msg__meta" }, el("span", { class: "msg__who" }, "You")),
          el("div", { class: "msg__body", dir: "auto", text: entry.body }),
          el("p", { class: "msg__status" }),
        );
        this.pending.set(entry.clientId, li);
        this.list.append(li);
      }
      this.renderPendingStatus(li, entry);
    }
    for (const [clientId, li] of this.pending) {
      if (!keep.has(clientId)) {
        li.remove();
        this.pending.delete(clientId);
      }
    }
    if (stick) this.scrollToBottom();
  }

  renderPendingStatus(li, entry) {
    const status = li.querySelector(".msg__status");
    li.classList.toggle("msg--failed", entry.state === "failed");
    if (entry.state === "failed") {
      const action = (words, fn) =>
        el("button", { type: "button", class: "link", onclick: () => fn(entry) }, words);
      status.replaceChildren(
        el("span", {}, `Not sent: ${entry.error?.message || "the service refused it"}. `),
        action("Try again", this.options.onRetry),
        " ",
        action("Discard", this.options.onDiscard),
      );
    } else {
      status.textContent = entry.state === "sent" ? "Sent" : "Sending…";
    }
  }
}

// --- typing --------------------------------------------------------------------------

const TYPING_REFRESH_MS = 4000;
const TYPING_IDLE_MS = 3000;
const TYPING_SHOWN_MS = 6500;

/** Sends `typing` true on the first keystroke (again every few seconds), false when idle. */
export class TypingNotifier {
  constructor(client, threadId) {
    this.client = client;
    this.threadId = threadId; // a function: the thread typed in now, or null
    this.typingIn = null;
    this.lastSent = 0;
    this.idleTimer = null;
  }

  input(hasText) {
    const thread = this.threadId();
    if (thread === null) return;
    if (!hasText) {
      this.stop();
      return;
    }
    if (this.typingIn !== null && this.typingIn !== thread) this.stop();
    const now = Date.now();
    if (this.typingIn === null || now - this.lastSent > TYPING_REFRESH_MS) {
      if (this.client.send({ type: "typing", thread, state: true })) {
        this.typingIn = thread;
        this.lastSent = now;
      }
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop() {
    clearTimeout(this.idleTimer);
    if (this.typingIn === null) return;
    this.client.send({ type: "typing", thread: this.typingIn, state: false });
    this.typingIn = null;
  }
}

/** "Kelly is typing…" for the thread on screen, gone on false or after a while. */
export class TypingIndicator {
  constructor(node) {
    this.node = node;
    this.timer = null;
    this.node.hidden = true;
  }

  show(name) {
    this.node.textContent = `${name} is typing…`;
    this.node.hidden = false;
    clearTimeout(this.timer);
    // A lost "false" must not leave it up for ever.
    this.timer = setTimeout(() => this.hide(), TYPING_SHOWN_MS);
  }

  hide() {
    clearTimeout(this.timer);
    this.node.hidden = true;
    this.node.textContent = "";
  }
}

// --- the connection state ------------------------------------------------------------

const STATE_WORDS = {
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  offline: "You're offline. Reconnecting… when the connection is back, nothing you wrote is lost.",
  forbidden: "This account is not allowed to use the chat. Please contact the programme team.",
  "signed-out": "You have been signed out. Taking you to the sign-in page…",
  closed: "Disconnected.",
};

/** A status line that is visible whenever the socket is not open. */
export function bindConnectionBanner(client, node) {
  node.hidden = true;
  client.on("state", ({ state }) => {
    node.dataset.state = state;
    if (state === "open") {
      node.hidden = true;
      node.textContent = "";
      return;
    }
    node.textContent = STATE_WORDS[state] || "Reconnecting…";
    node.hidden = false;
  });
}

/** Announce text to screen readers through a polite live region. */
export function announce(region, text) {
  // Replacing the node's text is what makes screen readers read it again.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = text;
  }, 50);
}

// --- sound ---------------------------------------------------------------------------

/** A short synthesized beep (no audio files). Off until the user turns it on. */
export class Beeper {
  constructor() {
    this.enabled = false;
    this.context = null;
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    if (enabled && !this.context && window.AudioContext) {
      // Created from the click that turned sound on: browsers allow audio then.
      this.context = new AudioContext();
    }
    if (enabled && this.context && this.context.state === "suspended") this.context.resume();
  }

  beep({ times = 1, frequency = 880 } = {}) {
    if (!this.enabled || !this.context) return;
    const start = this.context.currentTime;
    for (let i = 0; i < times; i += 1) {
      const at = start + i * 0.22;
      const oscillator = this.context.createOscillator();
      const gain = this.context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
      oscillator.connect(gain).connect(this.context.destination);
      oscillator.start(at);
      oscillator.stop(at + 0.18);
    }
  }
}

/**
 * The composer's keys: Enter sends, Shift+Enter starts a new line, and typing tells
 * the other side (`typing` is a TypingNotifier). `submit` reads and clears the box.
 */
export function bindComposer({ form, text, submit, typing }) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    text.focus();
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  text.addEventListener("input", () => typing.input(text.value.trim() !== ""));
  text.addEventListener("blur", () => typing.stop());
}

/**
 * Scroll back through a thread: the button, and by itself when the button scrolls
 * into view at the top of `log`. `threadId()` is the thread shown now (or null);
 * a page that arrives after the reader moved to another thread changes nothing.
 */
export function bindOlder({ button, log, client, threadId }) {
  function loadOlder() {
    const id = threadId();
    if (id === null || button.disabled) return;
    button.disabled = true;
    client
      .loadOlder(id)
      .then((more) => {
        if (threadId() === id) button.hidden = !more;
      })
      .catch(() => {})
      .finally(() => {
        button.disabled = false;
      });
  }

  button.addEventListener("click", loadOlder);
  new IntersectionObserver(
    (entries) => {
      if (entries.some((entry) => entry.isIntersecting) && !button.hidden) loadOlder();
    },
    { root: log },
  ).observe(button);
}

/**
 * The supervisor's live floor (/supervisor/): queue depth and oldest wait by priority,
 * the queue, threads that need attention, coaches, red-flag alerts, and watching one
 * thread read-only with transfer, resolve and tag.
 *
 * Everything arrives over the chat socket (static/js/socket.js): `queue` frames (at
 * most one a second), `alert` frames, and, for the watched thread, `thread` and
 * `message.new`. Nothing here posts messages: supervisors do not.
 *
 * Message previews in `queue` frames are not shown: reading a member's words is a
 * transcript read, recorded when she is watched or her transcript is opened.
 */

import { ChatClient } from "./socket.js";

const PRIORITIES = ["urgent", "high", "normal"];
const MAX_ALERTS = 20;
const CONNECTION_TEXT = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline: waiting for the network",
  forbidden: "This account cannot use the live floor.",
  "signed-out": "Signed out",
  closed: "Disconnected",
};

const $ = (id) => document.getElementById(id);
const catalogue = JSON.parse($("tag-catalogue").textContent);
const client = new ChatClient({ storage: null });

let queue = null; // the latest `queue` frame
let watching = null; // the id of the thread being watched
const alerts = []; // newest first: { thread: T, reason, at: Date }

// --- small DOM helpers -------------------------------------------------------------------

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A duration that keeps counting: the ticker refreshes every [data-since] each second. */
function since(iso, prefix = "") {
  const span = el("span", { className: "sv-since", dataset: { since: iso, prefix } });
  refreshSince(span);
  return span;
}

function refreshSince(span) {
  const seconds = (Date.now() - Date.parse(span.dataset.since)) / 1000;
  span.textContent = span.dataset.prefix + duration(seconds);
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function badge(kind, value) {
  return el("span", { className: `sv-${kind} sv-${kind}-${value}`, text: value });
}

function tagChips(tags) {
  return (tags || []).map((tag) =>
    el("span", { className: tag === "red-flag" ? "sv-tag sv-tag-red" : "sv-tag", text: tag }),
  );
}

function watchButton(t) {
  const button = el("button", {
    type: "button",
    dataset: { watch: t.id },
    "aria-label": `Watch thread ${t.id} (${t.member.name})`,
  });
  markWatched(button);
  return button;
}

/** "Watching" on the buttons of the watched thread, wherever it is listed. */
function markWatched(button) {
  const on = Number(button.dataset.watch) === watching;
  button.textContent = on ? "Watching" : "Watch";
  button.setAttribute("aria-pressed", String(on));
  const row = button.closest("li");
  if (row) row.classList.toggle("sv-watched", on);
}

function markAllWatched() {
  for (const button of document.querySelectorAll("[data-watch]")) markWatched(button);
}

// --- the connection ----------------------------------------------------------------------

client.on("state", ({ state }) => {
  const node = $("connection");
  node.dataset.state = state;
  node.textContent = CONNECTION_TEXT[state] || state;
});

// --- queue, attention, coaches -------------------------------------------------------------

client.on("frame:queue", (frame) => {
  queue = frame;
  renderQueue();
  renderFlagged();
  renderCoaches();
  if (watching !== null) renderTransferOptions();
});

function renderQueue() {
  $("queue-total").textContent = String(queue.total);
  for (const priority of PRIORITIES) {
    const card = document.querySelector(`.sv-priority-card[data-priority="${priority}"]`);
    const depth = queue.by_priority[priority] || 0;
    card.querySelector(".sv-depth").textContent = String(depth);
    const oldest = card.querySelector(".sv-oldest");
    // The queue is ordered by priority, then time waited: the first of a priority in
    // rank order is its oldest. Past the first 50 the frame does not say.
    const first = queue.threads.find((t) => t.priority === priority);
    if (first && first.enqueued_at) oldest.replaceChildren(since(first.enqueued_at, "oldest "));
    else oldest.textContent = depth ? "oldest: past the first 50" : "none waiting";
  }
  const list = $("queue-list");
  list.replaceChildren(
    ...queue.threads.map((t) =>
      el(
        "li",
        { className: `sv-row sv-row-${t.priority}`, dataset: { thread: t.id } },
        el("span", { className: "sv-rank", text: `${t.queue_position}` }),
        el(
          "span",
          { className: "sv-row-main" },
          el("span", { className: "sv-who", text: t.member.name }),
          " ",
          badge("priority", t.priority),
          " ",
          ...tagChips(t.tags),
        ),
        el("span", { className: "sv-row-wait" }, t.enqueued_at ? since(t.enqueued_at) : "–"),
        watchButton(t),
      ),
    ),
  );
  $("queue-empty").hidden = queue.threads.length > 0;
  markAllWatched();
}

function renderFlagged() {
  const flagged = queue.flagged || [];
  $("flagged-total").textContent = String(flagged.length);
  $("flagged-list").replaceChildren(
    ...flagged.map((t) =>
      el(
        "li",
        { className: `sv-row sv-row-${t.priority}`, dataset: { thread: t.id } },
        el(
          "span",
          { className: "sv-row-main" },
          el("span", { className: "sv-who", text: t.member.name }),
          el("span", { className: "sv-muted", text: ` with ${t.coach ? t.coach.name : "nobody"} ` }),
          t.priority === "urgent" ? badge("priority", "urgent") : null,
          t.unanswered ? el("span", { className: "sv-flag", text: "unanswered" }) : null,
        ),
        el(
          "span",
          { className: "sv-row-wait" },
          t.waiting_since ? since(t.waiting_since, "waiting ") : "answered",
        ),
        watchButton(t),
      ),
    ),
  );
  $("flagged-empty").hidden = flagged.length > 0;
  markAllWatched();
}

function renderCoaches() {
  const rows = queue.coaches.map((coach) =>
    el(
      "tr",
      { dataset: { coach: coach.id } },
      el("td", { "data-label": "Coach", text: coach.name }),
      el("td", { "data-label": "Status" }, badge("coach", coach.status)),
      el("td", {
        "data-label": "Connected",
        className: coach.connected ? "sv-yes" : "sv-no",
        text: coach.connected ? "yes" : "no",
      }),
      el("td", {
        "data-label": "Load",
        className: coach.load >= coach.capacity ? "sv-full" : "",
        text: `${coach.load} / ${coach.capacity}`,
      }),
    ),
  );
  $("coach-rows").replaceChildren(...rows);
  $("coaches-empty").hidden = rows.length > 0;
}

// --- alerts ------------------------------------------------------------------------------

client.on("frame:alert", (frame) => {
  if (frame.kind !== "red_flag") return;
  alerts.unshift({ thread: frame.thread, reason: frame.reason, at: new Date() });
  alerts.length = Math.min(alerts.length, MAX_ALERTS);
  renderAlerts();
});

function renderAlerts() {
  $("alerts").hidden = alerts.length === 0;
  $("alert-list").replaceChildren(
    ...alerts.map((alert, index) =>
      el(
        "li",
        { className: "sv-alert", dataset: { thread: alert.thread.id } },
        el(
          "span",
          { className: "sv-row-main" },
          el("strong", { text: `${alert.thread.member.name}` }),
          ` (thread ${alert.thread.id}): ${alert.reason}`,
          el("span", {
            className: "sv-muted",
            text: ` at ${alert.at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`,
          }),
        ),
        watchButton(alert.thread),
        el("button", {
          type: "button",
          className: "link",
          dataset: { dismiss: index },
          text: "Dismiss",
        }),
      ),
    ),
  );
  markAllWatched();
}

// --- watching one thread -----------------------------------------------------------------

document.addEventListener("click", (event) => {
  const watch = event.target.closest("[data-watch]");
  if (watch) {
    startWatching(Number(watch.dataset.watch));
    return;
  }
  const dismiss = event.target.closest("[data-dismiss]");
  if (dismiss) {
    alerts.splice(Number(dismiss.dataset.dismiss), 1);
    renderAlerts();
  }
});

async function startWatching(id) {
  if (watching === id) {
    $("watch").scrollIntoView({ block: "start" });
    return;
  }
  if (watching !== null) await stopWatching();
  watching = id;
  markAllWatched();
  $("watch").hidden = false;
  $("watch-id").textContent = String(id);
  $("watch-transcript").href = `/supervisor/transcripts/${id}/`;
  $("watch-messages").replaceChildren();
  $("watch-meta").textContent = "Loading…";
  actionStatus("");
  if (window.matchMedia("(max-width: 900px)").matches) {
    $("watch").scrollIntoView({ block: "start" });
  }
  try {
    await client.watch(id);
    const view = await client.load(id);
    if (watching !== id) return;
    renderWatch();
    for (const message of view.messages) insertMessage(message);
    renderOlderButton(view);
  } catch (error) {
    if (watching !== id) return;
    $("watch-meta").textContent = `Could not watch thread ${id}: ${error.message}`;
  }
}

async function stopWatching() {
  const id = watching;
  watching = null;
  markAllWatched();
  $("watch").hidden = true;
  client.forget(id);
  try {
    await client.unwatch(id);
  } catch {
    // Disconnected: the server forgot the watch with the socket.
  }
}

$("watch-stop").addEventListener("click", () => stopWatching());

client.on("thread", (t) => {
  if (t.id === watching) renderWatch();
});

client.on("messages", ({ thread, messages }) => {
  if (thread !== watching) return;
  for (const message of messages) insertMessage(message);
});

client.on("gone", ({ thread }) => {
  if (thread === watching) {
    stopWatching();
    actionStatus(`Thread ${thread} is no longer available.`);
  }
});

function renderWatch() {
  const view = client.thread(watching);
  if (!view || !view.t) return;
  const t = view.t;
  $("watch-meta").replaceChildren(
    el("strong", { text: t.member.name }),
    " ",
    badge("status", t.status),
    " ",
    badge("priority", t.priority),
    el("span", { className: "sv-muted", text: ` coach: ${t.coach ? t.coach.name : "none"}` }),
  );
  $("watch-tags").replaceChildren(
    ...(t.tags || []).map((tag) =>
      el(
        "span",
        { className: tag === "red-flag" ? "sv-tag sv-tag-red" : "sv-tag" },
        tag,
        el("button", {
          type: "button",
          className: "sv-tag-remove",
          dataset: { removeTag: tag },
          "aria-label": `Remove tag ${tag}`,
          text: "×",
        }),
      ),
    ),
  );
  const handoff = $("watch-handoff");
  handoff.hidden = !t.handoff_note;
  handoff.textContent = t.handoff_note ? `Handoff note: ${t.handoff_note}` : "";

  const present = new Set(t.tags || []);
  const select = $("tag-add");
  select.replaceChildren(
    el("option", { value: "", text: "Choose a tag" }),
    ...catalogue
      .filter((tag) => !present.has(tag.slug))
      .map((tag) => el("option", { value: tag.slug, text: `${tag.name} (${tag.slug})` })),
  );
  renderTransferOptions();
  const open = t.status === "active" || t.status === "queued";
  for (const id of ["transfer-to", "transfer-note", "resolve"]) $(id).disabled = !open;
  for (const button of document.querySelectorAll("#transfer-form button")) button.disabled = !open;
  $("resolve-confirm").hidden = true;
  $("resolve").hidden = false;
}

function renderTransferOptions() {
  const view = client.thread(watching);
  if (!view || !view.t) return;
  const t = view.t;
  const select = $("transfer-to");
  const chosen = select.value;
  const options = [el("option", { value: "", text: "Choose…" })];
  if (t.status === "active") options.push(el("option", { value: "queue", text: "Back to the queue" }));
  for (const coach of queue ? queue.coaches : []) {
    const current = t.coach && t.coach.id === coach.id;
    options.push(
      el("option", {
        value: String(coach.id),
        // Supervisors may go over capacity, but not to a coach who is offline.
        disabled: coach.status === "offline" || current,
        text: `${coach.name} (${coach.status}, ${coach.load}/${coach.capacity})`,
      }),
    );
  }
  select.replaceChildren(...options);
  if ([...select.options].some((option) => option.value === chosen && !option.disabled)) {
    select.value = chosen;
  }
}

function insertMessage(message) {
  const list = $("watch-messages");
  if (list.querySelector(`[data-seq="${message.seq}"]`)) return;
  const classes = ["sv-msg", `sv-msg-${message.sender.role}`];
  if (message.event === "safety") classes.push("sv-safety");
  const body = el("div", { className: "sv-body" });
  // `body` is the server's sanitized HTML (escaped text, links made safe); `text` is
  // never rendered as HTML.
  body.innerHTML = message.body;
  const item = el(
    "li",
    { className: classes.join(" "), dataset: { seq: message.seq } },
    el(
      "div",
      { className: "sv-entry-head" },
      el("span", { className: "sv-who", text: message.sender.name }),
      el("span", { className: "sv-role", text: message.event || message.sender.role }),
      el("time", { datetime: message.created_at, text: clock(message.created_at) }),
    ),
    body,
  );
  const after = [...list.children].find((node) => Number(node.dataset.seq) > message.seq);
  list.insertBefore(item, after || null);
  if (!after) list.scrollTop = list.scrollHeight;
}

function renderOlderButton(view) {
  const existing = $("watch-older");
  if (existing) existing.remove();
  if (!view.hasMoreBefore) return;
  const button = el("button", {
    type: "button",
    id: "watch-older",
    className: "link",
    text: "Earlier messages",
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await client.loadOlder(watching);
    } finally {
      renderOlderButton(client.thread(watching));
    }
  });
  $("watch-messages").before(button);
}

// --- supervisor actions --------------------------------------------------------------------

function actionStatus(text, isError = false) {
  const node = $("action-status");
  node.textContent = text;
  node.classList.toggle("sv-error", isError);
}

async function act(frame, done) {
  const id = watching;
  try {
    await client.request({ ...frame, thread: id });
    if (watching === id) actionStatus(done);
  } catch (error) {
    if (watching === id) actionStatus(`Not done: ${error.message}`, true);
  }
}

$("tag-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const slug = $("tag-add").value;
  if (!slug) return;
  act({ type: "thread.tag", add: [slug], remove: [] }, `Tag ${slug} added.`);
});

$("watch-tags").addEventListener("click", (event) => {
  const button = event.target.closest("[data-remove-tag]");
  if (!button) return;
  const slug = button.dataset.removeTag;
  act({ type: "thread.tag", add: [], remove: [slug] }, `Tag ${slug} removed.`);
});

$("transfer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = $("transfer-to").value;
  if (!target) return;
  const note = $("transfer-note").value.trim();
  const frame = { type: "thread.transfer", note };
  let done = "Back in the queue.";
  if (target === "queue") {
    frame.to_queue = true;
  } else {
    frame.to_coach = Number(target);
    const coach = queue?.coaches.find((c) => c.id === frame.to_coach);
    done = `Transferred to ${coach ? coach.name : "the coach"}.`;
  }
  act(frame, done).then(() => {
    $("transfer-note").value = "";
  });
});

$("resolve").addEventListener("click", () => {
  $("resolve").hidden = true;
  $("resolve-confirm").hidden = false;
});

$("resolve-no").addEventListener("click", () => {
  $("resolve-confirm").hidden = true;
  $("resolve").hidden = false;
});

$("resolve-yes").addEventListener("click", () => {
  $("resolve-confirm").hidden = true;
  $("resolve").hidden = false;
  act({ type: "thread.resolve" }, "Resolved.");
});

// --- go ------------------------------------------------------------------------------------

// /supervisor/?watch=<id> (the transcript pages link here) watches that thread at once.
let watchOnOpen = Number(new URLSearchParams(location.search).get("watch")) || null;
client.on("hello", () => {
  if (watchOnOpen === null) return;
  const id = watchOnOpen;
  watchOnOpen = null;
  startWatching(id);
});

setInterval(() => {
  for (const span of document.querySelectorAll("[data-since]")) refreshSince(span);
}, 1000);

client.connect();

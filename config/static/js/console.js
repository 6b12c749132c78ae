/**
 * The coach console: presence, the queue, her active threads, one thread at a time
 * with the member's context, tags, transfer, resolve, canned replies and alerts.
 * Protocol: docs/protocol.md; the socket, sync and outbox: socket.js.
 */
import { ChatClient } from "./socket.js";
import {
  Beeper,
  MessageList,
  TypingIndicator,
  TypingNotifier,
  announce,
  bindComposer,
  bindConnectionBanner,
  bindOlder,
  dateWords,
  el,
  pageData,
  secondsSince,
  shortDuration,
} from "./chat-ui.js";

const MAX_BODY = 4000;
const MAX_ALERTS = 6;
const ASSIGNED_ALERT_MS = 20000;
const NOTICE_MS = 12000;
const PRESENCE_NOTES = {
  online: "Online: you take new threads from the queue.",
  away: "Away: you keep your threads and take no new ones.",
  offline: "Offline: you take no threads. Go online to start.",
};

const config = pageData("console-data", {});
const cannedReplies = config.cannedReplies || [];
const catalogue = config.tags || [];
const tagNames = new Map(catalogue.map((tag) => [tag.slug, tag.name]));
const tagName = (slug) => tagNames.get(slug) || slug;

const $ = (id) => document.getElementById(id);
const ui = {
  connection: $("connection"),
  alerts: $("alerts"),
  presence: $("presence"),
  presenceNote: $("presence-note"),
  sound: $("sound"),
  soundState: $("sound-state"),
  mine: $("mine"),
  mineCount: $("mine-count"),
  mineEmpty: $("mine-empty"),
  queue: $("queue"),
  queueSummary: $("queue-summary"),
  queueEmpty: $("queue-empty"),
  threadEmpty: $("thread-empty"),
  threadEmptyNote: $("thread-empty-note"),
  threadView: $("thread-view"),
  threadTitle: $("thread-title"),
  badges: $("thread-badges"),
  transferOpen: $("transfer-open"),
  resolveOpen: $("resolve-open"),
  log: $("log"),
  older: $("older"),
  messages: $("messages"),
  typing: $("typing"),
  composer: $("composer"),
  canned: $("canned"),
  text: $("composer-text"),
  composerError: $("composer-error"),
  contextPanel: $("context-panel"),
  handoff: $("handoff"),
  handoffText: $("handoff-text"),
  context: $("context"),
  tags: $("tags"),
  tagForm: $("tag-form"),
  tagAdd: $("tag-add"),
  tagError: $("tag-error"),
  past: $("past"),
  transferDialog: $("transfer-dialog"),
  transferForm: $("transfer-form"),
  transferTargets: $("transfer-targets"),
  transferNote: $("transfer-note"),
  transferError: $("transfer-error"),
  resolveDialog: $("resolve-dialog"),
  resolveForm: $("resolve-form"),
  resolveText: $("resolve-text"),
  resolveError: $("resolve-error"),
  offlineDialog: $("offline-dialog"),
  offlineForm: $("offline-form"),
  offlineText: $("offline-text"),
  announcer: $("announcer"),
};

const client = new ChatClient({ loginUrl: config.loginUrl || "/accounts/login/" });
const beeper = new Beeper();
const mine = new Map(); // thread id → T: her active threads, in the order she got them
const memberRead = new Map(); // thread id → how far the member has read
const typingIn = new Map(); // thread id → name of the member typing there
const drafts = new Map(); // thread id → unsent composer text
const redFlagAlerts = new Map(); // thread id → its red-flag alert <li>
const claimed = new Set(); // threads she claimed herself: no "new thread" alert
let greeted = false;
let presence = null;
let selected = null;
let lastQueue = null;

const isMe = (person) => Boolean(person && client.user && person.id === client.user.id);
const isRedFlag = (t) => t.priority === "urgent" || (t.tags || []).includes("red-flag");
const memberName = (t) => t.member?.name || "Member";

const list = new MessageList(ui.messages, ui.log, {
  meId: () => client.user?.id ?? null,
  onRetry: (entry) => client.retry(entry.clientId),
  onDiscard: (entry) => client.discard(entry.clientId),
  decorate: (li, message) => {
    if (message.kind === "system" && message.event === "safety") {
      li.prepend(el("p", { class: "msg__flag" }, "Safety notice shown to the member"));
    }
  },
});
const typingShown = new TypingIndicator(ui.typing);
const typingSent = new TypingNotifier(client, () => selected);

bindConnectionBanner(client, ui.connection);

// --- alerts ----------------------------------------------------------------------------

function addAlert({ kind, text, detail = null, threadId = null, timeout = null }) {
  const role = kind === "red-flag" ? "alert" : null;
  const li = el("li", { class: `alert alert--${kind}`, role, dataset: { thread: threadId ?? "" } });
  const words = el("p", { class: "alert__text" }, text);
  const dismiss = () => {
    li.remove();
    if (redFlagAlerts.get(threadId) === li) redFlagAlerts.delete(threadId);
  };
  const actions = el("p", { class: "alert__actions" });
  if (threadId !== null && mine.has(threadId)) {
    actions.append(
      el(
        "button",
        {
          type: "button",
          onclick: () => {
            select(threadId);
            if (kind !== "red-flag") dismiss();
          },
        },
        "Open thread",
      ),
      " ",
    );
  }
  actions.append(el("button", { type: "button", class: "link", onclick: dismiss }, "Dismiss"));
  li.append(words, actions, el("p", { class: "alert__reason", hidden: !detail }, detail || ""));
  ui.alerts.prepend(li);
  while (ui.alerts.children.length > MAX_ALERTS) ui.alerts.lastElementChild.remove();
  if (timeout) setTimeout(dismiss, timeout);
  return li;
}

// One red-flag alert per thread at a time: from an `alert` frame, or from a thread of hers
// turning urgent (a member's first message is triaged before any coach has the thread,
// so only supervisors get that `alert`).
function redFlagAlert(t, reason) {
  const text =
    `Red flag in ${memberName(t)}'s thread. ` +
    "The member was shown the safety notice; check in with her now.";
  const detail = reason ? `Triage matched: ${reason}` : null;
  const existing = redFlagAlerts.get(t.id);
  if (existing && existing.isConnected) {
    if (detail) {
      const line = existing.querySelector(".alert__reason");
      line.textContent = detail;
      line.hidden = false;
    }
    return;
  }
  redFlagAlerts.set(t.id, addAlert({ kind: "red-flag", text, detail, threadId: t.id }));
  beeper.beep({ times: 3, frequency: 988 });
}

function notice(text) {
  addAlert({ kind: "notice", text, timeout: NOTICE_MS });
}

client.on("frame:alert", (frame) => {
  if (frame.kind === "red_flag" && mine.has(frame.thread.id)) {
    redFlagAlert(frame.thread, frame.reason);
  }
});

client.on("error", (frame) => {
  // typing and read have no reply; their errors only matter as a hint.
  if (frame.code === "rate_limited") notice("You're sending very fast; slow down a moment.");
});

ui.sound.addEventListener("click", () => {
  const on = ui.sound.getAttribute("aria-pressed") !== "true";
  beeper.setEnabled(on);
  ui.sound.setAttribute("aria-pressed", String(on));
  ui.soundState.textContent = on ? "on" : "off";
  if (on) beeper.beep();
});

// --- presence ------------------------------------------------------------------------

function showPresence(status) {
  presence = status;
  for (const input of ui.presence.querySelectorAll("input")) input.checked = input.value === status;
  ui.presenceNote.textContent = PRESENCE_NOTES[status] || "";
  ui.presence.dataset.status = status;
}

client.on("frame:presence", (frame) => {
  ui.presence.disabled = false;
  showPresence(frame.status);
});

ui.presence.addEventListener("change", (event) => {
  const status = event.target.value;
  if (status === "offline" && mine.size > 0) {
    const n = mine.size;
    ui.offlineText.textContent =
      n === 1
        ? "Going offline hands your active thread back to the queue, " +
          "where the next free coach picks it up."
        : `Going offline hands your ${n} active threads back to the queue, ` +
          "where the next free coaches pick them up.";
    ui.offlineDialog.showModal();
    return;
  }
  setPresence(status);
});

ui.offlineForm.addEventListener("submit", (event) => {
  event.preventDefault();
  ui.offlineDialog.close();
  setPresence("offline");
});
ui.offlineDialog.addEventListener("close", () => {
  if (presence !== null) showPresence(presence); // "Stay" puts the switch back
});

// The switch stays enabled while a change is on its way: disabling it would take the
// keyboard focus away. Replies come in order, so the last choice wins.
function setPresence(status) {
  ui.presence.setAttribute("aria-busy", "true");
  client
    .request({ type: "presence.set", status })
    .then((frame) => showPresence(frame.status))
    .catch((error) => {
      notice(`Your status did not change: ${error.message}`);
      if (presence !== null) showPresence(presence);
    })
    .finally(() => ui.presence.removeAttribute("aria-busy"));
}

// --- her threads ------------------------------------------------------------------------

client.on("hello", (hello) => {
  if (hello.presence) {
    ui.presence.disabled = false;
    showPresence(hello.presence);
  }
  const present = new Set((hello.threads || []).map((t) => t.id));
  for (const [id, t] of mine) {
    // Changed while the socket was down: resolved, transferred or requeued.
    if (!present.has(id)) lose(t, `${memberName(t)}'s thread is no longer assigned to you.`);
  }
  for (const t of hello.threads || []) {
    if (!mine.has(t.id) && t.status === "active" && isMe(t.coach)) {
      gain(t, { alert: greeted });
    }
  }
  greeted = true;
  renderMine();
});

client.on("thread", (t, previous) => {
  if (!greeted) return; // the hello handler takes hello's threads
  const ours = t.status === "active" && isMe(t.coach);
  if (ours && !mine.has(t.id)) {
    gain(t, { alert: !claimed.has(t.id) });
  } else if (ours) {
    mine.set(t.id, t);
    if (isRedFlag(t) && previous && !isRedFlag(previous)) redFlagAlert(t);
    if (t.id === selected) renderThreadHead();
  } else if (mine.has(t.id)) {
    lose(t, departureWords(t));
  }
  renderMine();
});

function gain(t, { alert }) {
  mine.set(t.id, t);
  claimed.delete(t.id);
  client.load(t.id).catch(() => {});
  if (!alert) return;
  if (isRedFlag(t)) {
    redFlagAlert(t);
  } else {
    const tags = (t.tags || []).map(tagName).join(", ");
    addAlert({
      kind: "assigned",
      text: `New thread assigned: ${memberName(t)}${tags ? ` (${tags})` : ""}.`,
      threadId: t.id,
      timeout: ASSIGNED_ALERT_MS,
    });
    beeper.beep();
  }
}

function departureWords(t) {
  const name = memberName(t);
  if (t.status === "resolved") return `${name}'s thread is resolved.`;
  if (t.status === "queued") return `${name}'s thread went back to the queue.`;
  if (t.coach) return `${name}'s thread is now with ${t.coach.name}.`;
  return `${name}'s thread is no longer assigned to you.`;
}

function lose(t, words) {
  mine.delete(t.id);
  typingIn.delete(t.id);
  drafts.delete(t.id);
  memberRead.delete(t.id);
  for (const entry of client.outbox(t.id)) client.discard(entry.clientId);
  client.forget(t.id);
  const flag = redFlagAlerts.get(t.id);
  if (flag) {
    flag.remove();
    redFlagAlerts.delete(t.id);
  }
  notice(words);
  if (selected === t.id) {
    deselect(words);
  }
}

client.on("gone", ({ thread }) => {
  const t = mine.get(thread);
  if (t) lose(t, `${memberName(t)}'s thread is no longer assigned to you.`);
  renderMine();
});

function unreadCount(id) {
  const held = client.thread(id);
  if (!held) return 0;
  if (!held.loaded) return Math.max(0, held.latest - held.readSeq);
  return held.messages.filter((m) => m.seq > held.readSeq && m.sender?.role === "member").length;
}

const mineItems = new Map(); // thread id → li

function renderMine() {
  ui.mineCount.textContent = mine.size ? `(${mine.size})` : "";
  ui.mineEmpty.hidden = mine.size > 0;
  for (const [id, li] of mineItems) {
    if (!mine.has(id)) {
      li.remove();
      mineItems.delete(id);
    }
  }
  // Red flags first, then threads waiting on her, then the order she got them in.
  const rank = (t) => (isRedFlag(t) ? 0 : t.unanswered ? 1 : 2);
  const order = [...mine.values()].sort((a, b) => rank(a) - rank(b)).map((t) => t.id);
  for (const id of order) {
    let li = mineItems.get(id);
    if (!li) {
      const open = () => select(id);
      li = el("li", {}, el("button", { type: "button", class: "thread-item", onclick: open }));
      mineItems.set(id, li);
    }
    fillThreadItem(li.firstElementChild, mine.get(id));
  }
  const current = [...ui.mine.children];
  if (current.length !== order.length || current.some((li, i) => li !== mineItems.get(order[i]))) {
    ui.mine.replaceChildren(...order.map((id) => mineItems.get(id)));
  }
}

function fillThreadItem(button, t) {
  const unread = unreadCount(t.id);
  const badges = el("span", { class: "badges" });
  if (isRedFlag(t)) badges.append(el("span", { class: "badge badge--urgent" }, "Red flag"));
  else if (t.priority === "high") badges.append(el("span", { class: "badge badge--high" }, "High"));
  if (t.unanswered) badges.append(el("span", { class: "badge badge--unanswered" }, "Unanswered"));
  if (unread) badges.append(el("span", { class: "badge badge--unread" }, `${unread} unread`));
  const meta = el("span", { class: "thread-item__meta" });
  if (typingIn.has(t.id)) meta.append("typing…");
  else if (t.waiting_since) {
    meta.append("waiting ", ticking(t.waiting_since));
  } else meta.append((t.tags || []).map(tagName).join(", "));
  button.replaceChildren(el("span", { class: "thread-item__name" }, memberName(t)), badges, meta);
  button.setAttribute("aria-current", t.id === selected ? "true" : "false");
  button.classList.toggle("is-selected", t.id === selected);
}

// --- the queue -------------------------------------------------------------------------

const queueItems = new Map(); // thread id → li

client.on("frame:queue", (frame) => {
  lastQueue = frame;
  for (const t of frame.flagged || []) {
    if (isMe(t.coach)) client.mergeThread(t);
  }
  renderQueue(frame);
});

function renderQueue(frame) {
  const threads = frame.threads || [];
  const counts = frame.by_priority || {};
  ui.queueSummary.textContent = frame.total
    ? `(${frame.total} waiting${counts.urgent ? `, ${counts.urgent} urgent` : ""})`
    : "";
  ui.queueEmpty.hidden = threads.length > 0;
  const ids = threads.map((t) => t.id);
  for (const [id, li] of queueItems) {
    if (!ids.includes(id)) {
      li.remove();
      queueItems.delete(id);
    }
  }
  for (const t of threads) {
    const id = t.id;
    let li = queueItems.get(id);
    if (!li) {
      li = el(
        "li",
        { class: "queue-item" },
        el("p", { class: "queue-item__head" }),
        el("p", { class: "queue-item__tags" }),
        el("p", { class: "queue-item__preview", dir: "auto" }),
        el("button", { type: "button", class: "primary claim", onclick: () => claim(id) }, "Claim"),
      );
      queueItems.set(id, li);
    }
    fillQueueItem(li, t);
  }
  const current = [...ui.queue.children];
  if (current.length !== ids.length || current.some((li, i) => li !== queueItems.get(ids[i]))) {
    ui.queue.replaceChildren(...ids.map((id) => queueItems.get(id)));
  }
}

function priorityBadge(priority) {
  const words = { urgent: "Urgent", high: "High", normal: "Normal" };
  return el("span", { class: `badge badge--${priority}` }, words[priority] || priority);
}

function fillQueueItem(li, t) {
  const claimButton = li.querySelector(".claim");
  claimButton.setAttribute("aria-label", `Claim ${memberName(t)}'s thread`);
  li.classList.toggle("queue-item--urgent", t.priority === "urgent");
  li.querySelector(".queue-item__head").replaceChildren(
    priorityBadge(t.priority),
    " ",
    el("strong", {}, memberName(t)),
    " ",
    el(
      "span",
      { class: "wait" },
      "waiting ",
      ticking(t.enqueued_at || t.created_at),
    ),
  );
  li.querySelector(".queue-item__tags").replaceChildren(
    ...(t.tags || []).map((slug) =>
      el("span", { class: `tag${slug === "red-flag" ? " tag--red-flag" : ""}` }, tagName(slug)),
    ),
  );
  li.querySelector(".queue-item__preview").textContent = t.preview || "";
}

function claim(id) {
  const button = queueItems.get(id)?.querySelector(".claim");
  if (!button) return;
  button.disabled = true;
  claimed.add(id);
  client
    .request({ type: "queue.claim", thread: id })
    .then((reply) => {
      client.mergeThread(reply.thread);
      select(id);
    })
    .catch((error) => {
      claimed.delete(id);
      notice(`Could not claim the thread: ${error.message}`);
    })
    .finally(() => {
      button.disabled = false;
    });
}

/** A wait that counts up from `since`, every second (see the interval below). */
function ticking(since) {
  return el("span", { dataset: { since } }, shortDuration(secondsSince(since)));
}

setInterval(() => {
  const now = Date.now();
  for (const node of document.querySelectorAll("[data-since]")) {
    node.textContent = shortDuration(secondsSince(node.dataset.since, now));
  }
}, 1000);

// --- the selected thread -----------------------------------------------------------------

function select(id) {
  if (!mine.has(id)) return;
  if (selected !== null && selected !== id) {
    drafts.set(selected, ui.text.value);
    typingSent.stop();
  }
  const changed = selected !== id;
  selected = id;
  // She has seen it: the "new thread" alert is done (a red flag stays until dismissed).
  for (const li of ui.alerts.querySelectorAll(`.alert--assigned[data-thread="${id}"]`)) li.remove();
  ui.threadEmpty.hidden = true;
  ui.threadView.hidden = false;
  ui.contextPanel.hidden = false;
  if (changed) {
    list.reset();
    typingShown.hide();
    ui.text.value = drafts.get(id) || "";
    ui.composerError.hidden = true;
    ui.context.replaceChildren();
    ui.past.replaceChildren();
    const held = client.thread(id);
    if (held?.loaded) list.add(held.messages);
    list.setOutbox(client.outbox(id));
    list.setPeerRead(memberRead.get(id) || 0);
    client
      .load(id)
      .then((view) => {
        if (selected !== id) return;
        list.add(view.messages);
        list.scrollToBottom();
        ui.older.hidden = !view.hasMoreBefore;
        markRead();
      })
      .catch(() => {});
    loadContext(id);
  }
  renderThreadHead();
  renderMine();
  list.scrollToBottom();
  markRead();
  ui.text.focus();
}

function deselect(words) {
  selected = null;
  list.reset();
  typingShown.hide();
  ui.threadView.hidden = true;
  ui.contextPanel.hidden = true;
  ui.threadEmpty.hidden = false;
  ui.threadEmptyNote.textContent = `${words} Choose another thread, or claim one from the queue.`;
}

function renderThreadHead() {
  const t = mine.get(selected);
  if (!t) return;
  ui.threadTitle.textContent = memberName(t);
  const badges = [priorityBadge(t.priority)];
  if ((t.tags || []).includes("red-flag")) {
    badges.push(el("span", { class: "badge badge--urgent" }, "Red flag"));
  }
  if (t.unanswered) badges.push(el("span", { class: "badge badge--unanswered" }, "Unanswered"));
  ui.badges.replaceChildren(...badges.flatMap((badge) => [badge, " "]));
  ui.handoff.hidden = !t.handoff_note;
  ui.handoffText.textContent = t.handoff_note || "";
  renderTags(t);
}

client.on("messages", ({ thread, messages, older, initial }) => {
  if (thread === selected) {
    list.add(messages, { older });
    list.setOutbox(client.outbox(thread));
    if (older || initial) ui.older.hidden = !client.thread(thread).hasMoreBefore;
    if (!older && !initial) {
      const incoming = messages.filter((message) => message.sender?.role === "member");
      if (incoming.length) {
        typingShown.hide();
        announce(ui.announcer, incoming.map((m) => `${m.sender.name}: ${m.text}`).join("\n"));
      }
      markRead();
    }
  }
  if (!older && !initial && messages.some((m) => m.sender?.role === "member")) {
    typingIn.delete(thread);
  }
  if (mine.has(thread)) renderMine();
});

client.on("outbox", (entry) => {
  if (entry.thread === selected) list.setOutbox(client.outbox(selected));
  if (mine.has(entry.thread)) renderMine();
});

client.on("frame:typing", (frame) => {
  if (isMe(frame.user) || !mine.has(frame.thread)) return;
  if (frame.state) typingIn.set(frame.thread, frame.user.name);
  else typingIn.delete(frame.thread);
  if (frame.thread === selected) {
    if (frame.state) typingShown.show(frame.user.name);
    else typingShown.hide();
  }
  renderMine();
});

client.on("frame:read", (frame) => {
  if (isMe(frame.user) || frame.user.role !== "member") return;
  memberRead.set(frame.thread, Math.max(memberRead.get(frame.thread) || 0, frame.seq));
  if (frame.thread === selected) list.setPeerRead(frame.seq);
});

function markRead() {
  if (selected === null || document.visibilityState !== "visible") return;
  const newest = list.newestSeq();
  if (newest) client.markRead(selected, newest);
  renderMine();
}

document.addEventListener("visibilitychange", markRead);

bindOlder({ button: ui.older, log: ui.log, client, threadId: () => selected });

// --- member context ----------------------------------------------------------------------

function loadContext(id) {
  client
    .request({ type: "member.context", thread: id })
    .then((frame) => {
      if (selected === id) renderContext(frame);
    })
    .catch(() => {
      if (selected === id) ui.context.replaceChildren(el("dd", {}, "Not available right now."));
    });
}

function renderContext(frame) {
  const member = frame.member || {};
  const weeks = member.weeks_postpartum;
  const facts = [
    ["Name", member.name],
    ["Weeks postpartum", weeks === null || weeks === undefined ? "Not said" : String(weeks)],
    ["Birth", member.delivery_label || "Not said"],
    ["Member since", member.member_since ? dateWords(member.member_since) : "—"],
  ];
  ui.context.replaceChildren(
    ...facts.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]),
  );
  const past = frame.past_threads || [];
  ui.past.replaceChildren(
    ...(past.length
      ? past.map((t) =>
          el(
            "li",
            {},
            `${dateWords(t.created_at)} · ${t.status}`,
            t.coach ? ` · ${t.coach.name}` : "",
            t.tags.length ? ` · ${t.tags.map(tagName).join(", ")}` : "",
          ),
        )
      : [el("li", { class: "empty" }, "None before this one.")]),
  );
}

// --- tags ----------------------------------------------------------------------------

function renderTags(t) {
  const present = new Set(t.tags || []);
  ui.tags.replaceChildren(
    ...[...present].map((slug) =>
      el(
        "li",
        { class: `tag${slug === "red-flag" ? " tag--red-flag" : ""}` },
        tagName(slug),
        " ",
        el(
          "button",
          {
            type: "button",
            class: "tag__remove",
            "aria-label": `Remove tag ${tagName(slug)}`,
            onclick: () => changeTags(t.id, { remove: [slug] }),
          },
          "×",
        ),
      ),
    ),
  );
  if (!present.size) ui.tags.append(el("li", { class: "empty" }, "No tags yet."));
  const choices = catalogue.filter((tag) => !present.has(tag.slug));
  const keep = ui.tagAdd.value;
  ui.tagAdd.replaceChildren(
    el("option", { value: "" }, "Choose a tag…"),
    ...choices.map((tag) => el("option", { value: tag.slug }, tag.name)),
  );
  if (choices.some((tag) => tag.slug === keep)) ui.tagAdd.value = keep;
  ui.tagForm.hidden = choices.length === 0;
}

function changeTags(id, change) {
  ui.tagError.hidden = true;
  client
    .request({ type: "thread.tag", thread: id, ...change })
    .then((reply) => client.mergeThread(reply.thread))
    .catch((error) => {
      ui.tagError.textContent = `Tags not changed: ${error.message}`;
      ui.tagError.hidden = false;
    });
}

ui.tagForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (selected !== null && ui.tagAdd.value) changeTags(selected, { add: [ui.tagAdd.value] });
});

// --- transfer and resolve ----------------------------------------------------------------

for (const button of document.querySelectorAll(".dialog-cancel")) {
  button.addEventListener("click", () => button.closest("dialog").close());
}

ui.transferOpen.addEventListener("click", () => {
  if (selected === null) return;
  const coaches = (lastQueue?.coaches || []).filter((coach) => !isMe(coach));
  const choices = coaches.map((coach) => {
    const full = coach.load >= coach.capacity;
    const offline = coach.status === "offline";
    const id = `transfer-to-${coach.id}`;
    let why = "";
    if (offline) why = " (offline)";
    else if (full) why = " (full)";
    return el(
      "label",
      { class: `choice${offline || full ? " choice--disabled" : ""}`, for: id },
      el("input", { type: "radio", name: "to", id, value: coach.id, disabled: offline || full }),
      ` ${coach.name} — ${coach.status}${coach.connected ? "" : ", not connected"}, ` +
        `${coach.load} of ${coach.capacity}${why}`,
    );
  });
  choices.push(
    el(
      "label",
      { class: "choice", for: "transfer-to-queue" },
      el("input", { type: "radio", name: "to", id: "transfer-to-queue", value: "queue" }),
      " Back to the queue (she keeps her place)",
    ),
  );
  ui.transferTargets.replaceChildren(...choices);
  ui.transferNote.value = "";
  ui.transferError.hidden = true;
  ui.transferDialog.showModal();
});

ui.transferForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = ui.transferForm.querySelector("input[name=to]:checked");
  if (!chosen) {
    ui.transferError.textContent = "Choose a coach, or the queue.";
    ui.transferError.hidden = false;
    return;
  }
  const frame = { type: "thread.transfer", thread: selected, note: ui.transferNote.value.trim() };
  if (chosen.value === "queue") frame.to_queue = true;
  else frame.to_coach = Number(chosen.value);
  client
    .request(frame)
    .then((reply) => {
      ui.transferDialog.close();
      client.mergeThread(reply.thread);
    })
    .catch((error) => {
      ui.transferError.textContent = `Not transferred: ${error.message}`;
      ui.transferError.hidden = false;
    });
});

ui.resolveOpen.addEventListener("click", () => {
  const t = mine.get(selected);
  if (!t) return;
  ui.resolveText.textContent =
    `${memberName(t)} will see that the conversation is resolved. ` +
    "If she writes again, it reopens.";
  ui.resolveError.hidden = true;
  ui.resolveDialog.showModal();
});

ui.resolveForm.addEventListener("submit", (event) => {
  event.preventDefault();
  client
    .request({ type: "thread.resolve", thread: selected })
    .then((reply) => {
      ui.resolveDialog.close();
      client.mergeThread(reply.thread);
    })
    .catch((error) => {
      ui.resolveError.textContent = `Not resolved: ${error.message}`;
      ui.resolveError.hidden = false;
    });
});

// --- the composer --------------------------------------------------------------------

ui.canned.replaceChildren(
  ui.canned.firstElementChild,
  ...cannedReplies.map((reply) => el("option", { value: String(reply.id) }, reply.title)),
);
ui.canned.disabled = cannedReplies.length === 0;
ui.canned.addEventListener("change", () => {
  const reply = cannedReplies.find((r) => String(r.id) === ui.canned.value);
  ui.canned.value = "";
  if (!reply) return;
  const { selectionStart: start, selectionEnd: end, value } = ui.text;
  ui.text.value = value.slice(0, start) + reply.body + value.slice(end);
  ui.text.focus();
  ui.text.setSelectionRange(start + reply.body.length, start + reply.body.length);
});

function submit() {
  const body = ui.text.value.trim();
  if (!body || selected === null) return;
  if (body.length > MAX_BODY) {
    ui.composerError.textContent = `The reply is too long: at most ${MAX_BODY} characters.`;
    ui.composerError.hidden = false;
    return;
  }
  ui.composerError.hidden = true;
  typingSent.stop();
  client.sendMessage(selected, body);
  ui.text.value = "";
  drafts.delete(selected);
  list.scrollToBottom();
}

bindComposer({ form: ui.composer, text: ui.text, submit, typing: typingSent });

client.connect();

/**
 * The member portal: her thread, the composer, her place in the queue, her coach.
 * Protocol: docs/protocol.md; the socket, sync and outbox: socket.js.
 */
import { ChatClient } from "./socket.js";
import {
  MessageList,
  TypingIndicator,
  TypingNotifier,
  announce,
  bindComposer,
  bindConnectionBanner,
  bindOlder,
  el,
  pageData,
  queueWords,
} from "./chat-ui.js";

const MAX_BODY = 4000;

const config = pageData("portal-data", {});
const $ = (id) => document.getElementById(id);
const ui = {
  coachLine: $("coach-line"),
  status: $("thread-status"),
  connection: $("connection"),
  safety: $("safety"),
  safetyShow: $("safety-show"),
  safetyHide: $("safety-hide"),
  log: $("log"),
  older: $("older"),
  messages: $("messages"),
  typing: $("typing"),
  composer: $("composer"),
  text: $("composer-text"),
  send: $("send"),
  error: $("composer-error"),
  announcer: $("announcer"),
};

const client = new ChatClient({ loginUrl: config.loginUrl || "/accounts/login/" });
let current = null; // the thread on screen
let opening = false;

const list = new MessageList(ui.messages, ui.log, {
  meId: () => client.user?.id ?? null,
  onRetry: (entry) => client.retry(entry.clientId),
  onDiscard: (entry) => client.discard(entry.clientId),
  decorate: (li, message, { live }) => {
    if (message.kind === "system" && message.event === "safety") {
      li.prepend(el("p", { class: "msg__flag" }, "Please read this now"));
      li.tabIndex = -1;
      // Announced at once when it arrives; not again when history is loaded.
      if (live) li.setAttribute("role", "alert");
    }
  },
});
const typingShown = new TypingIndicator(ui.typing);
const typingSent = new TypingNotifier(client, () => current);

bindConnectionBanner(client, ui.connection);

// --- the thread ----------------------------------------------------------------------

// A conversation resolved this recently is shown again, and writing into it reopens
// it with the coach who knows it; an older one gives way to a fresh thread.
const CONTINUE_WITHIN_MS = 30 * 24 * 3600 * 1000;

client.on("hello", (hello) => {
  if (current !== null || opening) return; // a reconnect: the client resyncs what we hold
  const threads = hello.threads || []; // newest first
  const open = threads.find((t) => t.status !== "resolved");
  const recent = threads.find(
    (t) => t.status === "resolved" && Date.now() - Date.parse(t.created_at) < CONTINUE_WITHIN_MS,
  );
  if (open || recent) {
    show((open || recent).id);
    return;
  }
  opening = true;
  client
    .request({ type: "thread.open" })
    .then((reply) => show(reply.thread.id))
    .catch(() => {
      // Dropped before the reply: the next hello tries again.
    })
    .finally(() => {
      opening = false;
    });
});

function show(threadId) {
  current = threadId;
  list.reset();
  const held = client.thread(threadId);
  if (held?.t) renderThread(held.t);
  list.setOutbox(client.outbox(threadId));
  ui.text.disabled = false;
  ui.send.disabled = false;
  client
    .load(threadId)
    .then((view) => {
      list.add(view.messages);
      list.setOutbox(client.outbox(threadId));
      list.scrollToBottom();
      showLatestSafetyNotice(view.messages);
      ui.older.hidden = !view.hasMoreBefore;
      markRead();
    })
    .catch(() => {
      // Retried by the reconnect that follows a dropped request.
      current = null;
    });
}

client.on("thread", (t) => {
  if (t.id === current) renderThread(t);
});

function renderThread(t) {
  const coach = t.coach?.name;
  if (coach) ui.coachLine.textContent = `Your coach: ${coach}`;
  else if (t.status === "resolved") ui.coachLine.textContent = "";
  else ui.coachLine.textContent = "A coach will join you here.";
  ui.status.dataset.status = t.status;
  switch (t.status) {
    case "new":
      ui.status.textContent =
        "Write your question below. A pelvic-floor-informed coach will reply here.";
      break;
    case "queued":
      ui.status.textContent =
        t.queue_position === null && t.eta_seconds !== null
          ? "You're in the queue. A coach will join you here."
          : queueWords(t.queue_position, t.eta_seconds);
      break;
    case "active":
      ui.status.textContent =
        `${coach || "Your coach"} will reply here. ` +
        "You can leave this page: your conversation is saved.";
      break;
    case "resolved":
      ui.status.textContent =
        "This conversation is resolved. Write below any time and a coach will pick it up again.";
      break;
    default:
      ui.status.textContent = "";
  }
  ui.text.placeholder =
    t.status === "resolved" ? "Write here to start again…" : "Type your message…";
}

// --- messages ------------------------------------------------------------------------

client.on("messages", ({ thread, messages, older, initial }) => {
  if (thread !== current) return;
  list.add(messages, { older, live: !older && !initial });
  list.setOutbox(client.outbox(current));
  if (older || initial) {
    ui.older.hidden = !client.thread(current).hasMoreBefore;
    return;
  }
  const me = client.user?.id;
  const incoming = messages.filter((message) => message.sender?.id !== me);
  if (incoming.some((message) => message.sender?.role !== "system")) typingShown.hide();
  if (incoming.length) {
    announce(
      ui.announcer,
      incoming.map((m) => `${m.sender?.name || "Coaching team"}: ${m.text}`).join("\n"),
    );
  }
  showLatestSafetyNotice(messages);
  markRead();
});

// The newest safety notice, while it is scrolled out of the log's view, is recalled by a
// short banner above the log (the notice itself, in the log, is the one to read).
let safetySeq = null;
let safetyHidden = false;
const safetyWatch = new IntersectionObserver(
  (entries) => {
    for (const entry of entries) {
      if (Number(entry.target.dataset.seq) === safetySeq) {
        ui.safety.hidden = entry.isIntersecting || safetyHidden;
      }
    }
  },
  { root: ui.log },
);

function showLatestSafetyNotice(messages) {
  const notice = [...messages].reverse().find((m) => m.kind === "system" && m.event === "safety");
  if (!notice || (safetySeq !== null && notice.seq < safetySeq)) return;
  const li = list.items.get(notice.seq);
  if (!li) return;
  safetySeq = notice.seq;
  safetyHidden = false;
  safetyWatch.disconnect();
  safetyWatch.observe(li);
}

ui.safetyShow.addEventListener("click", () => {
  const li = list.items.get(safetySeq);
  if (!li) return;
  li.scrollIntoView({ block: "start" });
  li.focus({ preventScroll: true });
});
ui.safetyHide.addEventListener("click", () => {
  safetyHidden = true;
  ui.safety.hidden = true;
});

client.on("outbox", (entry) => {
  if (entry.thread === current) list.setOutbox(client.outbox(current));
});

client.on("frame:typing", (frame) => {
  if (frame.thread !== current || frame.user.id === client.user?.id) return;
  if (frame.state) typingShown.show(frame.user.name);
  else typingShown.hide();
});

client.on("frame:read", (frame) => {
  if (frame.thread === current && frame.user.id !== client.user?.id) list.setPeerRead(frame.seq);
});

client.on("gone", ({ thread }) => {
  if (thread === current) {
    current = null;
    ui.status.textContent = "This conversation is no longer available. Reload the page.";
  }
});

function markRead() {
  if (current === null || document.visibilityState !== "visible") return;
  const newest = list.newestSeq();
  if (newest) client.markRead(current, newest);
}

document.addEventListener("visibilitychange", markRead);

// Scroll back: the button, and by itself when it scrolls into view.
bindOlder({ button: ui.older, log: ui.log, client, threadId: () => current });

// --- the composer --------------------------------------------------------------------

function submit() {
  const body = ui.text.value.trim();
  if (!body || current === null) return;
  if (body.length > MAX_BODY) {
    ui.error.textContent = `Your message is too long: at most ${MAX_BODY} characters.`;
    ui.error.hidden = false;
    return;
  }
  ui.error.hidden = true;
  typingSent.stop();
  client.sendMessage(current, body);
  ui.text.value = "";
  list.scrollToBottom();
}

bindComposer({ form: ui.composer, text: ui.text, submit, typing: typingSent });

client.connect();

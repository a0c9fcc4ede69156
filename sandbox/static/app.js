// The sandbox page: plays the personas against the local Bot API server (sandbox/web.py).
"use strict";

const S = {
  lang: localStorage.getItem("linli.lang") || "zh",
  persona: localStorage.getItem("linli.persona") || "elder",
  chat: null, // chat id
  personas: [],
  bot: {},
  version: -1,
  generation: -1,
  seen: JSON.parse(localStorage.getItem("linli.seen") || "{}"), // "persona/chat" -> last id
  keyboard: null,
};
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: body instanceof FormData ? {} : { "Content-Type": "application/json" },
    body: body instanceof FormData ? body : JSON.stringify(body),
  };
  const response = await fetch(path, options);
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function t(zh, en) { return S.lang === "en" ? en : zh; }

function applyLanguage() {
  document.documentElement.lang = S.lang === "en" ? "en" : "zh-CN";
  for (const node of document.querySelectorAll("[data-zh]")) {
    node.textContent = S.lang === "en" ? node.dataset.en : node.dataset.zh;
  }
  $("lang").textContent = S.lang === "en" ? "中文" : "EN";
  $("text").placeholder = t("输入文字，或 /start", "Type a message, or /start");
}

function persona() { return S.personas.find((p) => p.key === S.persona) || S.personas[0]; }

// --- the bot's HTML: only what Telegram allows is kept -----------------------------------
const TAGS = new Set(["B", "STRONG", "I", "EM", "U", "INS", "S", "STRIKE", "DEL", "A", "CODE",
  "PRE", "BLOCKQUOTE", "TG-SPOILER", "SPAN", "TG-EMOJI"]);

function safeHtml(source) {
  const template = document.createElement("template");
  template.innerHTML = source;
  const out = document.createDocumentFragment();
  const copy = (from, to) => {
    for (const node of from.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) { to.append(node.textContent); continue; }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      if (!TAGS.has(node.tagName)) { copy(node, to); continue; }
      const element = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === "A") {
        const href = node.getAttribute("href") || "";
        if (/^(https?|tg):/i.test(href)) element.href = href;
        element.target = "_blank";
        element.rel = "noopener";
      }
      copy(node, element);
      to.append(element);
    }
  };
  copy(template.content, out);
  return out;
}

// A t.me link to this bot with ?start=CODE is what opening it in Telegram does: /start CODE
function deepLink(href) {
  const match = /^https?:\/\/t\.me\/([A-Za-z0-9_]+)\?start=([\w-]+)/.exec(href || "");
  return match && match[1].toLowerCase() === (S.bot.username || "").toLowerCase() ? match[2] : null;
}

// --- rendering ---------------------------------------------------------------------------
function renderPersonas() {
  const list = $("personas");
  list.replaceChildren();
  for (const p of S.personas) {
    const item = document.createElement("li");
    item.dataset.persona = p.key;
    item.className = p.key === S.persona ? "active" : "";
    const label = document.createElement("div");
    label.append(p.name);
    const role = document.createElement("small");
    role.textContent = S.lang === "en" ? p.role_en : p.role_zh;
    label.append(role);
    item.append(label);
    item.onclick = () => choosePersona(p.key);
    list.append(item);
  }
}

async function renderChats() {
  const list = $("chats");
  const p = persona();
  const items = [];
  for (const c of p.chats) {
    const item = document.createElement("li");
    item.dataset.chat = c.id;
    item.className = c.id === S.chat ? "active" : "";
    const label = document.createElement("div");
    label.append(c.kind === "private" ? t("与「邻里」私聊", "Private chat with the bot") : c.title);
    const preview = document.createElement("small");
    label.append(preview);
    item.append(label);
    item.onclick = () => chooseChat(c.id);
    items.push(item);
    if (c.id === S.chat) continue;
    api(`/api/chat?persona=${p.key}&chat=${c.id}`).then((data) => {
      const last = data.messages[data.messages.length - 1];
      preview.textContent = last ? plain(last).slice(0, 24) : "";
      const seen = S.seen[`${p.key}/${c.id}`] || 0;
      const unread = data.messages.filter((m) => m.id > seen && m.from === "bot").length;
      if (unread) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = unread;
        item.append(badge);
      }
    }).catch(() => {});
  }
  list.replaceChildren(...items);
}

function plain(message) {
  if (message.from === "user") return message.text || "[" + (message.media || {}).kind + "]";
  const template = document.createElement("template");
  template.innerHTML = message.html || "";
  return template.content.textContent || "[" + ((message.media || {}).kind || "") + "]";
}

function renderMedia(media, box) {
  if (!media || !media.file_id) return;
  const url = `/api/file/${encodeURIComponent(media.file_id)}`;
  if (media.kind === "photo") {
    const image = document.createElement("img");
    image.src = url;
    image.alt = t("图片", "picture");
    const link = document.createElement("a");
    link.href = url;
    link.target = "_blank";
    link.append(image);
    box.append(link);
  } else if (media.kind === "voice" || media.kind === "audio") {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = url;
    box.append(audio);
  } else {
    const name = media.file_name || "file";
    const link = document.createElement("a");
    link.className = "file";
    link.href = /\.pdf$/i.test(name) ? url : url + "?download=1";
    link.target = "_blank";
    link.textContent = "📄 " + name;
    box.append(link);
  }
}

function renderMessage(m, me, group) {
  const box = document.createElement("div");
  box.className = "msg" + (m.from === "user" && m.sender_id === me ? " mine" : "");
  box.dataset.mid = m.id;
  box.dataset.from = m.from;
  if (group || m.from === "bot") {
    const sender = document.createElement("div");
    sender.className = "sender";
    sender.textContent = m.from === "bot" ? (S.bot.name || "邻里") : m.sender;
    if (group || m.from === "bot") box.append(sender);
  }
  renderMedia(m.media, box);
  const body = document.createElement("div");
  body.className = "body";
  if (m.from === "bot") body.append(safeHtml(m.html)); else body.textContent = m.text;
  box.append(body);
  if (m.inline) {
    const keyboard = document.createElement("div");
    keyboard.className = "inline-keyboard";
    for (const row of m.inline) {
      const line = document.createElement("div");
      line.className = "row";
      for (const b of row) {
        if (b.url) {
          const link = document.createElement("a");
          link.href = b.url;
          link.target = "_blank";
          link.textContent = b.text;
          line.append(link);
        } else {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "inline";
          button.textContent = b.text;
          button.onclick = () => pressButton(m.id, b.callback_data, button);
          line.append(button);
        }
      }
      keyboard.append(line);
    }
    box.append(keyboard);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const when = m.date ? new Date(m.date * 1000).toLocaleTimeString(S.lang === "en" ? "en" : "zh-CN", { hour: "2-digit", minute: "2-digit" }) : "";
  meta.textContent = (m.edited ? t("已编辑 ", "edited ") : "") + when;
  box.append(meta);
  return box;
}

function renderReplyKeyboard() {
  const area = $("reply-keyboard");
  area.replaceChildren();
  if (!S.keyboard) return;
  for (const row of S.keyboard) {
    const line = document.createElement("div");
    line.className = "row";
    for (const b of row) {
      const button = document.createElement("button");
      button.type = "button";
      const text = typeof b === "string" ? b : b.text;
      button.textContent = text;
      button.onclick = () => {
        if (b.request_contact) send({ contact: true });
        else if (b.request_location) sendLocation();
        else send({ text });
      };
      line.append(button);
    }
    area.append(line);
  }
}

async function renderChat() {
  const p = persona();
  const c = p.chats.find((x) => x.id === S.chat) || p.chats[0];
  S.chat = c.id;
  $("chat-title").textContent = c.kind === "private"
    ? `${p.name} ↔ ${S.bot.name || "邻里"}（@${S.bot.username || ""}）`
    : `${c.title} · ${t("以", "as ")}${p.name}${t("的身份", "")}`;
  const data = await api(`/api/chat?persona=${p.key}&chat=${c.id}`);
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  // a message that did not change keeps its node (a playing voice note plays on)
  const kept = S.rendered && S.rendered.chat === `${p.key}/${c.id}` ? S.rendered.nodes : new Map();
  const nodes = new Map();
  const children = data.messages.map((m) => {
    const key = JSON.stringify(m);
    const old = kept.get(m.id + "/" + m.from);
    const node = old && old.key === key ? old.node : renderMessage(m, data.me, c.kind === "group");
    nodes.set(m.id + "/" + m.from, { key, node });
    return node;
  });
  S.rendered = { chat: `${p.key}/${c.id}`, nodes };
  const same = children.length === list.children.length && children.every((n, i) => n === list.children[i]);
  if (!same) list.replaceChildren(...children);
  if (atBottom || S.scrollDown) list.scrollTop = list.scrollHeight;
  S.scrollDown = false;
  S.keyboard = null;
  for (const m of data.messages) {
    if (m.from !== "bot") continue;
    if (m.keyboard) S.keyboard = m.keyboard;
    if (m.remove_keyboard) S.keyboard = null;
  }
  renderReplyKeyboard();
  const last = data.messages[data.messages.length - 1];
  if (last) {
    S.seen[`${p.key}/${c.id}`] = last.id;
    localStorage.setItem("linli.seen", JSON.stringify(S.seen));
  }
}

async function refresh() {
  await renderChat();
  await renderChats();
}

// --- actions -----------------------------------------------------------------------------
function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 2500);
}

function alertBox(text) {
  $("alert-text").textContent = text;
  $("alert").hidden = false;
}

async function send(body) {
  S.scrollDown = true;
  try {
    await api("/api/send", { persona: S.persona, chat: S.chat, ...body });
  } catch (error) { toast(String(error.message || error)); }
}

async function pressButton(messageId, data, button) {
  button.disabled = true;
  try {
    const answer = await api("/api/press", { persona: S.persona, chat: S.chat, message_id: messageId, data });
    if (answer.text) (answer.show_alert ? alertBox : toast)(answer.text);
  } catch (error) {
    toast(String(error.message || error));
  } finally {
    button.disabled = false;
  }
}

async function upload(kind, file, extra = {}) {
  const form = new FormData();
  form.append("persona", S.persona);
  form.append("chat", S.chat);
  form.append("kind", kind);
  for (const [key, value] of Object.entries(extra)) form.append(key, value);
  form.append("file", file, file.name || `${kind}.bin`);
  S.scrollDown = true;
  try { await api("/api/upload", form); } catch (error) { toast(String(error.message || error)); }
}

function sendLocation() {
  const fallback = () => send({ latitude: 36.6683, longitude: 117.1355 }); // 济南高新区
  if (!navigator.geolocation) return fallback();
  navigator.geolocation.getCurrentPosition(
    (where) => send({ latitude: where.coords.latitude, longitude: where.coords.longitude }),
    fallback, { timeout: 3000 });
}

let recorder = null;
async function startRecording() {
  $("voice-dialog").hidden = true;
  if (!navigator.mediaDevices || !window.MediaRecorder) { $("voice-input").click(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const chunks = [];
    const started = Date.now();
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => chunks.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = recorder.mimeType || "audio/webm";
      const blob = new Blob(chunks, { type });
      const seconds = Math.max(1, Math.round((Date.now() - started) / 1000));
      upload("voice", new File([blob], "voice." + (type.includes("ogg") ? "ogg" : "webm"), { type }), { duration: seconds });
      $("record").classList.remove("recording");
      recorder = null;
    };
    recorder.start();
    $("record").classList.add("recording");
    toast(t("录音中……再按 🎤 发送", "Recording… press 🎤 again to send"));
  } catch (error) {
    toast(t("无法录音，请选一个音频文件", "Cannot record: pick an audio file"));
    $("voice-input").click();
  }
}

function choosePersona(key) {
  S.persona = key;
  localStorage.setItem("linli.persona", key);
  const p = persona();
  // the same group stays open; a private chat becomes this persona's own
  const group = p.chats.find((c) => c.kind === "group" && c.id === S.chat);
  S.chat = group ? group.id : p.chats[0].id;
  S.scrollDown = true;
  renderPersonas();
  refresh();
}

function chooseChat(id) {
  S.chat = id;
  S.scrollDown = true;
  refresh();
}

// --- the long poll -----------------------------------------------------------------------
async function watch() {
  for (;;) {
    try {
      const now = await api(`/api/wait?version=${S.version}&generation=${S.generation}`);
      if (now.generation !== S.generation) { await load(); continue; }
      if (now.version !== S.version) { S.version = now.version; await refresh(); }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

async function load() {
  const state = await api("/api/state");
  S.personas = state.personas;
  S.bot = state.bot;
  S.version = state.version;
  S.generation = state.generation;
  if (!S.personas.some((p) => p.key === S.persona)) S.persona = S.personas[0].key;
  const job = $("job");
  job.replaceChildren(...state.jobs.map((j) => {
    const option = document.createElement("option");
    option.value = j.name;
    option.textContent = j.name;
    option.title = j.description;
    return option;
  }));
  job.value = "points_weekly";
  if (S.chat === null) S.chat = persona().chats[0].id;
  renderPersonas();
  await refresh();
}

function wire() {
  $("composer").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    $("text").value = "";
    send({ text });
  };
  $("messages").addEventListener("click", (event) => {
    const link = event.target.closest("a");
    const code = link && deepLink(link.getAttribute("href"));
    if (code) { event.preventDefault(); send({ text: `/start ${code}` }); }
  });
  $("attach-photo").onclick = () => $("photo-input").click();
  $("attach-file").onclick = () => $("file-input").click();
  $("photo-input").onchange = (event) => { const f = event.target.files[0]; if (f) upload("photo", f); event.target.value = ""; };
  $("file-input").onchange = (event) => { const f = event.target.files[0]; if (f) upload("document", f); event.target.value = ""; };
  $("voice-input").onchange = (event) => { const f = event.target.files[0]; if (f) upload("voice", f); event.target.value = ""; };
  $("record").onclick = () => { if (recorder) recorder.stop(); else $("voice-dialog").hidden = false; };
  $("voice-record").onclick = startRecording;
  $("voice-pick").onclick = () => { $("voice-dialog").hidden = true; $("voice-input").click(); };
  $("voice-cancel").onclick = () => { $("voice-dialog").hidden = true; };
  $("send-location").onclick = sendLocation;
  $("alert-ok").onclick = () => { $("alert").hidden = true; };
  $("lang").onclick = () => {
    S.lang = S.lang === "en" ? "zh" : "en";
    localStorage.setItem("linli.lang", S.lang);
    applyLanguage();
    renderPersonas();
    refresh();
  };
  $("reset").onclick = async () => {
    if (!confirm(t("清空所有数据，重建示范村？", "Empty everything and rebuild the demo village?"))) return;
    $("reset").disabled = true;
    try { await api("/api/reset", {}); S.seen = {}; localStorage.removeItem("linli.seen"); await load(); toast(t("已重置", "Reset done")); }
    finally { $("reset").disabled = false; }
  };
  $("run-job").onclick = async () => {
    const at = $("at").value;
    try {
      const done = await api("/api/clock", { job: $("job").value, at: at || null });
      toast(`${done.job}: ${JSON.stringify(done.result).slice(0, 160)}`);
    } catch (error) { toast(String(error.message || error)); }
  };
}

applyLanguage();
wire();
load().then(watch);

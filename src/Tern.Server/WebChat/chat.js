// The web chat page: conversations kept in this browser, answers streamed from this Tern server's
// /v1/chat/completions, reasoning folded, tool runs as cards, and the speed of each answer. Text from the model or
// the user is put in the page as text nodes only (see markdown.js); the server's Content-Security-Policy lets no
// other script run.
import { ApiError, listModels, streamChat } from "./api.js";
import { messageElement, updateMessage } from "./messages.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const ui = {
  conversations: $("conversations"), newChat: $("new-chat"), model: $("model"), settingsToggle: $("settings-toggle"),
  settings: $("settings"), apiKey: $("api-key"), system: $("system"), temperature: $("temperature"), topP: $("top-p"),
  maxTokens: $("max-tokens"), keyPrompt: $("key-prompt"), keyPromptInput: $("key-prompt-input"), keyPromptSave: $("key-prompt-save"),
  status: $("status"), messages: $("messages"), input: $("input"), send: $("send"), stop: $("stop"),
};

let conversations = store.loadConversations();
let currentId = store.loadCurrent();
const settings = store.loadSettings();
let running = null; // the AbortController of the answer being streamed

// ---- conversations

const current = () => conversations.find((c) => c.id === currentId) ?? null;

function newConversation() {
  const conversation = { id: Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: "", messages: [] };
  conversations.unshift(conversation);
  select(conversation.id);
  return conversation;
}

function select(id) {
  currentId = id;
  store.saveCurrent(id);
  renderConversations();
  renderMessages();
}

function remove(id) {
  conversations = conversations.filter((c) => c.id !== id);
  store.saveConversations(conversations);
  select(currentId === id ? (conversations[0]?.id ?? null) : currentId);
}

function renderConversations() {
  const items = conversations.map((c) => {
    const item = document.createElement("li");
    item.classList.toggle("current", c.id === currentId);
    const title = button("title", c.title || "New chat", () => select(c.id));
    title.title = c.title;
    const del = button("delete", "×", () => remove(c.id));
    del.setAttribute("aria-label", "Delete conversation");
    del.title = "Delete conversation";
    item.append(title, del);
    return item;
  });
  ui.conversations.replaceChildren(...items);
}

function button(className, text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

// ---- messages

function renderMessages() {
  ui.messages.replaceChildren(...(current()?.messages ?? []).map(messageElement));
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

// ---- sending

function requestBody(conversation) {
  const messages = [];
  if (settings.system)
    messages.push({ role: "system", content: settings.system });
  for (const m of conversation.messages) {
    if (m.role === "user")
      messages.push({ role: "user", content: m.content });
    else if (!m.error || textOf(m))
      messages.push({ role: "assistant", content: textOf(m) });
  }
  const body = { messages, stream: true, stream_options: { include_usage: true } };
  if (ui.model.value)
    body.model = ui.model.value;
  for (const [field, value] of [["temperature", settings.temperature], ["top_p", settings.top_p], ["max_tokens", settings.max_tokens]]) {
    if (value !== undefined && value !== null && value !== "")
      body[field] = Number(value);
  }
  return body;
}

const textOf = (message) => message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");

async function send() {
  const text = ui.input.value.trim();
  if (!text || running)
    return;
  const conversation = current() ?? newConversation();
  conversation.messages.push({ role: "user", content: text });
  conversation.title ||= text.slice(0, 60);
  const request = requestBody(conversation);
  const reply = { role: "assistant", model: request.model ?? "", parts: [] };
  conversation.messages.push(reply);
  ui.input.value = "";
  store.saveConversations(conversations);
  renderConversations();
  renderMessages();
  const article = ui.messages.lastElementChild;
  running = new AbortController();
  setRunning(true);
  let frame = 0;
  try {
    for await (const chunk of streamChat(store.loadKey(), request, running.signal)) {
      if (chunk.comment !== undefined) { // the server is loading the model: say how far it has got
        ui.status.textContent = chunk.comment;
        continue;
      }
      if (ui.status.textContent.startsWith("loading "))
        ui.status.textContent = "";
      apply(reply, chunk);
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        updateMessage(article, reply);
        ui.messages.scrollTop = ui.messages.scrollHeight;
      });
    }
  } catch (e) {
    if (running.signal.aborted)
      reply.stopped = true;
    else
      reply.error = e instanceof ApiError ? e.message : `the request failed: ${e.message}`;
    if (e instanceof ApiError && e.status === 401)
      askForKey(e.message);
  } finally {
    if (ui.status.textContent.startsWith("loading "))
      ui.status.textContent = ""; // the load ended, well or not
    cancelAnimationFrame(frame);
    reply.done = true;
    running = null;
    setRunning(false);
    store.saveConversations(conversations);
    updateMessage(article, reply);
  }
}

/** Folds one streamed chunk into the reply: text, reasoning, tool runs and calls, finish, usage and timings. */
function apply(reply, chunk) {
  if (chunk.usage)
    reply.usage = chunk.usage;
  if (chunk.timings)
    reply.timings = chunk.timings;
  for (const choice of chunk.choices ?? []) {
    const delta = choice.delta ?? {};
    if (delta.reasoning_content)
      appendText(reply, "reasoning", delta.reasoning_content);
    if (delta.content)
      appendText(reply, "text", delta.content);
    for (const run of delta.tern_tool_calls ?? []) // a built-in tool Tern ran (--tools), with its result
      reply.parts.push({ type: "tool", name: run.name, arguments: run.arguments, ok: run.ok, output: run.output });
    for (const piece of delta.tool_calls ?? []) { // a call for the client, streamed in pieces by index
      let call = reply.parts.find((p) => p.type === "call" && p.index === piece.index);
      if (!call)
        reply.parts.push((call = { type: "call", index: piece.index, name: "", arguments: "" }));
      call.name = piece.function?.name || call.name;
      call.arguments += piece.function?.arguments ?? "";
    }
    if (choice.finish_reason)
      reply.finish = choice.finish_reason;
  }
}

function appendText(reply, type, text) {
  const last = reply.parts.at(-1);
  if (last?.type === type)
    last.text += text;
  else
    reply.parts.push({ type, text });
}

function setRunning(on) {
  ui.send.hidden = on;
  ui.stop.hidden = !on;
}

// ---- models, settings and the key

async function loadModels() {
  try {
    const models = await listModels(store.loadKey());
    const options = models.map((id) => {
      const option = document.createElement("option");
      option.value = option.textContent = id;
      return option;
    });
    ui.model.replaceChildren(...options);
    if (models.includes(settings.model))
      ui.model.value = settings.model;
    ui.status.textContent = "";
  } catch (e) {
    if (e instanceof ApiError && e.status === 401)
      askForKey(e.message);
    else
      ui.status.textContent = `Could not list the models: ${e.message}`;
  }
}

function askForKey(message) {
  ui.keyPrompt.hidden = false;
  ui.status.textContent = `The server refused the request: ${message}. Enter the API key below.`;
  ui.keyPromptInput.focus();
}

function useKey(key) {
  store.saveKey(key.trim());
  ui.apiKey.value = key.trim();
  ui.keyPrompt.hidden = true;
  ui.keyPromptInput.value = "";
  ui.status.textContent = "";
  loadModels();
}

function bindSetting(input, name) {
  input.value = settings[name] ?? "";
  input.addEventListener("input", () => {
    settings[name] = input.value;
    store.saveSettings(settings);
  });
}

bindSetting(ui.system, "system");
bindSetting(ui.temperature, "temperature");
bindSetting(ui.topP, "top_p");
bindSetting(ui.maxTokens, "max_tokens");
ui.apiKey.value = store.loadKey();
ui.apiKey.addEventListener("change", () => useKey(ui.apiKey.value));
ui.keyPromptSave.addEventListener("click", () => useKey(ui.keyPromptInput.value));
ui.keyPromptInput.addEventListener("keydown", (e) => e.key === "Enter" && useKey(ui.keyPromptInput.value));
ui.model.addEventListener("change", () => {
  settings.model = ui.model.value;
  store.saveSettings(settings);
});
ui.settingsToggle.addEventListener("click", () => {
  ui.settings.hidden = !ui.settings.hidden;
  ui.settingsToggle.setAttribute("aria-expanded", String(!ui.settings.hidden));
});
ui.newChat.addEventListener("click", () => (current()?.messages.length === 0 ? ui.input.focus() : newConversation()));
ui.send.addEventListener("click", send);
ui.stop.addEventListener("click", () => running?.abort());
ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});

if (!current())
  currentId = conversations[0]?.id ?? null;
renderConversations();
renderMessages();
loadModels();
document.body.dataset.ready = "true";

// One chat message as page elements: the user's text, or the assistant's parts in the order they came (reasoning
// folded, text as markdown, tool runs and calls as collapsible cards), its speed, and how it ended. Everything from
// the model goes in as text (textContent, text nodes, markdown.js), never as HTML.
import { renderMarkdown } from "./markdown.js";

export function messageElement(message) {
  const article = document.createElement("article");
  article.className = "message " + message.role;
  updateMessage(article, message);
  return article;
}

/** Rebuilds one message's element from its state; folded/unfolded cards stay as the user left them. */
export function updateMessage(article, message) {
  const open = new Map([...article.querySelectorAll("details[data-part]")].map((d) => [d.dataset.part, d.open]));
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = message.role === "user" ? "You" : (message.model || "Assistant");
  const children = [role];
  if (message.role === "user") {
    const content = document.createElement("div");
    content.className = "content";
    content.textContent = message.content;
    children.push(content);
  } else {
    message.parts.forEach((part, i) => children.push(partElement(part, i, open.get(String(i)))));
    if (message.parts.length === 0 && !message.error && !message.done)
      children.push(textDiv("content pending", "…"));
    const stats = statsText(message);
    if (stats)
      children.push(textDiv("stats", stats));
    if (message.stopped)
      children.push(textDiv("error", "Stopped."));
    if (message.error)
      children.push(textDiv("error", message.error));
  }
  article.replaceChildren(...children);
}

function textDiv(className, text) {
  const div = document.createElement("div");
  div.className = className;
  div.textContent = text;
  return div;
}

function partElement(part, index, open) {
  if (part.type === "text") {
    const content = document.createElement("div");
    content.className = "content";
    content.append(renderMarkdown(part.text));
    return content;
  }
  const details = document.createElement("details");
  details.dataset.part = String(index);
  details.open = open ?? false;
  const summary = document.createElement("summary");
  details.append(summary);
  if (part.type === "reasoning") {
    details.className = "reasoning";
    summary.textContent = "Reasoning";
    details.append(textDiv("reasoning-text", part.text));
    return details;
  }
  details.className = "tool-card";
  details.dataset.tool = part.name ?? "";
  const body = document.createElement("div");
  body.className = "tool-body";
  body.append(textDiv("tool-label", "Arguments"), pre("tool-arguments", pretty(part.arguments)));
  if (part.type === "tool") {
    details.classList.toggle("failed", part.ok === false);
    summary.textContent = `Tool ${part.name} ${part.ok === false ? "failed" : "ran"}`;
    body.append(textDiv("tool-label", "Result"), pre("tool-output", part.output ?? ""));
  } else {
    summary.textContent = `Tool call ${part.name ?? ""} (for the client to run)`;
  }
  details.append(body);
  return details;
}

function pre(className, text) {
  const element = document.createElement("pre");
  element.className = className;
  element.textContent = text;
  return element;
}

function pretty(json) {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json ?? "";
  }
}

/** "prompt 31 tokens (8 cached) at 950.2 tokens/s · 40 generated at 120.4 tokens/s", from timings and usage. */
function statsText(message) {
  const t = message.timings;
  const u = message.usage;
  if (!t && !u)
    return "";
  const cached = u?.prompt_tokens_details?.cached_tokens ?? t?.cache_n ?? 0;
  const promptTokens = u?.prompt_tokens ?? (t.prompt_n + cached);
  const generated = u?.completion_tokens ?? t.predicted_n;
  let text = `prompt ${promptTokens} tokens (${cached} cached)`;
  if (t)
    text += ` at ${t.prompt_per_second.toFixed(1)} tokens/s`;
  text += ` · ${generated} generated`;
  if (t)
    text += ` at ${t.predicted_per_second.toFixed(1)} tokens/s`;
  return text;
}

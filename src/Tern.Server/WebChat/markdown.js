// Markdown to DOM nodes: paragraphs, headings, fenced code blocks, lists, block quotes, rules, and inline code,
// bold, italic and links (http and https only). Every piece of text goes in through textContent or a text node:
// nothing the model writes is ever parsed as HTML, so it cannot add elements, attributes or script.

const FENCE = /^\s*(```|~~~)\s*([\w+#.-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const ITEM = /^\s*([-*+]|\d{1,9}[.)])\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;

/** The blocks of `text` as a DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (line.trim() === "") {
      i++;
    } else if ((m = FENCE.exec(line))) {
      const code = [];
      for (i++; i < lines.length && !(lines[i].trim() === m[1]); i++)
        code.push(lines[i]);
      i++; // the closing fence (or the end of an unfinished block while streaming)
      fragment.append(codeBlock(code.join("\n"), m[2]));
    } else if ((m = HEADING.exec(line))) {
      const heading = document.createElement("h" + Math.min(m[1].length + 2, 6));
      appendInline(heading, m[2]);
      fragment.append(heading);
      i++;
    } else if (RULE.test(line)) {
      fragment.append(document.createElement("hr"));
      i++;
    } else if (ITEM.test(line)) {
      const ordered = /^\d/.test(ITEM.exec(line)[1]);
      const list = document.createElement(ordered ? "ol" : "ul");
      for (; i < lines.length && (m = ITEM.exec(lines[i])) && /^\d/.test(m[1]) === ordered; i++) {
        const item = document.createElement("li");
        appendInline(item, m[2]);
        list.append(item);
      }
      fragment.append(list);
    } else if (QUOTE.test(line)) {
      const quoted = [];
      for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++)
        quoted.push(m[1]);
      const quote = document.createElement("blockquote");
      quote.append(renderMarkdown(quoted.join("\n")));
      fragment.append(quote);
    } else {
      const paragraph = document.createElement("p");
      for (let first = true; i < lines.length && startsNothing(lines[i]); i++, first = false) {
        if (!first)
          paragraph.append(document.createElement("br"));
        appendInline(paragraph, lines[i]);
      }
      fragment.append(paragraph);
    }
  }
  return fragment;
}

function startsNothing(line) {
  return line.trim() !== "" && !FENCE.test(line) && !HEADING.test(line) && !RULE.test(line) && !ITEM.test(line) && !QUOTE.test(line);
}

function codeBlock(text, language) {
  const pre = document.createElement("pre");
  const code = document.createElement("code");
  if (language)
    code.dataset.language = language;
  code.textContent = text;
  pre.append(code);
  return pre;
}

// One alternative per inline form; the earliest match wins, then the rest of the line is scanned again.
const INLINE = /`([^`\n]+)`|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|\b_([^_\s](?:[^_]*[^_\s])?)_\b|\[([^\]\n]+)\]\(\s*([^)\s]+)\s*\)/;

/** Appends `text` with its inline markup to `parent`. */
export function appendInline(parent, text) {
  while (text.length > 0) {
    const m = INLINE.exec(text);
    if (!m) {
      parent.append(text);
      return;
    }
    if (m.index > 0)
      parent.append(text.slice(0, m.index));
    parent.append(inlineNode(m));
    text = text.slice(m.index + m[0].length);
  }
}

function inlineNode(m) {
  if (m[1] !== undefined) {
    const code = document.createElement("code");
    code.textContent = m[1];
    return code;
  }
  if (m[2] !== undefined || m[3] !== undefined)
    return wrap("strong", m[2] ?? m[3]);
  if (m[4] !== undefined || m[5] !== undefined)
    return wrap("em", m[4] ?? m[5]);
  const href = safeUrl(m[7]);
  if (href === null) // javascript:, data:, relative... : the link stays text, exactly as written
    return document.createTextNode(m[0]);
  const link = wrap("a", m[6]);
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

function wrap(tag, text) {
  const element = document.createElement(tag);
  appendInline(element, text);
  return element;
}

/** The URL when it is absolute http or https; null otherwise. */
export function safeUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

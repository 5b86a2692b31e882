// Drives Tern's web chat (GET /) in Debian's chromium through playwright-core, one scenario per run, and prints one
// JSON line with what the page showed. Screenshots of each state go to SHOT_DIR/SCENARIO-STATE.png.
// Usage: node webchat.mjs SCENARIO SERVER_URL SHOT_DIR [ARGUMENT]
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const [scenario, server, shotDir, argument] = process.argv.slice(2);
mkdirSync(shotDir, { recursive: true });
for (const old of readdirSync(shotDir).filter((f) => f.startsWith(scenario + "-")))
  rmSync(join(shotDir, old)); // this scenario's shots of an earlier run
const { context, close } = await launchChromium({ viewport: { width: 1100, height: 760 } });
const page = context.pages()[0] ?? await context.newPage();
const result = { scenario, shots: [], pageErrors: [], consoleErrors: [], chatRequests: [] };
page.on("pageerror", (e) => result.pageErrors.push(String(e)));
page.on("console", (m) => m.type() === "error" && result.consoleErrors.push(m.text()));
page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/v1/chat/completions")
  && result.chatRequests.push({ body: JSON.parse(r.postData()), authorization: r.headers()["authorization"] ?? null }));
// Any Content-Security-Policy violation is recorded: hostile output must be inert without the CSP having to block it.
await page.addInitScript(() => {
  window.__cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
});

async function open() {
  const response = await page.goto(server + "/", { timeout: 120_000 });
  result.pageHeaders ??= response.headers();
  await page.waitForSelector("body[data-ready=true]", { timeout: 60_000 });
}

/** Opens the settings panel and types the sampling settings in. */
async function settings(values) {
  await page.click("#settings-toggle");
  for (const [id, value] of Object.entries(values))
    await page.fill("#" + id, value);
  await shot("settings");
  await page.click("#settings-toggle");
}

async function shot(state) {
  const path = join(shotDir, `${scenario}-${state}.png`);
  await page.screenshot({ path, fullPage: true });
  result.shots.push(path);
}

const modelOptions = () => page.$$eval("#model option", (o) => o.map((x) => x.value));

/** Types a message, sends it, waits for the answer to finish, and returns what its element shows. */
async function send(text) {
  await page.fill("#input", text);
  await page.click("#send");
  await page.waitForFunction(() => {
    const last = [...document.querySelectorAll(".message.assistant")].at(-1);
    return last && document.getElementById("stop").hidden && (last.querySelector(".stats") || last.querySelector(".error"));
  }, null, { timeout: 120_000 });
  return lastAnswer();
}

function lastAnswer() {
  return page.$$eval(".message.assistant", (all) => {
    const a = all.at(-1);
    const text = (selector) => [...a.querySelectorAll(selector)].map((e) => e.textContent).join("");
    return {
      role: text(".role"), content: text(".content"), reasoning: text(".reasoning-text"), stats: text(".stats"), error: text(".error"),
      html: a.innerHTML,
    };
  });
}

const messagesShown = () => page.$$eval("#messages .message", (all) => all.map((m) => ({ role: m.className, text: m.querySelector(".content")?.textContent ?? "" })));

try {
  if (scenario === "stream") {
    await open();
    await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0);
    result.models = await modelOptions();
    await settings({ system: "You tell short stories.", temperature: "0.5", "top-p": "0.9", "max-tokens": "40" });
    const response = page.waitForResponse((r) => r.url().endsWith("/v1/chat/completions"));
    result.answer = await send("Once upon a time");
    result.responseType = (await response).headers()["content-type"];
    await shot("answered");
  } else if (scenario === "picker") {
    // A router-mode Tern (--models-dir): each model picked loads on its first request; a corrupt one fails clearly.
    const statuses = [];
    await page.exposeFunction("reportStatus", (text) => statuses.push(text));
    await open();
    await page.evaluate(() => new MutationObserver(() => window.reportStatus(document.getElementById("status").textContent))
      .observe(document.getElementById("status"), { childList: true, characterData: true, subtree: true }));
    await settings({ "max-tokens": "16" });
    await page.waitForFunction(() => document.querySelectorAll("#model option").length >= 2);
    result.models = await modelOptions();
    await page.selectOption("#model", "stories");
    result.first = await send("Once upon a time");
    await shot("first-model");
    await page.selectOption("#model", "llama");
    await shot("picked");
    result.second = await send("Hello");
    await shot("second-model");
    await page.selectOption("#model", "broken");
    result.broken = await send("Hello");
    await shot("failed-model");
    result.statuses = statuses;
    result.finalStatus = await page.textContent("#status");
  } else if (scenario === "tool") {
    await open();
    result.answer = await send(argument);
    await page.click(".tool-card summary");
    await page.click(".reasoning summary");
    result.cards = await page.$$eval(".tool-card", (cards) => cards.map((c) => ({
      tool: c.dataset.tool, summary: c.querySelector("summary").textContent, open: c.open,
      arguments: c.querySelector(".tool-arguments")?.textContent, output: c.querySelector(".tool-output")?.textContent,
    })));
    await shot("tool-card");
  } else if (scenario === "reload") {
    await open();
    await settings({ "max-tokens": "40" });
    result.answer = await send("Once upon a time");
    await shot("before-reload");
    await page.reload();
    await page.waitForSelector("body[data-ready=true]");
    result.conversations = await page.$$eval("#conversations li", (items) => items.map((i) => ({ title: i.querySelector(".title").textContent, current: i.classList.contains("current") })));
    result.messages = await messagesShown();
    result.reloadedStats = await page.$$eval(".message.assistant .stats", (s) => s.map((x) => x.textContent));
    await shot("after-reload");
  } else if (scenario === "stop") {
    // No max_tokens: stories260K writes until its context is full, and Stop ends that early.
    await open();
    await page.fill("#input", "Once upon a time");
    await page.click("#send");
    await page.waitForFunction(() => [...document.querySelectorAll(".message.assistant .content")].at(-1)?.textContent.length > 20, null, { timeout: 60_000 });
    await page.click("#stop");
    await page.waitForFunction(() => document.getElementById("stop").hidden && !document.getElementById("send").hidden);
    result.answer = await lastAnswer();
    await shot("stopped");
  } else if (scenario === "hostile") {
    await open();
    result.answer = await send("Say something");
    await page.waitForTimeout(200); // an onerror handler would have run by now (the image URL fails at once)
    result.pwned = await page.evaluate(() => window.pwned ?? null);
    result.cspViolations = await page.evaluate(() => window.__cspViolations);
    result.elements = await page.$$eval("#messages *", (all) => all.map((e) => e.tagName.toLowerCase()));
    result.links = await page.$$eval("#messages a", (all) => all.map((a) => a.getAttribute("href")));
    await shot("hostile");
  } else if (scenario === "key") {
    await open();
    await page.waitForSelector("#key-prompt:not([hidden])", { timeout: 60_000 });
    result.prompt = await page.textContent("#key-prompt");
    result.status = await page.textContent("#status");
    await shot("asks-for-key");
    await page.fill("#key-prompt-input", argument);
    await page.click("#key-prompt-save");
    await page.waitForFunction(() => document.querySelectorAll("#model option").length > 0);
    result.promptHiddenAfter = await page.$eval("#key-prompt", (e) => e.hidden);
    await settings({ "max-tokens": "40" });
    result.answer = await send("Once upon a time");
    await shot("answered-with-key");
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
} catch (e) {
  result.failure = String(e?.stack ?? e);
  await shot("failure").catch(() => {});
} finally {
  await close();
}
console.log(JSON.stringify(result));

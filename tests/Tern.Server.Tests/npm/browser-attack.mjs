// Opens each PAGE_URL in Debian's chromium (through playwright-core), waits for the page's window.attack, and prints
// one JSON line: for each page, what the page saw and the status of every request it sent to SERVER_URL as the
// browser received it (a page cannot read that from a no-cors request). Usage: node browser-attack.mjs SERVER_URL PAGE_URL...
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [server, ...pages] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "tern-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const results = [];
  for (const url of pages) {
    const page = await context.newPage();
    const requests = [];
    page.on("response", (r) => r.url().startsWith(server) && requests.push({ method: r.request().method(), url: r.url(), status: r.status() }));
    page.on("requestfailed", (r) => r.url().startsWith(server) && requests.push({ method: r.method(), url: r.url(), failure: r.failure()?.errorText }));
    await page.goto(url, { timeout: 120_000 });
    const attack = await (await page.waitForFunction(() => window.attack, null, { timeout: 120_000 })).jsonValue();
    results.push({ page: url, attack, requests });
    await page.close();
  }
  console.log(JSON.stringify(results));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

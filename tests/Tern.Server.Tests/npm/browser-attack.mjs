// Opens each PAGE_URL in Debian's chromium (through playwright-core), waits for the page's window.attack, and prints
// one JSON line: for each page, what the page saw and the status of every request it sent to SERVER_URL as the
// browser received it (a page cannot read that from a no-cors request). Usage: node browser-attack.mjs SERVER_URL PAGE_URL...
import { launchChromium } from "./chromium.mjs";

const [server, ...pages] = process.argv.slice(2);
const { context, close } = await launchChromium();
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
  await close();
}

// The dashboard in a real browser: headless Debian Chromium driven by playwright-core.
// Usage: node e2e.mjs URL DOMAIN EXPECT_ID SCREENSHOT_DIR [HOSTILE_KEY]
// Opens every page with the node's real data, prints "READY" when the overview is rendered
// and the live feed connected, then waits (at most 2 s) for a result with id EXPECT_ID
// (published on another node once the test reads READY) to appear on the open page. Prints
// one JSON line of figures; exits non-zero on any failed check or browser console error.
// HOSTILE_KEY names a stranger's result whose id and fields are markup that would run script
// (setting window.__pwned) if the page ever inserted peer text as HTML: its page must show the
// markup as text, and no page may have run it.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [url, domain, expectId, shots, hostileKey] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync"],
});
const errors = [];
const figures = {};
function fail(why) {
  console.error("FAIL: " + why);
  process.exitCode = 1;
}
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));

  // Overview: a leaderboard per domain with verification badges.
  let t = Date.now();
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(`.domain[data-domain="${domain}"] table tbody tr`, { timeout: 10000 });
  figures.overview_ms = Date.now() - t;
  const badges = await page.locator(".badge.verified").count();
  if (badges < 1) fail("no verified badge on the overview");
  await page.waitForSelector("#live.on", { timeout: 5000 });
  await page.screenshot({ path: `${shots}/overview.png` });

  // Domain page: leaderboard, plots (uPlot canvases), paged results, skills.
  t = Date.now();
  await page.goto(`${url}#/domain/${domain}`);
  await page.waitForSelector("#view[data-page=domain] .uplot canvas", { timeout: 10000 });
  figures.domain_ms = Date.now() - t;
  const plots = await page.locator(".plot .uplot").count();
  if (plots < 3) fail(`expected 3 plots, saw ${plots}`);
  await page.screenshot({ path: `${shots}/domain.png`, fullPage: true });

  // One experiment with its lineage and replay status: the newest one that has a parent.
  const href = await page.locator("#view table.results tbody tr td:first-child a").first().getAttribute("href");
  await page.goto(url + href);
  await page.waitForSelector("#view[data-page=result] pre", { timeout: 10000 });
  const lineageRows = await page.locator("#view table.lineage tbody tr").count();
  figures.lineage_rows = lineageRows;
  await page.screenshot({ path: `${shots}/result.png`, fullPage: true });

  // Peers and reputation; one skill.
  await page.goto(`${url}#/peers`);
  await page.waitForSelector("#view[data-page=peers] table tbody tr", { timeout: 10000 });
  await page.screenshot({ path: `${shots}/peers.png` });
  await page.goto(`${url}#/domain/${domain}`);
  await page.waitForSelector("#view[data-page=domain] ul li a", { timeout: 10000 });
  await page.locator("#view[data-page=domain] ul li a").first().click();
  await page.waitForSelector("#view[data-page=skill] table tbody tr", { timeout: 10000 });

  // A stranger's markup is text: shown as written, never run.
  if (hostileKey) {
    await page.goto(`${url}#/result/${encodeURIComponent(domain)}/${encodeURIComponent(hostileKey)}`);
    await page.waitForSelector("#view[data-page=result] pre", { timeout: 10000 });
    const text = await page.locator("#view").innerText();
    const hostileId = hostileKey.slice(hostileKey.indexOf("/") + 1);
    if (!text.includes(hostileId)) fail("the hostile result's id is not shown as text");
    figures.hostile_markup_elements = await page.locator("#view img, #view script, #feed img").count();
    if (figures.hostile_markup_elements) fail("a peer's markup became elements on the page");
  }

  // Live: a result published on another node appears within 2 s.
  await page.goto(url);
  await page.waitForSelector(`.domain[data-domain="${domain}"] table tbody tr`, { timeout: 10000 });
  await page.waitForSelector("#live.on", { timeout: 5000 });
  console.log("READY");
  t = Date.now();
  try {
    await page.waitForSelector(`#feed li[data-id="${expectId}"]`, { timeout: 2000 });
    figures.live_ms = Date.now() - t;
  } catch (e) {
    fail(`the result ${expectId} did not appear within 2 s`);
  }
  await page.screenshot({ path: `${shots}/live.png` });
  figures.script_ran = await page.evaluate(() => window.__pwned === 1);
  if (figures.script_ran) fail("markup from a peer ran as script");
  figures.console_errors = errors;
  if (errors.length) fail("browser console errors: " + errors.join(" | "));
} catch (e) {
  fail(String(e));
} finally {
  await browser.close();
}
console.log(JSON.stringify(figures));

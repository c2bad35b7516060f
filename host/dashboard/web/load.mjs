// Page-load figures for the dashboard benchmark: node load.mjs URL DOMAIN
// Prints {"overview_ms":…, "domain_ms":…, "results_page_ms":…} (navigation to rendered).
import { chromium } from "playwright-core";
const [url, domain] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"] });
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
const figures = {};
let t = Date.now();
await page.goto(url);
await page.waitForSelector(`.domain[data-domain="${domain}"] table tbody tr`, { timeout: 30000 });
figures.overview_ms = Date.now() - t;
t = Date.now();
await page.goto(`${url}#/domain/${domain}`);
await page.waitForSelector("#view[data-page=domain] .uplot canvas", { timeout: 30000 });
await page.waitForSelector("#view table.results tbody tr", { timeout: 30000 });
figures.domain_ms = Date.now() - t;
t = Date.now();
await page.locator("button", { hasText: "older" }).click();
await page.waitForFunction(() => /page 2 of/.test(document.querySelector(".pager")?.textContent || ""), null, { timeout: 30000 });
figures.results_page_ms = Date.now() - t;
figures.errors = errors;
await browser.close();
console.log(JSON.stringify(figures));

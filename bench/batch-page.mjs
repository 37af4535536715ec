// `make bench` (section bigpage): loads a batch's page in Debian's Chromium and reports how long
// it takes until the matrix shows and until the page is hydrated (clickable), and how many bytes
// crossed the wire. Usage: node bench/batch-page.mjs BASE_URL BATCH_ID RUNS USER PASSWORD
// Each load is a fresh browser context that signs in through the login page first (not timed).
// The first load warms the server and the browser's compile cache and is not counted.
import { createRequire } from "node:module";
import { chromiumLaunchOptions } from "../end2end/chromium.mjs";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const [base, id, runsArg = "3", user, password] = process.argv.slice(2);
const runs = Number(runsArg);
const browser = await chromium.launch(chromiumLaunchOptions);
const out = [];
try {
  for (let i = 0; i <= runs; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${base}/login`);
    await page.waitForSelector("html[data-hydrated]", { timeout: 120_000 });
    await page.getByLabel("Username").fill(user);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${base}/`, { timeout: 120_000 });
    const t0 = Date.now();
    await page.goto(`${base}/batches/${id}`, { waitUntil: "commit", timeout: 120_000 });
    await page.waitForSelector('[data-testid="matrix"] tbody tr', { timeout: 120_000 });
    const matrix_ms = Date.now() - t0;
    await page.waitForSelector("html[data-hydrated]", { timeout: 120_000 });
    const hydrated_ms = Date.now() - t0;
    const rows = await page.locator('[data-testid="matrix"] tbody tr').count();
    const columns = await page.locator('[data-testid="matrix"] thead th').count();
    const bytes = await page.evaluate(() =>
      performance
        .getEntries()
        .filter((e) => "transferSize" in e)
        .reduce((sum, e) => sum + e.transferSize, 0),
    );
    const html_bytes = await page.evaluate(
      () => performance.getEntriesByType("navigation")[0].encodedBodySize,
    );
    if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
    if (i > 0) out.push({ matrix_ms, hydrated_ms, rows, columns, bytes, html_bytes });
    await context.close();
  }
} finally {
  await browser.close();
}
console.log("RESULT " + JSON.stringify(out));

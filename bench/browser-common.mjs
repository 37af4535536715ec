// What the bench's browser scripts share (bench/batch-page.mjs, bench/compare-page.mjs): Debian's
// Chromium through the end-to-end packages, a fresh browser context per load that signs in
// through the login page first (not timed), one warm-up load that is not counted (it warms the
// server and the browser's compile cache), and the bytes each load transferred.
// Every script is run as: node bench/SCRIPT.mjs BASE_URL RUNS USER PASSWORD [ITS ARGUMENTS...]
// and prints `RESULT [one object of figures per counted load]`.
import { createRequire } from "node:module";
import { chromiumLaunchOptions } from "../end2end/chromium.mjs";

const require = createRequire(new URL("../end2end/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const TIMEOUT = 120_000;

async function signIn(page, base, user, password) {
  await page.goto(`${base}/login`);
  await page.waitForSelector("html[data-hydrated]", { timeout: TIMEOUT });
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/`, { timeout: TIMEOUT });
}

// Bytes over the wire for everything the page loaded, and for its HTML alone.
async function transferred(page) {
  return page.evaluate(() => ({
    bytes: performance
      .getEntries()
      .filter((e) => "transferSize" in e)
      .reduce((sum, e) => sum + e.transferSize, 0),
    html_bytes: performance.getEntriesByType("navigation")[0].encodedBodySize,
  }));
}

// Calls `load(page, { base, args })` RUNS + 1 times, each on a fresh signed-in page; `load`
// navigates, waits and returns its figures (times from just before its `goto`). A page error
// fails the run.
export async function measureLoads(load) {
  const [base, runsArg = "3", user, password, ...args] = process.argv.slice(2);
  const runs = Number(runsArg);
  const browser = await chromium.launch(chromiumLaunchOptions);
  const out = [];
  try {
    for (let i = 0; i <= runs; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await signIn(page, base, user, password);
      const figures = await load(page, { base, args });
      Object.assign(figures, await transferred(page));
      if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
      if (i > 0) out.push(figures);
      await context.close();
    }
  } finally {
    await browser.close();
  }
  console.log("RESULT " + JSON.stringify(out));
}

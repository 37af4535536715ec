// `make bench` (section compare): loads the compare page of two runs in Debian's Chromium and
// reports how long it takes until the verdict shows, until the case table's first row shows and
// until the page is hydrated, and how many bytes crossed the wire.
// Usage: node bench/compare-page.mjs BASE_URL RUNS USER PASSWORD QUERY (e.g. base=1:1&cand=1:2)
// (the rest is bench/browser-common.mjs: sign-in, warm-up, fresh contexts).
import { measureLoads, TIMEOUT } from "./browser-common.mjs";

await measureLoads(async (page, { base, args: [query] }) => {
  const t0 = Date.now();
  await page.goto(`${base}/compare?${query}`, { waitUntil: "commit", timeout: TIMEOUT });
  await page.waitForSelector('[data-testid="verdict"]', { timeout: TIMEOUT });
  const verdict_ms = Date.now() - t0;
  await page.waitForSelector('[data-testid="compare-table"] tbody tr', { timeout: TIMEOUT });
  const row_ms = Date.now() - t0;
  await page.waitForSelector("html[data-hydrated]", { timeout: TIMEOUT });
  const hydrated_ms = Date.now() - t0;
  const verdict = await page.getAttribute('[data-testid="verdict"]', "data-verdict");
  const rows = await page.locator('[data-testid="compare-table"] tbody tr').count();
  return { verdict_ms, row_ms, hydrated_ms, verdict, rows };
});

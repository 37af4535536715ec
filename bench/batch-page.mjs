// `make bench` (section bigpage): loads a batch's page in Debian's Chromium and reports how long
// it takes until the matrix shows and until the page is hydrated (clickable), and how many bytes
// crossed the wire. Usage: node bench/batch-page.mjs BASE_URL RUNS USER PASSWORD BATCH_ID
// (the rest is bench/browser-common.mjs: sign-in, warm-up, fresh contexts).
import { measureLoads, TIMEOUT } from "./browser-common.mjs";

await measureLoads(async (page, { base, args: [id] }) => {
  const t0 = Date.now();
  await page.goto(`${base}/batches/${id}`, { waitUntil: "commit", timeout: TIMEOUT });
  await page.waitForSelector('[data-testid="matrix"] tbody tr', { timeout: TIMEOUT });
  const matrix_ms = Date.now() - t0;
  await page.waitForSelector("html[data-hydrated]", { timeout: TIMEOUT });
  const hydrated_ms = Date.now() - t0;
  const rows = await page.locator('[data-testid="matrix"] tbody tr').count();
  const columns = await page.locator('[data-testid="matrix"] thead th').count();
  return { matrix_ms, hydrated_ms, rows, columns };
});

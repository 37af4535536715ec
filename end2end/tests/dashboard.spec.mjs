// The trends dashboard and the batch history in the browser (issue #11, items 1 and 2): the
// demo's trends after three batches, a point opening its batch, the table view, both languages,
// a 360 px screen; the history's paging, search and delete through the confirmation dialog.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api } from "./helpers.mjs";

// Starts a batch through the API and waits until it has ended.
async function runBatch(request, body) {
  const started = await api(request, "start_batch", body);
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const id = started.body;
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 60_000 })
    .toMatch(/completed|error|cancelled/);
  return id;
}

async function demoVersions(request) {
  const versions = (await api(request, "list_versions")).body;
  const pick = (name) => versions.find((v) => v.name === name).id;
  return [pick("Two-stage search v1.1"), pick("Two-stage search v1.2 + reranker")];
}

test("the dashboard shows the demo's trends after three batches, and a point opens its batch", async ({ page, request }) => {
  const errors = watchConsole(page);
  const versions = await demoVersions(request);
  const cases = (await api(request, "list_cases")).body.slice(0, 6).map((c) => c.id);
  const ids = [];
  for (let i = 1; i <= 3; i++) {
    ids.push(await runBatch(request, { name: `E2E trend ${i}`, version_ids: versions, case_ids: cases, concurrency: 6 }));
  }

  await page.setViewportSize({ width: 1280, height: 900 });
  await open(page, "/");
  await page.getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByRole("heading", { name: "Trends" })).toBeVisible();
  // The newest batch's versions are picked by default.
  const picked = page.getByTestId("dash-version");
  await expect(picked.filter({ checked: true })).toHaveCount(2);

  // Only today's batches, then only the three trend batches' versions: every chart has them.
  const today = new Date().toISOString().slice(0, 10);
  await page.getByTestId("dash-from").fill(today);
  await page.getByTestId("dash-from").dispatchEvent("change");
  await expect(page).toHaveURL(new RegExp(`from=${today}`));
  const charts = page.getByTestId("chart");
  await expect(charts.first()).toBeVisible();
  expect(await charts.count()).toBeGreaterThanOrEqual(6);
  const passRate = charts.filter({ hasText: "Pass rate (%)" });
  // Two versions × at least three batches, each point a link to its batch.
  const points = passRate.locator("a.point");
  expect(await points.count()).toBeGreaterThanOrEqual(6);
  for (const id of ids) {
    await expect(passRate.locator(`a.point[href="/batches/${id}"]`)).toHaveCount(2);
  }
  await expect(passRate.locator("svg")).toHaveAttribute("aria-label", /Pass rate \(%\): a chart of \d+ points/);
  await expect(passRate.locator(".legend")).toContainText("Two-stage search v1.2 + reranker");
  const latency = charts.filter({ hasText: "Latency p50 / p95 (ms)" });
  await expect(latency.locator(".legend li")).toHaveCount(4);

  // The table view has the same numbers, one row per (batch, version).
  await page.getByText("Table view").click();
  const table = page.getByTestId("dash-table");
  await expect(table).toBeVisible();
  for (const id of ids) await expect(table.locator(`tr[data-batch-id="${id}"]`)).toHaveCount(2);
  const apiPoints = (await api(request, "dashboard", { version_ids: versions, from: today })).body.points;
  const p = apiPoints.find((x) => x.batch_id === ids[1]);
  const row = table.locator(`tr[data-batch-id="${ids[1]}"]`).first();
  await expect(row).toContainText(`${p.pass_rate.toFixed(1)}%`);

  // The other language, then a phone.
  await page.getByRole("button", { name: "繁體中文" }).click();
  await expect(charts.filter({ hasText: "通過率（%）" })).toBeVisible();
  await page.getByRole("button", { name: "English" }).click();
  await page.setViewportSize({ width: 360, height: 740 });
  const box = await passRate.locator("svg").boundingBox();
  expect(box.width).toBeLessThanOrEqual(360);
  expect(box.width).toBeGreaterThan(250);
  expect(await page.evaluate(() => document.querySelector(".chart-grid").scrollWidth <= window.innerWidth)).toBe(true);

  // A point opens its batch.
  await page.setViewportSize({ width: 1280, height: 900 });
  await passRate.locator(`a.point[href="/batches/${ids[2]}"]`).first().click();
  await expect(page).toHaveURL(new RegExp(`/batches/${ids[2]}$`));
  await expect(page.getByRole("heading", { name: "E2E trend 3" })).toBeVisible();

  // Unpicking every version says what to do.
  await open(page, "/dashboard?v=");
  await expect(page.getByText("Pick at least one version to chart.")).toBeVisible();
  expect(errors).toEqual([]);
});

test("history: paging, search, filters and delete through the confirmation dialog", async ({ page, request }) => {
  const errors = watchConsole(page);
  const [v11] = await demoVersions(request);
  const oneCase = (await api(request, "list_cases")).body.slice(0, 1).map((c) => c.id);
  // Enough batches for a second page (20 a page), whatever earlier tests left.
  const before = (await api(request, "batch_history", {})).body.total;
  const need = Math.max(0, 21 - before);
  for (let i = 0; i < need; i++) {
    await runBatch(request, { name: `E2E page filler ${i}`, version_ids: [v11], case_ids: oneCase, concurrency: 1 });
  }
  const victim = await runBatch(request, { name: "E2E to delete", version_ids: [v11], case_ids: oneCase, concurrency: 1 });
  const total = before + need + 1;

  await page.setViewportSize({ width: 1280, height: 900 });
  await open(page, "/batches");
  const pages = Math.ceil(total / 20);
  await expect(page.getByTestId("page-info")).toHaveText(`Page 1 of ${pages} · ${total} batches`);
  await expect(page.locator("tr[data-batch-id]")).toHaveCount(20);
  await page.getByTestId("history-pager").getByRole("link", { name: "Next" }).click();
  await expect(page).toHaveURL(/page=1/);
  await expect(page.getByTestId("page-info")).toHaveText(`Page 2 of ${pages} · ${total} batches`);
  await page.getByTestId("history-pager").getByRole("link", { name: "Previous" }).click();
  await expect(page.getByTestId("page-info")).toHaveText(`Page 1 of ${pages} · ${total} batches`);

  // Search by name (any case), then a status filter that matches nothing.
  await page.getByTestId("history-search").fill("e2e TO delete");
  await page.getByTestId("history-search").press("Enter");
  await expect(page).toHaveURL(/q=e2e%20TO%20delete/);
  const row = page.locator(`tr[data-batch-id="${victim}"]`);
  await expect(row).toBeVisible();
  await expect(page.locator("tr[data-batch-id]")).toHaveCount(1);
  await page.getByTestId("history-status").selectOption("running");
  await expect(page.getByTestId("no-match")).toBeVisible();
  await page.getByTestId("history-status").selectOption("");
  await expect(row).toBeVisible();

  // Delete asks first; cancelling keeps it, confirming removes it and its results.
  await row.getByTestId("delete-batch").click();
  const confirm = page.getByTestId("confirm-dialog");
  await expect(confirm).toContainText("Delete batch “E2E to delete” with all its results?");
  await confirm.getByRole("button", { name: "No, go back" }).click();
  await expect(row).toBeVisible();
  await row.getByTestId("delete-batch").click();
  await confirm.getByRole("button", { name: "Delete" }).click();
  await expect(page.locator(".toast", { hasText: "Batch deleted" })).toBeVisible();
  await expect(page.getByTestId("no-match")).toBeVisible();
  expect((await api(request, "get_batch", { id: victim })).status).toBe(404);
  expect((await api(request, "batch_history", {})).body.total).toBe(total - 1);
  expect(errors).toEqual([]);
});

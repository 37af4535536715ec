// The web UI against the real server in demo mode (its Dify simulator on the same port).
// Numbers in test names refer to the "Done when" list of issue #3.
import { test, expect } from "@playwright/test";
import fs from "node:fs";
import {
  watchConsole, open, api, addVersion, versionRow, recordProgress, tenCasesCsv, shot,
} from "./helpers.mjs";

test("pages hydrate, list the demo versions without their keys, and navigate", async ({ page }) => {
  const errors = watchConsole(page);
  await open(page, "/");
  await expect(page.getByRole("cell", { name: "Two-stage search v1.2 + reranker", exact: true })).toBeVisible();
  const html = await page.content();
  expect(html).not.toContain("app-chat.q80.demo-v12");
  expect(html).toContain("app-…-v12");
  await page.getByRole("link", { name: "Test cases" }).click();
  await expect(page.getByRole("heading", { name: "Test cases" })).toBeVisible();
  await expect(page.getByRole("cell", { name: "MIPI D-PHY 基本參數查詢" }).first()).toBeVisible();
  await page.getByRole("link", { name: "Batches" }).click();
  await expect(page.getByRole("heading", { name: "Batches" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("1. the seed's flow: two versions, ten imported cases, a live batch to 100 %", async ({ page, request }) => {
  const errors = watchConsole(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await open(page, "/");
  await addVersion(page, { name: "E2E chat q90", key: "app-chat.q90.e2e-a", mode: "chat" });
  await addVersion(page, { name: "E2E workflow q40", key: "app-workflow.q40.e2e-b", mode: "workflow" });

  // Import ten cases in their own category, with a preview first.
  await page.getByRole("link", { name: "Test cases" }).click();
  await page.getByRole("button", { name: "Import" }).click();
  const imp = page.getByTestId("import-modal");
  const demoCases = (await api(request, "list_cases")).body;
  await imp.getByLabel("Content").fill(tenCasesCsv(demoCases, "e2e-flow"));
  await imp.getByRole("button", { name: "Preview" }).click();
  await expect(imp.getByTestId("import-preview")).toContainText("10 cases ready to import");
  await imp.getByRole("button", { name: "Import 10 cases" }).click();
  await expect(imp).toBeHidden();
  await expect(page.getByText("10 cases imported")).toBeVisible();

  // Select both versions and configure the batch: thread count 4, the ten cases by category.
  await page.getByRole("link", { name: "Versions" }).click();
  await versionRow(page, "E2E chat q90").getByTestId("select-version").check();
  await versionRow(page, "E2E workflow q40").getByTestId("select-version").check();
  const start = page.getByTestId("batch-test-button");
  await expect(start).toHaveText("Batch test (2)");
  await shot(page, "versions-page.png");
  await start.click();
  const config = page.getByTestId("batch-config");
  await expect(config.getByLabel("Batch name")).toHaveValue(/^Batch test \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
  await config.getByLabel("Thread count").fill("4");
  await config.getByLabel("By category or tag").check();
  await config.locator(".chip", { hasText: "e2e-flow" }).locator("input").check();
  await expect(config.getByTestId("tests-planned")).toContainText("= 20 tests");
  await config.getByRole("button", { name: "Start" }).click();

  // The modal, live.
  const modal = page.getByTestId("progress-modal");
  await expect(modal).toBeVisible();
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");
  await expect(modal.getByRole("heading", { name: "Batch test progress" })).toBeVisible();
  await expect(modal.getByTestId("version-row")).toHaveCount(2);
  await expect(modal.getByTestId("current-hint")).toBeVisible();
  await expect(modal.getByTestId("current-hint")).toContainText(/E2E (chat|workflow)/);
  const rowCounts = modal.getByTestId("version-row").locator(".count");
  await expect(rowCounts.first()).not.toHaveText("0 / 10", { timeout: 30_000 });
  await shot(page, "progress-modal.png");
  // Esc does not dismiss a running batch's modal.
  await page.keyboard.press("Escape");
  await expect(modal).toBeVisible();

  const values = await recordProgress(page);
  expect(values.length).toBeGreaterThan(2);
  for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
  expect(values[values.length - 1]).toBe(100);

  const toast = page.locator(".toast", { hasText: "Batch test completed — 20 tests executed" });
  await expect(toast).toBeVisible();
  const shownAt = Date.now();
  await expect(modal.getByTestId("notice")).toContainText("Batch test completed");
  await expect(modal).toBeHidden({ timeout: 10_000 });
  const closedAfter = Date.now() - shownAt;
  expect(closedAfter).toBeGreaterThan(1500);
  expect(closedAfter).toBeLessThan(5000);

  // The list is refreshed (latest results) and the selection cleared.
  await expect(start).toHaveText("Batch test (0)");
  await expect(start).toBeDisabled();
  await expect(versionRow(page, "E2E chat q90").locator("a.latest")).toBeVisible();
  await expect(versionRow(page, "E2E chat q90").getByTestId("select-version")).not.toBeChecked();

  // The batch's matrix, and one cell's details.
  const batches = (await api(request, "list_batches", { limit: 1 })).body;
  await open(page, `/batches/${batches[0].id}`);
  await expect(page.getByTestId("version-card")).toHaveCount(2);
  const matrix = page.getByTestId("matrix");
  await expect(matrix.locator("td.cell")).toHaveCount(20);
  await shot(page, "batch-matrix.png", { fullPage: true });
  await matrix.locator("td.cell button").first().click();
  const detail = page.getByTestId("result-detail");
  await expect(detail.getByText("Keywords hit")).toBeVisible();
  await expect(detail.getByText("Time to first token")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(detail).toBeHidden();
  expect(errors).toEqual([]);
});

test("2 + 4. close while running, reopen from the header, live; cancel shows cancelled", async ({ page, request }) => {
  const errors = watchConsole(page);
  await open(page, "/");
  await versionRow(page, "Two-stage search v1.1").getByTestId("select-version").check();
  await versionRow(page, "Two-stage search v1.2 + reranker").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await config.getByLabel("Batch name").fill("E2E background batch");
  await config.getByLabel("Thread count").fill("1");
  await config.getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");

  // Close: a confirmation that says the batch goes on.
  await modal.getByRole("button", { name: "Close", exact: true }).click();
  const confirm = page.getByTestId("confirm-dialog");
  await expect(confirm).toContainText("continues in the background");
  await confirm.getByRole("button", { name: "Close, keep running" }).click();
  await expect(modal).toBeHidden();
  const id = Number((await api(request, "running_batches")).body.at(-1));
  expect((await api(request, "get_batch", { id })).body.status).toMatch(/running|queued/);

  // After a refresh the header still shows it; reopen from there.
  await open(page, "/cases");
  const toggle = page.getByTestId("running-indicator").getByRole("button", { name: /running/ });
  await expect(toggle).toBeVisible();
  await toggle.click();
  await page.getByTestId("running-indicator").locator(`button[data-batch-id="${id}"]`).click();
  await expect(modal).toBeVisible();
  await expect(modal.getByTestId("batch-name")).toHaveText("E2E background batch");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");
  const bar = modal.getByTestId("overall-progress");
  const before = Number(await bar.getAttribute("aria-valuenow"));
  await expect.poll(async () => Number(await bar.getAttribute("aria-valuenow")), { timeout: 20_000 })
    .toBeGreaterThan(before);

  // Focus stays inside the modal.
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement.closest('[data-testid="progress-modal"]'))).toBe(true);
  }

  // Cancel, with confirmation.
  await modal.getByRole("button", { name: "Cancel batch" }).click();
  await expect(confirm).toBeVisible();
  await confirm.getByRole("button", { name: "Cancel batch" }).click();
  await expect(modal.getByTestId("notice")).toContainText("cancelled");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "closed");
  expect((await api(request, "get_batch", { id })).body.status).toBe("cancelled");
  // A finished batch's modal may be dismissed with Esc.
  await page.keyboard.press("Escape");
  await expect(modal).toBeHidden();
  expect(errors).toEqual([]);
});

test("a version whose app is down: its circuit opens and the modal says so", async ({ page, request }) => {
  const errors = watchConsole(page);
  await open(page, "/");
  await addVersion(page, { name: "E2E app down", key: "app-workflow.q80.500.e2e-down", mode: "workflow" });
  await versionRow(page, "E2E app down").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await config.getByLabel("Batch name").fill("E2E circuit");
  await config.getByLabel("Thread count").fill("5");
  await config.getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");
  const row = modal.getByTestId("version-row");
  // Its calls in flight, then — five failed tests in a row (each after its retries) — the open
  // circuit, announced to screen readers.
  await expect(row.getByTestId("version-limit")).toContainText("Calls at once: 5");
  const circuit = row.getByTestId("version-circuit");
  await expect(circuit).toHaveAttribute("data-circuit", "open", { timeout: 30_000 });
  await expect(circuit).toHaveAttribute("role", "status");
  await expect(circuit).toContainText("Circuit open");
  await modal.getByRole("button", { name: "Cancel batch" }).click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Cancel batch" }).click();
  await expect(modal.getByTestId("notice")).toContainText("cancelled");
  await page.keyboard.press("Escape");
  // Deleted, so that later tests selecting every version do not include it.
  const id = (await api(request, "list_versions")).body.find((v) => v.name === "E2E app down").id;
  expect((await api(request, "delete_version", { id })).status).toBe(200);
  expect(errors).toEqual([]);
});

test("a version that starts failing mid-batch raises an alert: banner, toast, kept on the batch page", async ({ page, request }) => {
  const errors = watchConsole(page);
  await open(page, "/");
  // Its key is deleted in Dify after 5 requests: from then on every test fails with 401.
  await addVersion(page, { name: "E2E key revoked", key: "app-workflow.q80.revoked5.e2e-alert", mode: "workflow" });
  await versionRow(page, "E2E key revoked").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await config.getByLabel("Batch name").fill("E2E alert");
  await config.getByLabel("Thread count").fill("1");
  await config.getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  const banner = modal.getByTestId("alert-banner");
  await expect(banner).toHaveAttribute("data-kind", "error_spike", { timeout: 30_000 });
  await expect(banner).toContainText("Error spike — E2E key revoked: ");
  await expect(banner).toHaveAttribute("role", "alert");
  await expect(page.locator(".toast", { hasText: "Error spike: E2E key revoked" })).toBeVisible();
  const id = Number(await modal.getByTestId("batch-id").textContent());
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 30_000 })
    .toBe("completed");
  await open(page, `/batches/${id}`);
  await expect(page.getByTestId("alert-banner")).toHaveAttribute("data-kind", "error_spike");
  const vid = (await api(request, "list_versions")).body.find((v) => v.name === "E2E key revoked").id;
  expect((await api(request, "delete_version", { id: vid })).status).toBe(200);
  expect(errors).toEqual([]);
});

test("4. unknown batch, disabled versions, bad import row", async ({ page, request }) => {
  // The browser logs the 404 of the unknown batch's stream and of get_batch: expected here.
  const errors = watchConsole(page, [/status of 404/, /status of 400/]);
  await open(page, "/batches/999999");
  await expect(page.getByTestId("notice")).toHaveText("Batch not found.");

  await open(page, "/?progress=999999");
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByTestId("notice")).toHaveText("Batch not found.");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "disconnected");
  await modal.getByRole("button", { name: "Close", exact: true }).click();
  await expect(modal).toBeHidden();

  // The demo's disabled version cannot be selected, not even by "select all".
  const disabled = versionRow(page, "Datasheet agent");
  const box = disabled.getByTestId("select-version");
  await expect(box).toBeDisabled();
  await page.getByLabel("Select all enabled versions").check();
  await expect(box).not.toBeChecked();
  const enabled = (await api(request, "list_versions")).body.filter((v) => v.enabled).length;
  await expect(page.getByTestId("batch-test-button")).toHaveText(`Batch test (${enabled})`);

  // A start the server refuses (the version was disabled meanwhile) shows the error, no modal.
  await page.getByLabel("Select all enabled versions").uncheck();
  const wf = versionRow(page, "Workflow baseline");
  await wf.getByTestId("select-version").check();
  const wfId = (await api(request, "list_versions")).body.find((v) => v.name === "Workflow baseline").id;
  await page.getByTestId("batch-test-button").click();
  await api(request, "set_version_enabled", { id: wfId, enabled: false });
  const config = page.getByTestId("batch-config");
  await config.getByRole("button", { name: "Start" }).click();
  await expect(config.getByRole("alert")).toBeVisible();
  await expect(page.getByTestId("progress-modal")).toHaveCount(0);
  await config.getByRole("button", { name: "Cancel" }).click();
  await api(request, "set_version_enabled", { id: wfId, enabled: true });

  // A bad row is named and nothing is imported.
  const before = (await api(request, "list_cases")).body.length;
  await open(page, "/cases");
  await page.getByRole("button", { name: "Import" }).click();
  const imp = page.getByTestId("import-modal");
  await imp.getByLabel("Content").fill("name,query\nok one,What is MIPI?\nok two,What is I2C?\nbad,\n");
  await imp.getByRole("button", { name: "Preview" }).click();
  await expect(imp.getByTestId("import-error")).toContainText("row 4");
  await expect(imp.getByTestId("import-error")).toContainText("Nothing was imported");
  await expect(imp.getByRole("button", { name: /^Import \d+ cases$/ })).toBeDisabled();
  expect((await api(request, "list_cases")).body.length).toBe(before);
  expect(errors).toEqual([]);
});

test("5. the zh-TW switch renders the modal in Traditional Chinese, and is remembered", async ({ page, request }) => {
  const errors = watchConsole(page);
  await open(page, "/");
  await page.getByRole("button", { name: "繁體中文" }).click();
  await expect(page.getByRole("heading", { name: "版本" })).toBeVisible();
  await open(page, "/");
  await expect(page.getByRole("link", { name: "測試案例" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "zh-TW");

  await versionRow(page, "Two-stage search v1.1").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await expect(config.getByRole("heading", { name: "批次測試設定" })).toBeVisible();
  await expect(config.getByLabel("批次名稱")).toHaveValue(/^批次測試 /);
  await config.getByRole("button", { name: "開始" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByRole("heading", { name: "批次測試進度" })).toBeVisible();
  await expect(modal.getByTestId("connection-tag")).toHaveText("已連線");
  await expect(modal.getByText("已完成 / 總數")).toBeVisible();
  await expect(modal.getByText("預估剩餘時間")).toBeVisible();
  await expect(modal.getByRole("button", { name: "取消批次" })).toBeVisible();
  const id = (await api(request, "running_batches")).body.at(-1);
  await api(request, "cancel_batch", { id });
  await expect(modal.getByTestId("notice")).toHaveText("批次已取消。");
  expect(errors).toEqual([]);
});

test("narrow screens: 360 px wide, nothing overflows the page, the modal fits", async ({ page, request }) => {
  const errors = watchConsole(page);
  await page.setViewportSize({ width: 360, height: 740 });
  for (const path of ["/", "/cases", "/batches", "/admin"]) {
    await open(page, path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `horizontal overflow on ${path}`).toBeLessThanOrEqual(0);
  }
  await open(page, "/");
  await versionRow(page, "Spec chatflow v2.0").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  await page.getByTestId("batch-config").getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");
  const box = await modal.boundingBox();
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(360);
  await shot(page, "progress-modal-360.png");
  await modal.getByRole("button", { name: "Cancel batch" }).click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Cancel batch" }).click();
  await expect(modal.getByTestId("notice")).toContainText("cancelled");
  // The batch's page, its cards with their run totals, fits too.
  const batch = (await api(request, "list_batches", { limit: 1 })).body[0];
  await open(page, `/batches/${batch.id}`);
  await expect(page.getByTestId("version-card").getByTestId("run-latency")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, "horizontal overflow on the batch page").toBeLessThanOrEqual(0);
  const card = await page.getByTestId("version-card").boundingBox();
  expect(card.x + card.width).toBeLessThanOrEqual(360);
  expect(errors).toEqual([]);
});

test("a batch's page is live while it runs, cancels, and exports its results", async ({ page, request }) => {
  const errors = watchConsole(page);
  const versions = (await api(request, "list_versions")).body.filter((v) => v.enabled).slice(0, 2);
  const id = (await api(request, "start_batch", {
    name: "E2E detail page", version_ids: versions.map((v) => v.id), concurrency: 2,
  })).body;
  await open(page, `/batches/${id}`);
  await expect(page.getByRole("heading", { name: "E2E detail page" })).toBeVisible();
  await expect(page.getByTestId("connection-tag")).toHaveAttribute("data-state", "connected");
  const done = page.locator("td.cell-passed, td.cell-failed, td.cell-error");
  await expect.poll(() => done.count(), { timeout: 30_000 }).toBeGreaterThan(0);
  const first = await done.count();
  await expect.poll(() => done.count(), { timeout: 30_000 }).toBeGreaterThan(first);

  const csv = page.waitForEvent("download");
  await page.getByRole("link", { name: "Export CSV" }).click();
  const file = await csv;
  expect(file.suggestedFilename()).toBe(`batch-${id}.csv`);
  const text = fs.readFileSync(await file.path(), "utf8");
  expect(text.split("\n")[0]).toContain("batch_id,version_id,version,case_id,case,status,score");

  await page.getByRole("button", { name: "Cancel batch" }).click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Cancel batch" }).click();
  await expect(page.locator(".meta [data-status]").first()).toHaveAttribute("data-status", "cancelled");
  expect(errors).toEqual([]);
});

test("a large batch's page loads one page of cases at a time, with the page in the URL", async ({ page, request }) => {
  const errors = watchConsole(page);
  const rows = Array.from({ length: 55 }, (_, i) => `Pager case ${String(i + 1).padStart(2, "0")},Pager question ${i + 1}?`);
  const imported = (await api(request, "import_cases", { format: "csv", content: `name,query\n${rows.join("\n")}\n` })).body;
  expect(imported.imported).toBe(55);
  const cases = (await api(request, "list_cases")).body.filter((c) => c.name.startsWith("Pager case "));
  const version = (await api(request, "list_versions")).body.find((v) => v.enabled);
  const id = (await api(request, "start_batch", {
    name: "E2E pager", version_ids: [version.id], case_ids: cases.map((c) => c.id), concurrency: 20,
  })).body;
  // The batch keeps its snapshot of the cases: the other tests see the demo set again.
  for (const c of cases) await api(request, "delete_case", { id: c.id });

  await open(page, `/batches/${id}`);
  const matrix = page.getByTestId("matrix");
  await expect(matrix.locator("tbody tr")).toHaveCount(50);
  await expect(page.getByText("Page 1 of 2")).toBeVisible();
  await page.getByRole("button", { name: "Next" }).click();
  await expect(page).toHaveURL(new RegExp(`/batches/${id}\\?page=2$`));
  await expect(matrix.locator("tbody tr")).toHaveCount(5);
  await expect(matrix.locator("th.case-name").first()).toHaveText("Pager case 51");
  await expect(page.getByText("Page 2 of 2")).toBeVisible();

  // Served as page 2 by the server too, and live until the batch ends.
  await open(page, `/batches/${id}?page=2`);
  await expect(matrix.locator("th.case-name").first()).toHaveText("Pager case 51");
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 60_000 })
    .toBe("completed");
  await expect(matrix.locator("td.cell-pending")).toHaveCount(0, { timeout: 15_000 });
  await expect(page.getByTestId("version-card")).toContainText("55 / 55");

  // The card's run totals, as they stood when the batch ended (the page re-reads them then):
  // tokens, cost in the simulator's currency, latency and time to first token as p50 / p95.
  const totals = (await api(request, "batch_page", { id })).body.run_totals[0];
  expect(totals.results).toBe(55);
  const card = page.getByTestId("version-card");
  await expect(card.getByTestId("run-tokens").locator(".line"))
    .toHaveText(totals.total_tokens.toLocaleString("en-US"));
  await expect(card.getByTestId("run-tokens")).toContainText(/prompt [\d,]+ · completion [\d,]+/);
  // Dify prices chat messages; a workflow run reports its tokens only.
  await expect(card.getByTestId("run-cost"))
    .toHaveText(version.app_mode === "workflow" ? "—" : /^\d+\.\d{4,6} USD$/);
  await expect(card.getByTestId("run-latency")).toHaveText(/^\d+ \/ \d+ ms$/);
  await expect(card.getByTestId("run-ttft"))
    .toHaveText(version.response_mode === "streaming" ? /^\d+ \/ \d+ ms$/ : "—");

  // A cell's details are fetched when it is opened.
  await matrix.locator("td.cell button").first().click();
  const detail = page.getByTestId("result-detail");
  await expect(detail.getByText("Keywords hit")).toBeVisible();
  await expect(detail.getByRole("heading")).toContainText("Pager case 51");
  await page.keyboard.press("Escape");
  await expect(detail).toBeHidden();

  await page.getByRole("button", { name: "Previous" }).click();
  await expect(page).toHaveURL(new RegExp(`/batches/${id}$`));
  await expect(matrix.locator("tbody tr")).toHaveCount(50);
  await expect(matrix.locator("th.case-name").first()).toHaveText("Pager case 01");
  expect(errors).toEqual([]);
});

test("the compare page says which of two versions is worse, regressions first", async ({ page, request }) => {
  const errors = watchConsole(page);
  const versions = (await api(request, "list_versions")).body.filter((v) => v.enabled);
  const good = versions.find((v) => v.name === "Spec chatflow v2.0");
  const poor = versions.find((v) => v.name === "Workflow baseline");
  const id = (await api(request, "start_batch", {
    name: "E2E compare", version_ids: [good.id, poor.id], concurrency: 8,
  })).body;
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 120_000 })
    .toBe("completed");
  await open(page, `/batches/${id}`);
  const pick = page.getByTestId("compare-pick");
  await pick.getByLabel("Baseline (A)").selectOption(String(good.id));
  await pick.getByLabel("Candidate (B)").selectOption(String(poor.id));
  await pick.getByRole("link", { name: "Compare" }).click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?cand=${id}:${poor.id}&base=${id}:${good.id}$`));
  const verdict = page.getByTestId("verdict");
  await expect(verdict).toHaveAttribute("data-verdict", "Worse");
  await expect(verdict).toContainText("B is worse than A: pass rate −");
  await expect(page.getByTestId("compare-table").locator("tbody tr").first()).toHaveAttribute("data-class", "regressed");
  await shot(page, "compare-page.png", { fullPage: true });

  // A row opens (a button with aria-expanded) both answers side by side, marked where they
  // differ, with both scores' breakdowns; Enter closes it again.
  const toggle = page.getByTestId("compare-table").locator("tbody tr[data-class='regressed']").first().getByRole("button");
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  const panel = page.getByTestId("case-panel");
  const sideA = panel.getByTestId("side-A");
  const sideB = panel.getByTestId("side-B");
  await expect(sideA.getByTestId("answer")).not.toBeEmpty();
  await expect(sideB.getByTestId("answer")).not.toBeEmpty();
  await expect(panel.locator("[data-testid='answer'] :is(del, ins)").first()).toBeVisible();
  expect(await sideA.locator("[data-testid='answer'] ins").count(), "A shows no insertion").toBe(0);
  expect(await sideB.locator("[data-testid='answer'] del").count(), "B shows no deletion").toBe(0);
  await expect(sideA.getByText("Keyword coverage")).toBeVisible();
  await expect(sideB.getByText("Keyword coverage")).toBeVisible();
  await expect(sideA.locator(".tag-passed")).toBeVisible();
  const [boxA, boxB] = [await sideA.boundingBox(), await sideB.boundingBox()];
  expect(boxB.x, "side by side").toBeGreaterThan(boxA.x + boxA.width - 1);
  await shot(page, "compare-case.png");
  await toggle.focus();
  await page.keyboard.press("Enter");
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(panel).toBeHidden();
  // At 360 px the sides stack, and the panel stays within the screen.
  await page.setViewportSize({ width: 360, height: 740 });
  await page.keyboard.press("Enter");
  await expect(sideB.getByTestId("answer")).not.toBeEmpty();
  const [narrowA, narrowB, box] = [await sideA.boundingBox(), await sideB.boundingBox(), await panel.boundingBox()];
  expect(narrowB.y, "stacked").toBeGreaterThan(narrowA.y + narrowA.height - 1);
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(360);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, "no horizontal overflow at 360 px").toBeLessThanOrEqual(0);
  await page.setViewportSize({ width: 1280, height: 720 });

  // One class at a time, in the URL.
  await page.getByRole("link", { name: /^improved/ }).click();
  await expect(page).toHaveURL(/class=improved/);
  expect(errors).toEqual([]);
});

test("repeats: a flaky case is marked flaky and inconclusive, not regressed; a version against itself shows no detectable difference", async ({ page, request }) => {
  const errors = watchConsole(page);
  const SIM = (await api(request, "list_versions")).body[0].base_url;
  const save = async (name, key) => (await api(request, "save_version", {
    name, base_url: SIM, api_key: key, app_mode: "chat", response_mode: "blocking",
  })).body.id;
  // q100 passes every repeat; a sampled q65 app draws a new answer at every call, so some of its
  // cases pass some repeats and fail others.
  const steady = await save("E2E steady", "app-chat.q100.e2e-steady");
  const sampled = await save("E2E sampled", "app-chat.q65.sampled");
  const caseIds = (await api(request, "list_cases")).body.filter((c) => c.enabled).slice(0, 10).map((c) => c.id);
  const run = async (name, versionIds) => {
    const started = await api(request, "start_batch", {
      name, version_ids: versionIds, case_ids: caseIds, concurrency: 20, repeats: 5,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const id = started.body;
    await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 120_000 })
      .toBe("completed");
    return id;
  };
  const id = await run("E2E repeats", [steady, sampled]);

  await open(page, `/batches/${id}`);
  await expect(page.getByTestId("repeats-badge")).toContainText("5");
  const matrix = page.getByTestId("matrix");
  const flakyCells = matrix.locator("td.cell-flaky");
  await expect(flakyCells.first()).toBeVisible();
  const cells = (await api(request, "batch_page", { id })).body.cells;
  const flaky = cells.filter((c) => c.version_id === sampled && c.passed > 0 && c.passed < c.runs);
  expect(flaky.length).toBeGreaterThan(0);
  await expect(flakyCells).toHaveCount(flaky.length);
  await expect(flakyCells.first()).toContainText(/^\d\/5 /);
  await expect(page.getByTestId("version-card").nth(1).getByTestId("flaky-cases")).toHaveText(String(flaky.length));
  // Its dialog lists the five repeats and says it is flaky.
  await flakyCells.first().locator("button").click();
  const detail = page.getByTestId("result-detail");
  await expect(detail.getByTestId("flaky-tag")).toBeVisible();
  await expect(detail.getByTestId("repeat-list").locator("tbody tr")).toHaveCount(5);
  await shot(page, "batch-repeats.png");
  await page.keyboard.press("Escape");

  // Compared with the steady version, a flaky case is noise, not a regression.
  await open(page, `/compare?base=${id}:${steady}&cand=${id}:${sampled}`);
  const names = new Map((await api(request, "list_cases")).body.map((c) => [c.id, c.name]));
  const table = page.getByTestId("compare-table");
  for (const c of flaky) {
    const row = table.locator("tbody tr", { has: page.getByRole("cell", { name: names.get(c.case_id), exact: true }) });
    await expect(row).toHaveAttribute("data-class", "inconclusive");
  }

  // The same version, run again with the same repeats: from its card, "compare with its previous
  // run" compares it with the batch before (no base in the URL: the server picks it), and finds
  // no detectable difference.
  const again = await run("E2E repeats again", [sampled]);
  await open(page, `/batches/${again}`);
  await page.getByTestId("version-card").getByTestId("compare-previous").click();
  await expect(page).toHaveURL(new RegExp(`/compare\\?cand=${again}:${sampled}$`));
  await expect(page.getByTestId("runs")).toContainText("E2E repeats");
  await expect(page.getByTestId("verdict")).toHaveAttribute("data-verdict", "NoDetectableDifference");
  await expect(page.getByTestId("verdict")).toContainText("No detectable difference");
  // The verdict reads in the reader's language, with the same numbers.
  const english = await page.getByTestId("verdict-sentence").textContent();
  await page.getByRole("button", { name: "繁體中文" }).click();
  await expect(page.getByTestId("verdict-sentence")).toContainText("沒有可偵測的差異：通過率");
  const pValue = english.match(/p [=<] [0-9.]+/)[0];
  await expect(page.getByTestId("verdict-sentence")).toContainText(pValue);
  expect(errors).toEqual([]);
});

// Replay of a finished batch (issue #11 item 7), and the completion notification of a batch that
// ends while the tab is hidden (issue #11's "Done when").
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, versionRow } from "./helpers.mjs";

// A small finished batch through the API: two demo versions × four cases, two at a time.
async function finishedBatch(request, name) {
  const versions = (await api(request, "list_versions")).body.filter((v) => v.enabled).slice(0, 2);
  const cases = (await api(request, "list_cases")).body.filter((c) => c.enabled).slice(0, 4);
  const started = await api(request, "start_batch", {
    name,
    version_ids: versions.map((v) => v.id),
    case_ids: cases.map((c) => c.id),
    concurrency: 2,
  });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const id = started.body;
  await expect
    .poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 60_000 })
    .toBe("completed");
  return { id, versions: versions.length, tests: versions.length * cases.length };
}

// The overall bar's aria-valuenow in the replay dialog, sampled every 10 ms from the moment
// `start` (a selector) is clicked until it reads 100: every distinct value, in order.
async function playAndRecord(page, start) {
  return await page.evaluate(async (start) => {
    const bar = () =>
      document.querySelector('[data-testid="replay-modal"] [data-testid="overall-progress"]');
    const seen = [Number(bar().getAttribute("aria-valuenow"))];
    document.querySelector(start).click();
    const t0 = Date.now();
    while (Date.now() - t0 < 30_000) {
      const v = Number(bar().getAttribute("aria-valuenow"));
      if (seen[seen.length - 1] !== v) seen.push(v);
      if (v >= 100) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    return seen;
  }, start);
}

test("replay: a shared link starts the replay at 60×, and the bars run from 0 to 100 %", async ({ page, request }) => {
  const errors = watchConsole(page);
  const batch = await finishedBatch(request, "Replay e2e");

  // The shared link opens the page and starts the replay at its speed.
  await open(page, `/batches/${batch.id}?replay=60`);
  const modal = page.getByTestId("replay-modal");
  await expect(modal).toBeVisible();
  await expect(modal.getByRole("heading", { name: "Replay — Replay e2e" })).toBeVisible();
  await expect(modal.getByTestId("replay-speed-60")).toHaveAttribute("aria-pressed", "true");
  await expect(modal.getByTestId("replay-link")).toHaveValue(
    new RegExp(`/batches/${batch.id}\\?replay=60$`),
  );
  const overall = modal.getByTestId("overall-progress");
  await expect(overall).toHaveAttribute("aria-valuenow", "100.0", { timeout: 20_000 });
  await expect(modal.getByTestId("replay-play")).toHaveText("Play");
  await expect(modal.getByTestId("notice")).toHaveCount(0);
  await expect(modal.getByTestId("version-row")).toHaveCount(batch.versions);

  // Back to the start with the slider (keyboard), then played at 60× to the end.
  const slider = modal.getByTestId("replay-position");
  await slider.focus();
  await page.keyboard.press("Home");
  await expect(overall).toHaveAttribute("aria-valuenow", "0.0");
  for (const row of await modal.getByTestId("version-row").all()) {
    await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "0.0");
  }
  await expect(modal.getByTestId("replay-times")).toContainText("Batch time 0:00 /");
  const seen = await playAndRecord(page, '[data-testid="replay-modal"] [data-testid="replay-play"]');
  expect(seen[0]).toBe(0);
  expect(seen[seen.length - 1]).toBe(100);
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
  for (const row of await modal.getByTestId("version-row").all()) {
    await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100.0");
    await expect(row.locator(".count")).toHaveText(`${batch.tests / batch.versions} / ${batch.tests / batch.versions}`);
  }
  await expect(modal.getByTestId("stat-completed")).toContainText(`${batch.tests} / ${batch.tests}`);

  // Closing leaves the page; the Replay button opens it again at 10×, and switching speed
  // updates the link.
  await page.keyboard.press("Escape");
  await expect(modal).toBeHidden();
  await page.getByTestId("replay-button").click();
  await expect(modal).toBeVisible();
  await expect(modal.getByTestId("replay-speed-10")).toHaveAttribute("aria-pressed", "true");
  await modal.getByTestId("replay-speed-1").click();
  await expect(modal.getByTestId("replay-link")).toHaveValue(new RegExp(`\\?replay=1$`));
  await expect(modal.getByTestId("replay-times")).toContainText("at 1×");

  // 360 px: nothing wider than the screen.
  await page.setViewportSize({ width: 360, height: 740 });
  const box = await modal.boundingBox();
  expect(box.x).toBeGreaterThanOrEqual(0);
  expect(box.x + box.width).toBeLessThanOrEqual(360);
  expect(await modal.evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true);
  expect(errors).toEqual([]);
});

test("replay: a bad speed in the link is refused by name", async ({ page, request }) => {
  const batches = (await api(request, "list_batches")).body.filter((b) => b.status === "completed");
  const id = batches.length ? batches[0].id : (await finishedBatch(request, "Replay e2e 2")).id;
  await open(page, `/batches/${id}?replay=7`);
  await expect(page.locator(".toast", { hasText: "replay speed `7` is not one of 1, 10 or 60" })).toBeVisible();
  await expect(page.getByTestId("replay-modal")).toHaveCount(0);
});

test.describe("completion notification", () => {
  test.use({ permissions: ["notifications"] });

  test("a batch that ends while the tab is hidden is announced by a browser notification", async ({ page, context }) => {
    // The page can be made hidden on demand, and every notification it creates is recorded.
    await context.addInitScript(() => {
      window.__hidden = false;
      Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden, configurable: true });
      Object.defineProperty(Document.prototype, "visibilityState", {
        get: () => (window.__hidden ? "hidden" : "visible"),
        configurable: true,
      });
      // Records instead of showing; the permission is the browser's (granted by the test).
      window.__notifications = [];
      const Real = window.Notification;
      window.Notification = class {
        static get permission() {
          return Real.permission;
        }
        static requestPermission() {
          return Real.requestPermission();
        }
        constructor(title, options = {}) {
          window.__notifications.push({ title, body: options.body });
        }
      };
    });
    const errors = watchConsole(page);
    await open(page, "/");
    expect(await page.evaluate(() => Notification.permission)).toBe("granted");

    const names = await page.evaluate(async () => {
      const res = await fetch("/api/list_versions", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      return (await res.json()).filter((v) => v.enabled).slice(0, 2).map((v) => v.name);
    });
    for (const name of names) await versionRow(page, name).getByTestId("select-version").check();
    await page.getByTestId("batch-test-button").click();
    const config = page.getByTestId("batch-config");
    await config.getByLabel("Batch name").fill("Notify e2e");
    await config.getByLabel("By category or tag").check();
    await config.locator(".chip", { hasText: "wireless" }).locator("input").check();
    await config.getByRole("button", { name: "Start" }).click();
    const modal = page.getByTestId("progress-modal");
    await expect(modal).toBeVisible();

    // The user switches to another tab while the batch runs.
    await page.evaluate(() => {
      window.__hidden = true;
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await expect
      .poll(() => page.evaluate(() => window.__notifications.length), { timeout: 60_000 })
      .toBe(1);
    const [note] = await page.evaluate(() => window.__notifications);
    expect(note.title).toBe("Notify e2e");
    expect(note.body).toMatch(/^Batch test completed — \d+ tests executed$/);
    expect(errors).toEqual([]);
  });

  test("no notification while the tab is visible", async ({ page, context }) => {
    await context.addInitScript(() => {
      // Records instead of showing; the permission is the browser's (granted by the test).
      window.__notifications = [];
      const Real = window.Notification;
      window.Notification = class {
        static get permission() {
          return Real.permission;
        }
        static requestPermission() {
          return Real.requestPermission();
        }
        constructor(title, options = {}) {
          window.__notifications.push({ title, body: options.body });
        }
      };
    });
    await open(page, "/");
    const names = await page.evaluate(async () => {
      const res = await fetch("/api/list_versions", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      return (await res.json()).filter((v) => v.enabled).slice(0, 2).map((v) => v.name);
    });
    for (const name of names) await versionRow(page, name).getByTestId("select-version").check();
    await page.getByTestId("batch-test-button").click();
    const config = page.getByTestId("batch-config");
    await config.getByLabel("Batch name").fill("Visible e2e");
    await config.getByLabel("By category or tag").check();
    await config.locator(".chip", { hasText: "wireless" }).locator("input").check();
    await config.getByRole("button", { name: "Start" }).click();
    await expect(page.locator(".toast", { hasText: /Batch test completed/ })).toBeVisible({ timeout: 60_000 });
    expect(await page.evaluate(() => window.__notifications.length)).toBe(0);
  });
});

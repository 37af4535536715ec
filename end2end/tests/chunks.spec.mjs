// The split WASM (issue #11, item 9): the first page loads only the main WASM, every other page
// and the dialogs a click opens load their own chunk on demand, and each lazily loaded page both
// hydrates when it is loaded directly (server-rendered) and renders when navigated to.
import { test, expect } from "@playwright/test";
import zlib from "node:zlib";
import { watchConsole, open, api } from "./helpers.mjs";

const signedOut = { storageState: { cookies: [], origins: [] } };

// The WASM files a page requests, by file name, in order.
function recordWasm(page) {
  const files = [];
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.pathname.endsWith(".wasm")) files.push(url.pathname.split("/").pop());
  });
  return files;
}

const MAIN = "dify-bench.wasm";
// What the main WASM may weigh gzipped (issue #11, item 9: the first page's WASM, 350 KB;
// BENCHMARKS.md § f2.1 has the measured size and what keeps it there).
const MAIN_GZIP_BUDGET = 350_000;
const isChunk = (f) => f !== MAIN;
// A lazily loaded page's own chunk (shared code sits in `chunk_N.wasm` files next to it).
const pageChunk = (route) => new RegExp(`^split___${route}_route_view_\\d+\\.wasm$`);

test("the signed-in first page loads only the main WASM; pages and dialogs load their chunks", async ({ page }) => {
  const errors = watchConsole(page);
  const wasm = recordWasm(page);
  await open(page, "/");
  await expect(page.getByRole("cell", { name: "Two-stage search v1.2 + reranker", exact: true })).toBeVisible();
  expect(wasm).toEqual([MAIN]);

  // The version form: a dialog whose code is a chunk of its own.
  await page.getByRole("button", { name: "Add version" }).click();
  await expect(page.getByTestId("version-form")).toBeVisible();
  expect(wasm.filter(isChunk).some((f) => /^split_version_form_\d+\.wasm$/.test(f))).toBe(true);
  await page.getByTestId("version-form").getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("version-form")).toBeHidden();

  // The batch configuration and the progress modal: chunks too, loaded when first opened.
  await page.getByRole("row").filter({ hasText: "Two-stage search v1.1" }).first().getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await expect(config).toBeVisible();
  expect(wasm.some((f) => /^split_batch_config_\d+\.wasm$/.test(f))).toBe(true);
  await config.getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal).toBeVisible();
  expect(wasm.some((f) => /^split_progress_modal_\d+\.wasm$/.test(f))).toBe(true);
  await expect(modal.getByTestId("overall-progress")).toHaveAttribute("aria-valuenow", "100.0", { timeout: 60_000 });
  await expect(modal).toBeHidden({ timeout: 10_000 });

  // Client-side navigation fetches the next page's chunk, once.
  const nav = page.getByRole("navigation", { name: "main" });
  await nav.getByRole("link", { name: "Dashboard" }).click();
  await expect(page).toHaveURL(/\/dashboard$/);
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  expect(wasm.some((f) => pageChunk("dashboard").test(f))).toBe(true);
  await nav.getByRole("link", { name: "Test cases" }).click();
  await expect(page.getByRole("heading", { name: "Test cases" })).toBeVisible();
  expect(wasm.some((f) => pageChunk("cases").test(f))).toBe(true);
  await nav.getByRole("link", { name: "Batches" }).click();
  await expect(page.getByRole("heading", { name: "Batches" })).toBeVisible();
  await nav.getByRole("link", { name: "Test cases" }).click();
  await expect(page.getByRole("heading", { name: "Test cases" })).toBeVisible();
  expect(wasm.filter((f) => pageChunk("cases").test(f))).toHaveLength(1);
  // Back to the first page: its code was in the main WASM all along.
  const before = wasm.length;
  await nav.getByRole("link", { name: "Versions" }).click();
  await expect(page.getByRole("cell", { name: "Two-stage search v1.2 + reranker", exact: true })).toBeVisible();
  expect(wasm.length).toBe(before);
  expect(wasm.filter((f) => f === MAIN)).toHaveLength(1);
  expect(errors).toEqual([]);
});

test("the main WASM is at most 350,000 B gzipped", async ({ request }) => {
  const res = await request.get(`/pkg/${MAIN}`);
  expect(res.status()).toBe(200);
  const raw = await res.body();
  // The bytes as served (the request context undoes any Content-Encoding), compressed as
  // `gzip -9` does.
  const gzipped = zlib.gzipSync(raw, { level: 9 }).length;
  expect(raw.length, "the main WASM is a real build").toBeGreaterThan(100_000);
  expect(gzipped, `${MAIN}: ${raw.length} B raw, ${gzipped} B gzip -9`).toBeLessThanOrEqual(MAIN_GZIP_BUDGET);
});

test("every lazily loaded page hydrates when loaded directly, and its links then navigate", async ({ page, request }) => {
  const errors = watchConsole(page);
  const versions = (await api(request, "list_versions")).body.filter((v) => v.enabled).slice(0, 2);
  const started = await api(request, "start_batch", {
    name: "E2E chunks", version_ids: versions.map((v) => v.id), concurrency: 4,
  });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const batch = started.body;
  await expect.poll(async () => (await api(request, "get_batch", { id: batch })).body.status, { timeout: 60_000 })
    .toMatch(/completed|error|cancelled/);
  const judges = (await api(request, "list_judges")).body;

  const pages = [
    ["/cases", "cases", page.getByRole("heading", { name: "Test cases" })],
    ["/batches", "batches", page.getByRole("heading", { name: "Batches" })],
    [`/batches/${batch}`, "batch", page.getByRole("heading", { name: "E2E chunks" })],
    [`/compare?base=${batch}:${versions[0].id}&cand=${batch}:${versions[1].id}`, "compare", page.getByRole("heading", { level: 1 })],
    ["/dashboard", "dashboard", page.getByRole("heading", { level: 1 })],
    ["/admin", "admin", page.getByRole("heading", { level: 1 })],
  ];
  if (judges.length > 0) {
    pages.push([`/judges/${judges[0].id}`, "judge", page.getByTestId("calibration")]);
  }
  for (const [path, route, marker] of pages) {
    const wasm = recordWasm(page);
    await open(page, path);
    await expect(marker).toBeVisible();
    // The main WASM and this page's chunk, nothing of the other pages.
    expect(wasm[0], path).toBe(MAIN);
    expect(wasm.some((f) => pageChunk(route).test(f)), `${path}: ${wasm.join(", ")}`).toBe(true);
    expect(wasm.filter((f) => /^split___/.test(f) && !pageChunk(route).test(f)), path).toEqual([]);
    // Hydrated: the header's links navigate on the client (the page is not reloaded).
    await page.evaluate(() => { window.__stayed = true; });
    await page.getByRole("navigation", { name: "main" }).getByRole("link", { name: "Versions" }).click();
    await expect(page.getByRole("cell", { name: "Two-stage search v1.2 + reranker", exact: true })).toBeVisible();
    expect(await page.evaluate(() => window.__stayed === true), path).toBe(true);
  }
  expect(errors).toEqual([]);
});

test.describe("signed out", () => {
  test.use(signedOut);

  test("the sign-in page loads the main WASM and its own chunk, and signs in", async ({ page }) => {
    const errors = watchConsole(page, [/401/]);
    const wasm = recordWasm(page);
    await open(page, "/login");
    await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
    expect(wasm[0]).toBe(MAIN);
    expect(wasm.filter((f) => /^split___/.test(f))).toEqual([
      expect.stringMatching(pageChunk("login")),
    ]);
    await page.getByLabel("Username").fill(process.env.DIFY_BENCH_DEMO_USER || "demo");
    await page.getByLabel("Password").fill(process.env.DIFY_BENCH_DEMO_PASSWORD || "e2e-demo-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/$/);
    await expect(page.getByRole("cell", { name: "Two-stage search v1.2 + reranker", exact: true })).toBeVisible();
    expect(errors).toEqual([]);
  });
});

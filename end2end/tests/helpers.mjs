// Shared helpers for the browser tests.
import { expect } from "@playwright/test";

export const PORT = Number(process.env.E2E_PORT || 3107);
export const SIM = `http://127.0.0.1:${PORT}/demo-dify/v1`;
// The demo admin the servers under test create (`serve --demo` with DIFY_BENCH_DEMO_PASSWORD).
export const DEMO_USER = "demo";
export const DEMO_PASSWORD = process.env.DIFY_BENCH_DEMO_PASSWORD || "e2e-demo-password";
export const STORAGE_STATE = process.env.E2E_STORAGE_STATE || "/tmp/dify-bench-e2e-state.json";

// Signs in through the login page (base: another server's origin, default the baseURL).
export async function signIn(page, user, password, base = "") {
  await page.goto(`${base}/login`);
  await page.waitForSelector("html[data-hydrated]");
  await page.getByLabel("Username").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.pathname === "/");
  await page.waitForSelector("html[data-hydrated]");
}

// Collects console errors and page errors. `allow` lists regexes for errors a test expects
// (e.g. the browser logging a 404 for an unknown batch, or refused connections while the server
// is down); anything else fails the test.
export function watchConsole(page, allow = []) {
  const errors = [];
  page.on("console", (msg) => {
    const text = msg.text();
    // Leptos reports hydration mismatches as warnings: they count as errors here.
    if (msg.type() !== "error" && !(msg.type() === "warning" && /hydrat/i.test(text))) return;
    if (!allow.some((re) => re.test(text))) errors.push(text);
  });
  page.on("pageerror", (err) => errors.push(String(err)));
  return errors;
}

// The README's screenshots are refreshed only on request (UPDATE_SCREENSHOTS=1 make e2e), so an
// ordinary test run leaves the tree clean.
export const shot = (page, file, options = {}) =>
  process.env.UPDATE_SCREENSHOTS ? page.screenshot({ path: `../docs/${file}`, ...options }) : null;

// Loads a page and waits for the WASM to have hydrated it (server HTML is clickable earlier).
export async function open(page, path) {
  await page.goto(path);
  await page.waitForSelector("html[data-hydrated]");
}

export async function api(request, name, body = {}, base = "") {
  const res = await request.post(`${base}/api/${name}`, { data: body });
  const text = await res.text();
  return { status: res.status(), body: text ? JSON.parse(text) : null };
}

// Adds a version through the versions page's form.
export async function addVersion(page, { name, key, mode }) {
  await page.getByRole("button", { name: "Add version" }).click();
  const form = page.getByTestId("version-form");
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Base URL").fill(SIM);
  await form.getByLabel("API key").fill(key);
  await form.getByLabel("App mode").selectOption(mode);
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  await expect(page.getByRole("cell", { name, exact: true })).toBeVisible();
}

export function versionRow(page, name) {
  return page.locator("tr", { has: page.getByRole("cell", { name, exact: true }) });
}

// Watches the overall bar's aria-valuenow until it reaches 100 (or the modal goes away), and
// returns every distinct value seen, in order.
export async function recordProgress(page, timeoutMs = 60_000) {
  return await page.evaluate(async (timeoutMs) => {
    const seen = [];
    const t0 = Date.now();
    while (Date.now() - t0 < timeoutMs) {
      const bar = document.querySelector('[data-testid="progress-modal"] [data-testid="overall-progress"]');
      if (bar) {
        const v = Number(bar.getAttribute("aria-valuenow"));
        if (seen.length === 0 || seen[seen.length - 1] !== v) seen.push(v);
        if (v >= 100) break;
      } else if (seen.length > 0) {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return seen;
  }, timeoutMs);
}

// Ten cases as CSV (header = row 1): copies of the first ten demo cases (so the simulator knows
// their answers), in their own category.
export function tenCasesCsv(demoCases, category) {
  const q = (s) => `"${String(s).replace(/"/g, '""')}"`;
  const rows = demoCases.slice(0, 10).map((c) =>
    [`${c.name} (e2e)`, c.query, c.expected_answer, c.keywords.join(";"), category].map(q).join(","),
  );
  return "name,query,expected_answer,keywords,category\n" + rows.join("\n") + "\n";
}

// Starts a batch through the API (`body`: start_batch's fields), waits for it to complete, and
// returns its id.
export async function runBatch(request, body) {
  const started = await api(request, "start_batch", body);
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const id = started.body;
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 60_000 })
    .toBe("completed");
  return id;
}

// Opens a batch's page and its first cell's detail; returns the detail dialog.
export async function openFirstCell(page, id) {
  await open(page, `/batches/${id}`);
  await page.locator("td.cell button").first().click();
  return page.getByTestId("result-detail");
}

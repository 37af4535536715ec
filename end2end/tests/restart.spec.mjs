// 3. The server is restarted mid-batch: the modal's tag shows "reconnecting", then "connected",
// and the batch (resumed by the server) finishes. This test runs its own server process, since
// it kills it.
import { test, expect } from "@playwright/test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { watchConsole, signIn, DEMO_USER, DEMO_PASSWORD } from "./helpers.mjs";

const port = Number(process.env.E2E_RESTART_PORT || 3117);
const base = `http://127.0.0.1:${port}`;
const bin = process.env.DIFY_BENCH_BIN || path.resolve("../target/debug/dify-bench");
const siteRoot = process.env.DIFY_BENCH_SITE_ROOT || path.resolve("../target/site");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dify-bench-restart-"));

function startServer() {
  const child = spawn(bin, [
    "serve", "--demo", "--addr", `127.0.0.1:${port}`,
    "--database-url", `sqlite://${dir}/restart.db`, "--site-root", siteRoot,
  ], {
    stdio: ["ignore", "ignore", "ignore"],
    env: { ...process.env, DIFY_BENCH_DEMO_PASSWORD: DEMO_PASSWORD },
  });
  return child;
}

async function waitHealthy() {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not become healthy");
}

// Calls the API with the page's session (signed in through this server's login page).
async function call(page, name, body = {}) {
  const res = await page.request.post(`${base}/api/${name}`, { data: body });
  return res.json();
}

test("3. a server restart mid-batch: reconnecting, then connected, and the batch finishes", async ({ page }) => {
  test.setTimeout(180_000);
  // While the server is down the browser logs its refused reconnection attempts.
  const errors = watchConsole(page, [/ERR_CONNECTION_REFUSED/, /ERR_EMPTY_RESPONSE/, /ERR_INCOMPLETE_CHUNKED_ENCODING/]);
  let server = startServer();
  try {
    await waitHealthy();
    await signIn(page, DEMO_USER, DEMO_PASSWORD, base);
    const versions = (await call(page, "list_versions")).filter((v) => v.enabled).slice(0, 2);
    const id = await call(page, "start_batch", {
      name: "E2E restart", version_ids: versions.map((v) => v.id), concurrency: 2,
    });
    expect(typeof id).toBe("number");

    await page.goto(`${base}/?progress=${id}`);
    await page.waitForSelector("html[data-hydrated]");
    const modal = page.getByTestId("progress-modal");
    const tag = modal.getByTestId("connection-tag");
    await expect(tag).toHaveAttribute("data-state", "connected");
    const bar = modal.getByTestId("overall-progress");
    await expect.poll(async () => Number(await bar.getAttribute("aria-valuenow")), { timeout: 30_000 })
      .toBeGreaterThan(0);
    const before = Number(await bar.getAttribute("aria-valuenow"));

    // A crash, not a polite shutdown.
    server.kill("SIGKILL");
    await new Promise((r) => server.once("exit", r));
    await expect(tag).toHaveAttribute("data-state", "reconnecting", { timeout: 15_000 });

    server = startServer();
    await waitHealthy();
    await expect(tag).toHaveAttribute("data-state", "connected", { timeout: 30_000 });
    // The percentage resumes from where it was, never below.
    expect(Number(await bar.getAttribute("aria-valuenow"))).toBeGreaterThanOrEqual(before);

    await expect(page.locator(".toast", { hasText: "Batch test completed" })).toBeVisible({ timeout: 120_000 });
    const batch = await call(page, "get_batch", { id });
    expect(batch.status).toBe("completed");
    expect(batch.completed_tests).toBe(batch.total_tests);
    expect(errors).toEqual([]);
  } finally {
    server.kill("SIGTERM");
  }
});

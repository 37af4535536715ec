// Webhooks on the admin page: an admin adds one (the secret is generated and shown once), sends a
// test, and sees it delivered in the log; the receiver (a local listener) checks the signature
// with Node's own HMAC. This test runs its own server, allowed to call the listener.
import { test, expect } from "@playwright/test";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { watchConsole, signIn, DEMO_USER, DEMO_PASSWORD } from "./helpers.mjs";

const port = Number(process.env.E2E_WEBHOOK_PORT || 3137);
const base = `http://127.0.0.1:${port}`;
const bin = process.env.DIFY_BENCH_BIN || path.resolve("../target/debug/dify-bench");
const siteRoot = process.env.DIFY_BENCH_SITE_ROOT || path.resolve("../target/site");

// A receiver on a random port that records every request.
async function startReceiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      got.push({ headers: req.headers, body, url: req.url });
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { server, got, port: server.address().port };
}

async function waitHealthy() {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not become healthy");
}

test("an admin adds a webhook, sends a test and sees it delivered, signed", async ({ page }) => {
  const errors = watchConsole(page);
  const receiver = await startReceiver();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dify-bench-webhooks-"));
  const child = spawn(bin, [
    "serve", "--demo", "--addr", `127.0.0.1:${port}`,
    "--database-url", `sqlite://${dir}/hooks.db`, "--site-root", siteRoot,
    "--allow-host", `127.0.0.1:${receiver.port}`, "--webhook-retry-base-ms", "200",
  ], { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, DIFY_BENCH_DEMO_PASSWORD: DEMO_PASSWORD } });
  try {
    await waitHealthy();
    await signIn(page, DEMO_USER, DEMO_PASSWORD, base);
    await page.goto(`${base}/admin`);
    await page.waitForSelector("html[data-hydrated]");
    const panel = page.getByTestId("webhooks");
    await expect(panel.getByText("No webhooks yet.")).toBeVisible();

    await panel.getByTestId("add-webhook").click();
    const form = page.getByTestId("webhook-form");
    await form.getByLabel("Name").fill("ops channel");
    await form.getByLabel("URL").fill(`http://127.0.0.1:${receiver.port}/hook`);
    // Every event is chosen by default; alerts are left out here.
    await form.getByLabel("Alert raised").uncheck();
    await form.getByRole("button", { name: "Save" }).click();
    await expect(form).toBeHidden();

    // The generated secret, shown this once.
    const once = panel.getByTestId("webhook-secret");
    await expect(once).toBeVisible();
    const secret = (await once.locator("code").textContent()).trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const row = panel.locator('[data-testid="webhook-row"][data-webhook="ops channel"]');
    await expect(row).toContainText("Batch completed");
    await expect(row).not.toContainText("Alert raised");
    await expect(row.locator("code")).toHaveText(`whsec_…${secret.slice(-4)}`);
    await once.getByRole("button", { name: "Close" }).click();
    await expect(once).toBeHidden();

    await row.getByTestId("test-webhook").click();
    const log = page.getByTestId("webhook-log");
    await expect(log).toContainText("Deliveries of ops channel");
    const delivered = log.locator('[data-testid="delivery-row"][data-status="delivered"]');
    await expect(delivered).toHaveCount(1, { timeout: 15_000 });
    await expect(delivered).toContainText("Test");
    await expect(delivered).toContainText("200");
    await expect(delivered).toContainText("Delivered");

    // The receiver got it once, signed over "t.body" with the secret the page showed.
    expect(receiver.got.length).toBe(1);
    const req = receiver.got[0];
    expect(req.url).toBe("/hook");
    expect(req.headers["x-dify-bench-event"]).toBe("webhook.test");
    const [, t, v1] = req.headers["x-dify-bench-signature"].match(/^t=(\d+),v1=([0-9a-f]{64})$/);
    const want = crypto.createHmac("sha256", secret).update(`${t}.${req.body}`).digest("hex");
    expect(v1).toBe(want);
    expect(JSON.parse(req.body).text).toContain("ops channel");

    // The secret is not on the page any more, not even after a reload.
    await page.reload();
    await page.waitForSelector("html[data-hydrated]");
    expect(await page.content()).not.toContain(secret);

    // 360 px wide: the page does not scroll sideways (tables scroll inside their frame).
    await page.setViewportSize({ width: 360, height: 740 });
    await row.getByTestId("show-deliveries").click();
    await expect(page.getByTestId("webhook-log")).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    expect(errors).toEqual([]);
  } finally {
    child.kill("SIGKILL");
    receiver.server.close();
  }
});

// Accounts in the browser: signing in and out, what a viewer sees, a session that ends under an
// open page, and the first-run setup link of a server with no user.
import { test, expect } from "@playwright/test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { api, open, shot, signIn, watchConsole, DEMO_USER, DEMO_PASSWORD } from "./helpers.mjs";

const signedOut = { storageState: { cookies: [], origins: [] } };

test.describe("signed out", () => {
  test.use(signedOut);

  test("a page sends a visitor to sign in and back; sign out ends the session", async ({ page }) => {
    const errors = watchConsole(page);
    await page.goto("/cases?x=1");
    await expect(page).toHaveURL(/\/login\?next=%2Fcases%3Fx%3D1$/);
    await page.waitForSelector("html[data-hydrated]");
    await shot(page, "sign-in.png");
    await page.getByLabel("Username").fill(DEMO_USER);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert")).toHaveText("wrong username or password");
    await page.getByLabel("Password").fill(DEMO_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/cases\?x=1$/);
    await page.waitForSelector("html[data-hydrated]");
    const menu = page.getByTestId("user-menu");
    await expect(menu).toContainText(DEMO_USER);
    await expect(menu.getByRole("link", { name: "Admin" })).toBeVisible();

    await menu.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/login$/);
    await page.goto("/");
    await expect(page).toHaveURL(/\/login\?next=%2F$/);
    // The old cookie is gone from the server too: the API refuses it.
    const res = await page.request.post("/api/list_versions", { data: {} });
    expect(res.status()).toBe(401);
    // The wrong password above made the browser log its 401.
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
  });
});

test("a viewer sees no write controls, and the server refuses its writes", async ({ page, request, browser }) => {
  const name = `viewer-${Date.now()}`;
  const created = await api(request, "create_user", { username: name, password: "viewer-password-1", role: "viewer" });
  expect(created.status).toBe(200);

  const context = await browser.newContext(signedOut);
  const viewer = await context.newPage();
  const errors = watchConsole(viewer);
  await signIn(viewer, name, "viewer-password-1");
  await expect(viewer.getByTestId("user-menu")).toContainText(name);
  await expect(viewer.getByTestId("user-menu").getByRole("link", { name: "Admin" })).toHaveCount(0);
  // Versions: listed, but no add / edit / delete / test / batch test, and no live switches.
  await expect(viewer.getByRole("cell", { name: "Workflow baseline", exact: true })).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Add version" })).toHaveCount(0);
  await expect(viewer.getByTestId("batch-test-button")).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Edit" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Test connection" })).toHaveCount(0);
  await expect(viewer.getByTestId("enable-version")).toHaveCount(0);
  // Cases: exports yes, editing no.
  await open(viewer, "/cases");
  await expect(viewer.getByRole("button", { name: "Export CSV" })).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Add case" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Import" })).toHaveCount(0);
  await expect(viewer.getByRole("button", { name: "Delete" })).toHaveCount(0);
  // The admin page is not theirs.
  const admin = await viewer.request.get("/admin", { maxRedirects: 0 });
  expect(admin.status()).toBe(403);
  // And a write sent anyway is refused.
  const res = await viewer.request.post("/api/delete_case", { data: { id: 1 } });
  expect(res.status()).toBe(403);
  expect((await res.json()).error).toBe("forbidden");
  expect(errors).toEqual([]);
  await context.close();
});

test("a session that ends under an open page goes to sign in at the next step", async ({ request, browser }) => {
  const name = `editor-${Date.now()}`;
  await api(request, "create_user", { username: name, password: "editor-password-1", role: "editor" });
  const context = await browser.newContext(signedOut);
  const page = await context.newPage();
  // The ended session's calls answer 401 before the page leaves.
  const errors = watchConsole(page, [/401/]);
  await signIn(page, name, "editor-password-1");
  await expect(page.getByTestId("batch-test-button")).toBeVisible();
  // An admin sets a new password: every session of that user ends at once.
  expect((await api(request, "set_user_password", { username: name, password: "another-password-2" })).status).toBe(200);
  await page.getByRole("link", { name: "Test cases" }).click();
  await expect(page).toHaveURL(/\/login\?next=%2Fcases$/);
  await page.waitForSelector("html[data-hydrated]");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  expect(errors).toEqual([]);
  await context.close();
});

test("the admin page creates a token shown once, and revokes it", async ({ page, request }) => {
  const errors = watchConsole(page);
  await open(page, "/admin");
  const tokens = page.getByTestId("tokens");
  const name = `ci-${Date.now()}`;
  await tokens.getByLabel("Token name").fill(name);
  await tokens.getByRole("button", { name: "Create token" }).click();
  const secret = (await tokens.getByTestId("new-token").locator("code").textContent()).trim();
  expect(secret).toMatch(/^dbt_/);
  await shot(page, "admin-page.png", { fullPage: true });
  // It works as a bearer token (a viewer's, the default role) ...
  const ok = await request.post("/api/list_versions", { data: {}, headers: { authorization: `Bearer ${secret}` } });
  expect(ok.status()).toBe(200);
  // ... and is never shown again.
  await page.reload();
  await page.waitForSelector("html[data-hydrated]");
  await expect(page.getByText(secret)).toHaveCount(0);
  const row = page.locator("tr", { has: page.getByRole("cell", { name, exact: true }) });
  await row.getByRole("button", { name: "Revoke" }).click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Revoke" }).click();
  await expect(row.getByText("revoked")).toBeVisible();
  const gone = await request.post("/api/list_versions", { data: {}, headers: { authorization: `Bearer ${secret}` } });
  expect(gone.status()).toBe(401);
  expect(errors).toEqual([]);
});

test.describe("first run", () => {
  test.use(signedOut);

  test("a server with no user prints a setup link that creates the first admin, once", async ({ page }) => {
    const port = Number(process.env.E2E_SETUP_PORT || 3127);
    const base = `http://127.0.0.1:${port}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dify-bench-setup-"));
    const bin = process.env.DIFY_BENCH_BIN || path.resolve("../target/debug/dify-bench");
    const siteRoot = process.env.DIFY_BENCH_SITE_ROOT || path.resolve("../target/site");
    const child = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`,
      "--database-url", `sqlite://${dir}/setup.db`, "--site-root", siteRoot],
      { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const link = await new Promise((resolve, reject) => {
        const lines = readline.createInterface({ input: child.stdout });
        lines.on("line", (l) => {
          const m = l.match(/(http:\/\/\S+\/setup\?link=\S+)/);
          if (m) resolve(m[1]);
        });
        child.on("exit", () => reject(new Error("the server exited")));
        setTimeout(() => reject(new Error("no setup link printed")), 30_000);
      });
      const errors = watchConsole(page, [/401/]);
      // Without the link, nothing but the sign-in page.
      await page.goto(`${base}/`);
      await expect(page).toHaveURL(/\/login/);
      await page.goto(link);
      await page.waitForSelector("html[data-hydrated]");
      await page.getByLabel("Username").fill("root");
      await page.getByLabel("Password", { exact: true }).fill("first-admin-password");
      await page.getByLabel("Password again").fill("first-admin-password");
      await page.getByRole("button", { name: "Create admin and sign in" }).click();
      await expect(page).toHaveURL(`${base}/admin`);
      await expect(page.getByTestId("user-menu")).toContainText("root");
      await expect(page.getByTestId("users").getByRole("cell", { name: "root", exact: true })).toBeVisible();
      // The link is used up.
      const again = await page.request.post(`${base}/api/setup_admin`, {
        data: { link: new URL(link).searchParams.get("link"), username: "eve", password: "eve-password-123" },
      });
      expect(again.status()).toBe(401);
      expect(errors).toEqual([]);
    } finally {
      child.kill("SIGKILL");
    }
  });
});

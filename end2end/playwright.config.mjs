// Browser tests run Debian's Chromium (never a downloaded browser) against the real server in
// demo mode, on its own port and a throwaway database.
import { defineConfig } from "@playwright/test";
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { chromiumLaunchOptions } from "./chromium.mjs";

const port = Number(process.env.E2E_PORT || 3107);
const bin =
  process.env.DIFY_BENCH_BIN ||
  path.join(os.homedir(), ".cache/dify-bench/target/release/dify-bench"); // as `make e2e`
const siteRoot = process.env.DIFY_BENCH_SITE_ROOT || path.resolve("../target/site");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dify-bench-e2e-"));
// The demo admin's password, for the servers these tests start; the setup project signs in with
// it and every other test starts from that session (storageState).
process.env.DIFY_BENCH_DEMO_PASSWORD ||= "e2e-demo-password";
process.env.E2E_STORAGE_STATE ||= path.join(dataDir, "state.json");

export default defineConfig({
  testDir: "./tests",
  timeout: 90_000,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: chromiumLaunchOptions,
  },
  projects: [
    { name: "setup", testMatch: /auth\.setup\.mjs/ },
    {
      name: "chromium",
      dependencies: ["setup"],
      testMatch: /\.spec\.mjs/,
      use: { storageState: process.env.E2E_STORAGE_STATE },
    },
  ],
  webServer: {
    env: { ...process.env, DIFY_BENCH_DEMO_PASSWORD: process.env.DIFY_BENCH_DEMO_PASSWORD },
    command: `${bin} serve --demo --addr 127.0.0.1:${port} --database-url sqlite://${dataDir}/e2e.db --site-root ${siteRoot}`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});

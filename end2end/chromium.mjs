// How every browser run here launches Debian's Chromium (never a downloaded browser): the
// browser tests (playwright.config.mjs) and the batch-page benchmark (bench/batch-page.mjs).
export const chromiumLaunchOptions = {
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
};

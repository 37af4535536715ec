// Signs in once as the demo admin through the login page, as a person would, and saves the
// session cookie for the other tests (`storageState` in playwright.config.mjs).
import { test as setup, expect } from "@playwright/test";
import { DEMO_USER, DEMO_PASSWORD, STORAGE_STATE, signIn } from "./helpers.mjs";

setup("sign in as the demo admin", async ({ page }) => {
  await signIn(page, DEMO_USER, DEMO_PASSWORD);
  await expect(page.getByTestId("user-menu")).toContainText(DEMO_USER);
  await page.context().storageState({ path: STORAGE_STATE });
});

// Inputs from the app in the browser (issue #12, items 6 and 7): the case form loads a version's
// input form from Dify ("Load from Dify"), shows typed fields with Dify's messages as they are
// filled, saves typed inputs and an assertion added in the form, and shows them again on edit;
// the import dialog takes a Dify Run Batch CSV for a version, naming a bad cell's row and column.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, SIM } from "./helpers.mjs";

// A simulated chat app whose form requires a `region` select (eu, us, apac).
const KEY = "app-chat.q90.strictform.e2e-inputs";
const VERSION = "E2E strict form";

test("a case gets typed inputs from the app's form and an assertion; a Run Batch CSV imports", async ({ page, request }) => {
  // The refused Run Batch preview is a 400 the browser logs.
  const errors = watchConsole(page, [/status of 400/]);
  const saved = await api(request, "save_version", {
    name: VERSION, base_url: SIM, api_key: KEY, app_mode: "chat", response_mode: "blocking",
  });
  expect(saved.status, JSON.stringify(saved.body)).toBe(200);
  const versionId = saved.body.id;

  await open(page, "/cases");
  await page.getByRole("button", { name: "Add case" }).click();
  const form = page.getByTestId("case-form");
  await form.getByLabel("Query", { exact: true }).fill("E2E typed inputs: what is USB4?");
  const inputs = form.getByTestId("case-inputs");
  await inputs.getByTestId("form-version").selectOption({ label: VERSION });
  await inputs.getByTestId("load-from-dify").click();
  await expect(inputs.getByTestId("form-loaded")).toContainText(`inputs in the form of version \u201c${VERSION}\u201d`);
  const field = (v) => inputs.locator(`[data-testid="typed-input"][data-variable="${v}"]`);
  await expect(field("region")).toHaveAttribute("data-type", "select");
  await expect(field("region").getByRole("alert")).toHaveText("region is required in input form");
  // Saving now is refused before it is sent.
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.locator("p.error")).toContainText("Some inputs do not fit the form");

  await field("region").locator("select").selectOption("eu");
  await expect(field("region").getByRole("alert")).toHaveCount(0);
  await field("max_words").locator("input").fill("120");
  await field("attachment").locator("input").fill("ftp://example.com/spec.pdf");
  await expect(field("attachment").getByRole("alert")).toHaveText("attachment: Invalid file url");
  await field("attachment").locator("input").fill("https://example.com/spec.pdf");
  await expect(field("attachment").getByRole("alert")).toHaveCount(0);

  // An assertion, added in the form.
  const assertions = form.getByTestId("case-assertions");
  await expect(assertions).toContainText("No assertions.");
  await assertions.getByTestId("add-assertion").click();
  const row = assertions.getByTestId("assertion-row");
  await expect(row).toHaveCount(1);
  await row.getByLabel("Kind").selectOption("regex");
  await row.getByLabel("Regular expression").fill("(?i)usb ?4");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();

  const stored = (await api(request, "list_cases")).body.find((c) => c.query === "E2E typed inputs: what is USB4?");
  expect(stored.inputs).toEqual({
    region: "eu",
    max_words: 120,
    attachment: { type: "document", transfer_method: "remote_url", url: "https://example.com/spec.pdf" },
  });
  expect(stored.assertions).toEqual([{ type: "regex", pattern: "(?i)usb ?4" }]);

  // Editing shows them again.
  const caseRow = page.locator("tr", { has: page.getByRole("cell", { name: /E2E typed inputs/ }) });
  await caseRow.getByRole("button", { name: "Edit" }).click();
  await expect(form.getByTestId("inputs-json")).toHaveValue(/"region": "eu"/);
  await expect(form.getByTestId("assertion-row").getByLabel("Regular expression")).toHaveValue("(?i)usb ?4");
  await form.getByRole("button", { name: "Cancel" }).click();

  // A Run Batch CSV for the version: a bad cell is named, then the file imports.
  await page.getByRole("button", { name: "Import" }).click();
  const imp = page.getByTestId("import-modal");
  await imp.getByLabel("Format").selectOption("run_batch");
  await imp.getByLabel("Version whose form names the columns").selectOption({ label: VERSION });
  await imp.getByLabel("Content").fill("query,Region\nE2E run batch one,eu\nE2E run batch two,mars\n");
  await imp.getByRole("button", { name: "Preview" }).click();
  await expect(imp.getByTestId("import-error")).toContainText("row 3, column `Region`: region in input form must be one of the following: ['eu', 'us', 'apac']");
  await imp.getByLabel("Content").fill("query,Region,Maximum words\nE2E run batch one,eu,10\nE2E run batch two,apac,\n");
  await imp.getByRole("button", { name: "Preview" }).click();
  await expect(imp.getByTestId("import-preview")).toContainText("2 cases ready to import");
  await imp.getByRole("button", { name: "Import 2 cases" }).click();
  await expect(imp).toBeHidden();
  await expect(page.getByText("2 cases imported")).toBeVisible();
  const imported = (await api(request, "list_cases")).body.filter((c) => c.query.startsWith("E2E run batch"));
  expect(imported.map((c) => c.inputs)).toEqual([{ region: "eu", max_words: 10 }, { region: "apac" }]);

  // The same dialog in Traditional Chinese names the format in it.
  await page.getByRole("button", { name: "繁體中文" }).click();
  await page.getByRole("button", { name: "匯入" }).click();
  await expect(page.getByTestId("import-modal").getByLabel("格式")).toContainText("Dify 批次執行 CSV");
  // Leave the shared server as it was for the other tests.
  for (const c of [stored, ...imported]) await api(request, "delete_case", { id: c.id });
  await api(request, "delete_version", { id: versionId });
  expect(errors).toEqual([]);
});

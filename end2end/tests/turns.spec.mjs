// Multi-turn cases in the browser (issue #12, item 5): a turn is added to a case in the case form
// and saved; a batch runs the conversation on a chat app of the simulator, which answers the
// second turn right only within the conversation; the cell detail lists both turns.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, runBatch, openFirstCell } from "./helpers.mjs";

test("a case with a second turn is saved, run as one conversation, and its turns shown", async ({ page, request }) => {
  const errors = watchConsole(page);
  const SIM = (await api(request, "list_versions")).body[0].base_url;
  const version = (await api(request, "save_version", {
    name: "E2E conversation", base_url: SIM, api_key: "app-chat.q90.ok.e2e-turns",
    app_mode: "chat", response_mode: "streaming",
  })).body.id;

  await open(page, "/cases");
  await page.getByRole("button", { name: "Add case" }).click();
  const form = page.getByTestId("case-form");
  await form.getByLabel("Query").first().fill("Remember: the code word is falcon");
  await form.getByLabel("Expected answer").first().fill("Noted. I will remember: the code word is falcon");
  await form.getByLabel("Keywords").first().fill("falcon");
  const turns = form.getByTestId("case-turns");
  await turns.getByRole("button", { name: "Add a turn" }).click();
  await turns.getByRole("button", { name: "Add a turn" }).click();
  const rows = turns.getByTestId("case-turn");
  await expect(rows).toHaveCount(2);
  await rows.nth(0).getByLabel("Query").fill("Recall what I asked you to remember");
  await rows.nth(1).getByLabel("Query").fill("a turn to drop");
  await expect(rows.nth(1)).toContainText("Turn 3");
  // Reorder: the third turn moves up and becomes turn 2; then it is removed again.
  await rows.nth(1).getByRole("button", { name: "Move up" }).click();
  await expect(rows.nth(0).getByLabel("Query")).toHaveValue("a turn to drop");
  await expect(rows.nth(0)).toContainText("Turn 2");
  await expect(rows.nth(1).getByLabel("Query")).toHaveValue("Recall what I asked you to remember");
  await rows.nth(0).getByRole("button", { name: "Remove turn" }).click();
  const turn = turns.getByTestId("case-turn");
  await expect(turn).toHaveCount(1);
  await expect(turn).toContainText("Turn 2");
  await expect(turn.getByLabel("Query")).toHaveValue("Recall what I asked you to remember");
  await turn.getByLabel("Expected answer").fill("You asked me to remember: the code word is falcon.");
  await turn.getByLabel("Keywords").fill("falcon");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  const row = page.locator("tr", { hasText: "Remember: the code word is falcon" });
  await expect(row.getByTestId("case-turn-count")).toHaveText("2 turns");

  const cases = (await api(request, "list_cases")).body;
  const saved = cases.find((c) => c.query === "Remember: the code word is falcon");
  expect(saved.turns).toEqual([{
    query: "Recall what I asked you to remember",
    expected_answer: "You asked me to remember: the code word is falcon.",
    keywords: ["falcon"], assertions: [],
  }]);
  const id = await runBatch(request, {
    name: "E2E conversation", version_ids: [version], case_ids: [saved.id], concurrency: 2,
  });
  const detail = await openFirstCell(page, id);
  const shown = detail.getByTestId("result-turns").getByTestId("result-turn");
  await expect(shown).toHaveCount(2);
  await expect(shown.nth(0)).toContainText("Turn 1");
  await expect(shown.nth(0)).toContainText("Noted. I will remember: the code word is falcon");
  await expect(shown.nth(1)).toContainText("Turn 2");
  await expect(shown.nth(1)).toContainText("You asked me to remember: the code word is falcon.");
  await expect(shown.locator(".tag-passed")).toHaveCount(2);
  // And in Chinese (the dialog is closed to reach the language switch, then opened again).
  await page.keyboard.press("Escape");
  await expect(detail).toBeHidden();
  await page.getByRole("button", { name: "繁體中文" }).click();
  await page.locator("td.cell button").first().click();
  await expect(shown.nth(1)).toContainText("第 2 輪");
  expect(errors).toEqual([]);
});

// Issue #12 items 5 and 6, the form's gaps: a later turn's own assertions (the case's assertion
// editor) and inputs (variable and value rows; the typed fields once a form is loaded), a bad row
// named by turn and field on save; inputs the loaded form does not declare are shown as rows to
// edit or remove, and saving with some left says Dify ignores them.
test("a turn's assertion and inputs are set in the form and stored; inputs not in the app's form are shown", async ({ page, request }) => {
  const errors = watchConsole(page);
  const SIM = (await api(request, "list_versions")).body[0].base_url;
  const VERSION = "E2E turn form";
  // A simulated chat app whose form requires a `region` select (eu, us, apac).
  const saved = await api(request, "save_version", {
    name: VERSION, base_url: SIM, api_key: "app-chat.q90.strictform.e2e-turn-form",
    app_mode: "chat", response_mode: "blocking",
  });
  expect(saved.status, JSON.stringify(saved.body)).toBe(200);
  const QUERY = "E2E turn form: the first question";

  await open(page, "/cases");
  await page.getByRole("button", { name: "Add case" }).click();
  const form = page.getByTestId("case-form");
  await form.getByLabel("Query", { exact: true }).fill(QUERY);
  await form.getByTestId("inputs-json").fill('{"region": "eu", "stray": "x"}');
  const turns = form.getByTestId("case-turns");
  await turns.getByRole("button", { name: "Add a turn" }).click();
  const turn = turns.getByTestId("case-turn");
  await turn.getByLabel("Query").fill("E2E turn form: the second question");

  // The turn's own assertion, in the case's assertion editor.
  await expect(turn.getByTestId("case-assertions")).toContainText("No assertions.");
  await turn.getByTestId("add-assertion").click();
  const assertion = turn.getByTestId("assertion-row");
  await assertion.getByLabel("Kind").selectOption("contains");
  await assertion.getByLabel("Text").fill("second");
  await expect(form.getByTestId("assertion-row")).toHaveCount(1);

  // Its own inputs as variable and value rows (no form is loaded yet); a value without a
  // variable is refused on save, by turn and field.
  const own = turn.getByTestId("turn-inputs");
  await own.getByTestId("add-input-pair").click();
  await own.getByTestId("input-pair").getByLabel("Value").fill("fr");
  await expect(own.getByRole("alert")).toHaveText("A value has no variable name.");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.locator("p.error")).toHaveText("Turn 2: Inputs for this turn: A value has no variable name.");
  await own.getByTestId("input-pair").getByLabel("Variable").fill("lang");
  await expect(own.getByRole("alert")).toHaveCount(0);

  // The app's form: the case's `stray` and the turn's `lang` are not in it, and are shown so.
  const inputs = form.getByTestId("case-inputs");
  await inputs.getByTestId("form-version").selectOption({ label: VERSION });
  await inputs.getByTestId("load-from-dify").click();
  await expect(inputs.getByTestId("form-loaded")).toContainText(VERSION);
  const stray = inputs.getByTestId("not-in-form");
  await expect(stray).toContainText("Not in this app's form");
  await expect(stray.getByTestId("input-pair")).toHaveCount(1);
  await expect(stray.getByLabel("Variable")).toHaveValue("stray");
  await expect(stray.getByLabel("Value")).toHaveValue("x");
  await stray.getByLabel("Value").fill("y");
  const region = turn.locator('[data-testid="typed-input"][data-variable="region"]');
  await expect(region).toBeVisible();
  // In a turn no input is required: an empty one keeps the case's value.
  await expect(region.getByRole("alert")).toHaveCount(0);
  await region.locator("select").selectOption("us");
  await expect(turn.getByTestId("not-in-form").getByLabel("Variable")).toHaveValue("lang");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.locator(".toast", {
    hasText: "Kept inputs that are not in the app's form (stray, Turn 2: lang): Dify ignores them.",
  })).toBeVisible();
  await expect(form).toBeHidden();

  const find = async () => (await api(request, "list_cases")).body.find((c) => c.query === QUERY);
  let stored = await find();
  expect(stored.inputs).toEqual({ region: "eu", stray: "y" });
  expect(stored.turns).toEqual([{
    query: "E2E turn form: the second question", expected_answer: "", keywords: [],
    assertions: [{ type: "contains", value: "second" }],
    inputs: { lang: "fr", region: "us" },
  }]);

  // Edited again: the turn's assertion is there; the case's stray input is removed.
  const caseRow = page.locator("tr", { has: page.getByRole("cell", { name: QUERY }) });
  await caseRow.getByRole("button", { name: "Edit" }).click();
  await expect(turn.getByTestId("assertion-row").getByLabel("Text")).toHaveValue("second");
  await expect(own.getByTestId("input-pair").nth(0).getByLabel("Variable")).toHaveValue("lang");
  await inputs.getByTestId("form-version").selectOption({ label: VERSION });
  await inputs.getByTestId("load-from-dify").click();
  await stray.getByRole("button", { name: "Remove" }).click();
  await expect(stray).toHaveCount(0);
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  stored = await find();
  expect(stored.inputs).toEqual({ region: "eu" });
  expect(stored.turns[0].inputs).toEqual({ lang: "fr", region: "us" });
  expect(errors).toEqual([]);
});

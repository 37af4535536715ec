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

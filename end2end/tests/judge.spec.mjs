// The LLM judge in the browser (issue #10's "Done when"): an admin configures a judge, a batch runs
// with it, a cell's detail gives the judge's reason, a reviewed verdict changes the reviewed pass
// rate, a promoted answer becomes the case's next revision, and the judge's page calibrates it.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, SIM, versionRow, shot } from "./helpers.mjs";

const QUESTION = "What is the maximum lane rate of MIPI D-PHY v2.5?";
const EXPECTED = "MIPI D-PHY v2.5 supports up to 4.5 Gbps per data lane.";
const PARAPHRASE = "Each lane tops out at 4.5 Gbps in version 2.5.";
const NEGATION = "MIPI D-PHY v2.5 does not support up to 4.5 Gbps per data lane.";

test("configure a judge, run a batch with it, read its reason, review, promote, calibrate", async ({ page, request }) => {
  const errors = watchConsole(page);
  await page.setViewportSize({ width: 1280, height: 900 });

  // An admin adds a judge on the admin page; its key is write-only.
  await open(page, "/admin");
  const panel = page.getByTestId("judges");
  await expect(panel.getByTestId("judge-row")).toHaveCount(2); // the demo's judge and embeddings
  await panel.getByTestId("add-judge").click();
  const form = page.getByTestId("judge-form");
  await form.getByLabel("Name").fill("E2E judge");
  await form.getByTestId("judge-kind").selectOption("openai");
  await form.getByLabel("Base URL").fill(SIM);
  await form.getByLabel("API key").fill("sk-judge.e2e-secret-key-9876");
  await form.getByLabel("Model").fill("sim-judge");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  const row = panel.getByTestId("judge-row").filter({ hasText: "E2E judge" });
  await expect(row).toContainText("sk-…9876");
  expect(await page.content()).not.toContain("e2e-secret-key-9876");
  await row.getByTestId("test-judge").click();
  await expect(page.locator(".toast", { hasText: "The judge answered" })).toBeVisible();
  await shot(page, "admin-judges.png");

  // A version that answers each case's `sim_answer`, and two cases: a paraphrase and a negation.
  const version = (await api(request, "save_version", {
    name: "E2E scripted", base_url: SIM, api_key: "app-chat.q100.scripted.e2e",
    app_mode: "chat", response_mode: "blocking",
  })).body;
  const cases = [
    { name: "E2E paraphrase", query: QUESTION, expected_answer: EXPECTED,
      keywords: ["4.5 Gbps", "per data lane"], category: "e2e-judge", inputs: { sim_answer: PARAPHRASE } },
    { name: "E2E negation", query: QUESTION, expected_answer: EXPECTED,
      keywords: ["4.5 Gbps", "per data lane"], category: "e2e-judge", inputs: { sim_answer: NEGATION } },
  ];
  expect((await api(request, "import_cases", { format: "json", content: JSON.stringify(cases) })).status).toBe(200);

  // Launch from the versions page with the new judge (the demo's judge is chosen by default).
  await open(page, "/");
  await versionRow(page, "E2E scripted").getByTestId("select-version").check();
  await page.getByTestId("batch-test-button").click();
  const config = page.getByTestId("batch-config");
  await expect(config.getByLabel("LLM judge")).toHaveValue(/\d+/);
  await config.getByLabel("LLM judge").selectOption({ label: "E2E judge" });
  await config.getByLabel("Rubric").selectOption("correctness");
  await config.getByLabel("By category or tag").check();
  await config.locator(".chip", { hasText: "e2e-judge" }).locator("input").check();
  await expect(config.getByTestId("tests-planned")).toContainText("= 2 tests");
  await config.getByRole("button", { name: "Start" }).click();
  const modal = page.getByTestId("progress-modal");
  await expect(modal.getByTestId("notice")).toContainText("completed", { timeout: 60_000 });
  await expect(modal.getByTestId("version-judge")).toBeVisible();
  const batch = (await api(request, "list_batches", { limit: 1 })).body[0];
  await open(page, `/batches/${batch.id}`);

  // The cards: the judge's mean and its calls.
  const card = page.getByTestId("version-card");
  await expect(card.getByTestId("judge-mean")).not.toHaveText("—");
  await expect(card.getByTestId("judge-calls")).toContainText("2 judged");
  const rateBefore = await card.getByTestId("pass-rate").textContent();

  // The negation's cell: the judge failed it and says why.
  const matrix = page.getByTestId("matrix");
  const negRow = matrix.locator("tr", { has: page.locator("th", { hasText: "E2E negation" }) });
  await negRow.locator("td.cell button").click();
  const detail = page.getByTestId("result-detail");
  await expect(detail.getByTestId("detail-judge")).toContainText("fail");
  await expect(detail.getByTestId("detail-judge-reason")).toContainText("4.5 Gbps");
  await shot(page, "judge-detail.png");

  // A person overrides the verdict: the reviewed pass rate moves, the automatic one stays.
  await detail.getByTestId("review-comment").fill("The spec allows it; the answer is fine.");
  await detail.getByTestId("review-pass").click();
  await expect(detail.getByTestId("review-state")).toContainText("Reviewed as pass by demo");
  await detail.getByRole("button", { name: "Close" }).click();
  await expect(card.getByTestId("reviewed-pass-rate")).toBeVisible();
  await expect(card.getByTestId("pass-rate")).toHaveText(rateBefore);
  await expect(card.getByTestId("reviewed-pass-rate")).not.toContainText(rateBefore);
  await expect(card.getByTestId("reviewed-pass-rate")).toContainText("1 reviewed");

  // Promote the paraphrase to the expected answer: the case's next revision.
  const paraRow = matrix.locator("tr", { has: page.locator("th", { hasText: "E2E paraphrase" }) });
  await paraRow.locator("td.cell button").click();
  await detail.getByTestId("promote-answer").click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Make this the expected answer" }).click();
  await expect(page.locator(".toast", { hasText: "revision 2" })).toBeVisible();
  await detail.getByRole("button", { name: "Close" }).click();
  await open(page, "/cases");
  const caseRow = page.locator("tr", { has: page.getByRole("cell", { name: /E2E paraphrase/ }) });
  await expect(caseRow.getByTestId("case-revision")).toHaveText("revision 2");
  await expect(caseRow).toContainText(PARAPHRASE);
  await caseRow.getByRole("button", { name: "Edit" }).click();
  const revisions = page.getByTestId("case-form").getByTestId("case-revisions");
  await revisions.locator("summary").click();
  await expect(revisions).toContainText(EXPECTED);
  await expect(revisions).toContainText(`promoted the answer of batch ${batch.id}`);
  await page.getByTestId("case-form").getByRole("button", { name: "Cancel" }).click();

  // The judge's page: one review so far, so the calibration warns.
  const judges = (await api(request, "list_judges")).body;
  const judge = judges.find((j) => j.name === "E2E judge");
  await open(page, `/judges/${judge.id}`);
  const calibration = page.getByTestId("calibration-card");
  await expect(calibration.getByTestId("calibration-reviews")).toHaveText("1");
  await expect(calibration.getByTestId("calibration-warning")).toContainText("at least 20");
  await shot(page, "judge-calibration.png");
  expect(errors).toEqual([]);
});

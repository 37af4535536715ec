// Pinned workflow versions and "what exactly was tested" in the browser (issue #12, items 1 and
// 2): the version form takes a pin (a typo is named before saving), the versions list shows it,
// the batch page shows each version's app — pinned and answering workflow version, mode, input
// form — and warns, in both languages and on a 360 px screen, when the app changed underneath
// the version since its previous batch.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, SIM, versionRow } from "./helpers.mjs";

const KEY = "app-workflow.q80.e2e-pin";

async function runBatch(request, body) {
  const started = await api(request, "start_batch", body);
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  const id = started.body;
  await expect.poll(async () => (await api(request, "get_batch", { id })).body.status, { timeout: 60_000 })
    .toMatch(/completed|error|cancelled/);
  // The record is written beside the batch: wait for its launch read and its first answer's id.
  await expect.poll(async () => {
    const list = (await api(request, "batch_identity", { id })).body;
    return list.every((v) => v.identity && v.identity.recorded_at > 0 && v.identity.seen_workflow_id);
  }, { timeout: 20_000 }).toBe(true);
  return id;
}

test("a pinned version's batch page shows what exactly was tested, and warns when its app changed", async ({ page, request }) => {
  const errors = watchConsole(page);
  // The simulated app's published workflow versions (the simulator tells its own key).
  const sim = (path, method = "get") =>
    request[method](`${SIM}/sim/${path}`, { headers: { authorization: `Bearer ${KEY}` } });
  const published = (await (await sim("requests")).json()).published;
  expect(published.length).toBeGreaterThanOrEqual(3);

  await open(page, "/");
  await page.getByRole("button", { name: "Add version" }).click();
  const form = page.getByTestId("version-form");
  await form.getByLabel("Name").fill("E2E pinned workflow");
  await form.getByLabel("Base URL").fill(SIM);
  await form.getByLabel("API key").fill(KEY);
  // The pin is asked for workflow and chatflow apps only.
  await expect(form.getByTestId("version-workflow-id")).toHaveCount(0);
  await form.getByLabel("App mode").selectOption("workflow");
  const pin = form.getByTestId("version-workflow-id");
  await pin.fill("latest");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form.getByRole("alert")).toContainText("is not a Dify workflow id");
  await pin.fill(published[1]);
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  await expect(versionRow(page, "E2E pinned workflow").getByTestId("version-pin")).toHaveAttribute("title", published[1]);

  const v = (await api(request, "list_versions")).body.find((x) => x.name === "E2E pinned workflow").id;
  const cases = (await api(request, "list_cases")).body.slice(0, 3).map((c) => c.id);
  const first = await runBatch(request, { name: "E2E pinned 1", version_ids: [v], case_ids: cases, concurrency: 3 });

  await open(page, `/batches/${first}`);
  const tested = page.getByTestId("what-was-tested");
  await expect(tested.getByRole("heading", { name: "What exactly was tested" })).toBeVisible();
  const record = tested.getByTestId("identity").filter({ hasText: "E2E pinned workflow" });
  await expect(record.getByTestId("identity-name")).toHaveText(/^Demo workflow app/);
  await expect(record.getByTestId("identity-mode")).toHaveText("workflow");
  await expect(record.getByTestId("identity-pinned")).toHaveText(published[1]);
  await expect(record.getByTestId("identity-seen")).toHaveText(published[1]);
  await expect(record.getByTestId("identity-form")).toHaveText(/^sha256:[0-9a-f]{16}$/);
  await expect(record).toContainText("query (text-input)");
  await expect(record.getByTestId("app-changed")).toHaveCount(0);
  expect(await page.content()).not.toContain(KEY);

  // Someone republishes the app in Dify: the pin holds, but the input form gained a field.
  expect((await sim("republish", "post")).status()).toBe(200);
  const second = await runBatch(request, { name: "E2E pinned 2", version_ids: [v], case_ids: cases, concurrency: 3 });
  await open(page, `/batches/${second}`);
  const warning = page.getByTestId("what-was-tested").getByTestId("app-changed");
  await expect(warning).toContainText("The app changed underneath this version");
  await expect(warning).toContainText(`since batch #${first}`);
  await expect(warning.locator("li")).toHaveCount(1);
  await expect(warning.locator("li")).toHaveAttribute("data-kind", "input_form");
  await expect(page.getByTestId("what-was-tested")).toContainText("audience (text-input)");

  await page.getByRole("button", { name: "繁體中文" }).click();
  await expect(page.getByTestId("what-was-tested").getByRole("heading", { name: "實際測試的內容" })).toBeVisible();
  await expect(warning).toContainText("此版本背後的應用已變更");
  await expect(warning.locator("li")).toContainText("輸入表單原為");
  await page.getByRole("button", { name: "English" }).click();

  // A 360 px screen: the section fits, long ids wrap.
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, "horizontal overflow on the batch page").toBeLessThanOrEqual(0);
  const box = await page.getByTestId("what-was-tested").boundingBox();
  expect(box.x + box.width).toBeLessThanOrEqual(360);

  // The compare page warns above its verdict.
  await open(page, `/compare?base=${first}:${v}&cand=${second}:${v}`);
  await expect(page.getByTestId("app-changed")).toContainText("its input form was");
  expect(errors).toEqual([]);
});

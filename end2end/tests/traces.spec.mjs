// Node traces in the browser (issue #12, item 3): a chatflow cell's detail shows its node timeline,
// retrieved chunks and node assertions; the compare page names the first node where two versions
// of the flow part ways.
import { test, expect } from "@playwright/test";
import { watchConsole, open, api, runBatch, openFirstCell } from "./helpers.mjs";

test("a chatflow cell shows its node timeline, and compare names the first differing node", async ({ page, request }) => {
  const errors = watchConsole(page);
  const SIM = (await api(request, "list_versions")).body[0].base_url;
  const save = async (name, key) => (await api(request, "save_version", {
    name, base_url: SIM, api_key: key, app_mode: "advanced-chat", response_mode: "streaming",
  })).body.id;
  // `.ok`: no injected faults, so both runs answer every case.
  const good = await save("E2E flow good", "app-advanced-chat.q92.ok.e2e-flow-good");
  const poor = await save("E2E flow poor", "app-advanced-chat.q30.ok.e2e-flow-poor");
  const cases = (await api(request, "list_cases")).body.slice(0, 2);
  const id = await runBatch(request, {
    name: "E2E traces", version_ids: [good, poor], case_ids: cases.map((c) => c.id), concurrency: 4,
  });

  // The cell detail: four nodes in order, each finished, with a bar; the chunk the answer cites.
  const detail = await openFirstCell(page, id);
  const timeline = detail.getByTestId("node-timeline");
  await expect(timeline).toBeVisible();
  await expect(timeline.locator("li.node")).toHaveCount(4);
  await expect(timeline.locator(".node-title")).toHaveText(["Start", "Knowledge Retrieval", "LLM", "Answer"]);
  await expect(timeline.locator("li.node-succeeded")).toHaveCount(4);
  await expect(timeline.locator(".node-bar").first()).toBeVisible();
  await expect(detail.getByTestId("retrieval")).toContainText("-handbook.pdf");
  // A node's output opens on demand.
  await timeline.locator("li.node").nth(2).getByText("Output").click();
  await expect(timeline.locator("li.node").nth(2).locator(".answer-text")).not.toBeEmpty();
  await page.keyboard.press("Escape");

  // Compare: opening a case names the retrieval node, where the two versions first differ.
  await open(page, `/compare?base=${id}:${good}&cand=${id}:${poor}`);
  const toggle = page.getByTestId("compare-table").locator("tbody tr").first().getByRole("button");
  await toggle.click();
  const diff = page.getByTestId("case-panel").getByTestId("first-node-diff");
  await expect(diff).toContainText("First differing node: Knowledge Retrieval");
  await expect(diff).toContainText("its output differs");
  // And in Chinese.
  await page.getByRole("button", { name: "繁體中文" }).click();
  await expect(diff).toContainText("第一個不同的節點");
  expect(errors).toEqual([]);
});

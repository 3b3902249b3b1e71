// The widget and the dashboard in a real browser against `make run`'s host: run in the browser, submit, what a reader
// sees of hidden tests, events into the stats, the dashboard's charts, and an embed on another origin.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { asOrganization, freePort, launchBrowser, screenshotPath, startDevHost, startOtherOrigin } from "./harness.mjs";

const SOLUTION = "print(sum(int(n) for n in input().split()))";
const WRONG = "print(3)";

let host;
let other;
let browser;
/** Every event batch the pages sent and the server took (202), by event type. */
const sent = { view: 0, run: 0, submit: 0, pass: 0, fail: 0, error: 0 };

before(async () => {
  const otherPort = await freePort();
  host = await startDevHost({ corsOrigin: `http://127.0.0.1:${otherPort}` });
  other = await startOtherOrigin(otherPort, () =>
    `<!doctype html><html><body><h1>Another site</h1><script src="${host.base}/embed.js" data-capsule="${host.capsule}"></script></body></html>`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await other?.stop();
  await host?.stop();
});

/** A page that records its requests and counts the event batches the server accepted. */
async function openPage(url) {
  const page = await browser.context.newPage();
  const requests = [];
  page.on("request", (request) => requests.push(request));
  page.on("response", async (response) => {
    if (new URL(response.url()).pathname !== "/api/events" || response.request().method() !== "POST") return;
    if (response.status() !== 202) return;
    for (const event of JSON.parse(response.request().postData()).events) sent[event.type] += 1;
  });
  await page.goto(url);
  await page.getByTestId("capsule-title").waitFor();
  return { page, requests };
}

async function typeProgram(page, source) {
  await page.getByTestId("editor").locator(".cm-content").click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(source);
}

/** What an anonymous reader gets for the capsule once it is `expected`, or after 5 s (an instance trusts the capsule's
 * head it read for 1 s). */
async function readersSee(expected) {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { status } = await fetch(`${host.base}/api/capsules/${host.capsule}`);
    if (status === expected || Date.now() > deadline) return status;
    await new Promise((wait) => setTimeout(wait, 200));
  }
}

/** Waits until the page's queued events were sent and accepted. */
async function flushEvents(page) {
  const accepted = page.waitForResponse((response) => new URL(response.url()).pathname === "/api/events" && response.status() === 202);
  await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
  await page.evaluate(() => window.dispatchEvent(new Event("pagehide")));
  await accepted;
}

test("the demo page loads the capsule; a correct program runs in the browser, with no judge or run request, and is accepted", async () => {
  const { page, requests } = await openPage(`${host.base}/demo/`);
  const rendered = await page.evaluate(() => performance.getEntriesByName("codecapsule:rendered")[0]?.startTime);
  assert.ok(rendered > 0, "the widget marks its first render");
  writeFileSync(screenshotPath("first-render-ms.txt"), `${rendered.toFixed(1)}\n`);
  console.log(`first render: ${rendered.toFixed(1)} ms after navigation start`);
  assert.equal(await page.getByTestId("capsule-title").textContent(), "Sum of a line");

  await typeProgram(page, SOLUTION);
  await page.getByTestId("run").click();
  await page.getByText(/in your browser$/).waitFor({ timeout: 120_000 });
  assert.equal(await page.getByTestId("output").textContent(), "3\n");
  const served = requests.map((request) => new URL(request.url()).pathname);
  assert.ok(served.some((path) => path.endsWith("/python-3.12.0.wasm")), `the runtime came from the packs: ${served}`);
  assert.deepEqual(served.filter((path) => /^\/api\/(judge|run)$|\/run$/.test(path)), [], "Run asked no server to run the program");

  await page.getByTestId("submit").click();
  await page.getByTestId("verdict").filter({ hasText: /\w/ }).waitFor();
  assert.equal(await page.getByTestId("verdict").textContent(), "accepted");
  await page.screenshot({ path: screenshotPath("widget-accepted.png"), fullPage: true });
  await flushEvents(page);
  await page.close();
});

test("a wrong program shows the failing visible test whole and only a verdict for the hidden ones", async () => {
  const { page } = await openPage(`${host.base}/demo/`);
  await typeProgram(page, WRONG);
  const answered = page.waitForResponse((response) => response.url().endsWith("/submissions"));
  await page.getByTestId("submit").click();
  const answer = await (await answered).json();
  await page.getByTestId("verdict").filter({ hasText: /\w/ }).waitFor();
  assert.equal(await page.getByTestId("verdict").textContent(), "wrong_answer");
  const rows = page.getByTestId("test-result");
  assert.equal(await rows.count(), 3);
  const visible = page.locator('[data-testid=test-result][data-test="two"]');
  assert.equal(await visible.getAttribute("data-verdict"), "accepted", "3 is the right sum of the visible 1 2");
  for (const hidden of ["negatives", "large"]) {
    const row = page.locator(`[data-testid=test-result][data-test="${hidden}"]`);
    assert.equal(await row.getAttribute("data-verdict"), "wrong_answer");
    assert.equal((await row.textContent()).trim(), `✗Hidden test ${hidden}Wrong answer`);
  }
  for (const test of answer.tests.filter((test) => test.hidden)) {
    assert.deepEqual(Object.keys(test).sort(), ["hidden", "id", "verdict", "weight"], "the server said nothing else of a hidden test");
  }
  const text = await page.locator(".codecapsule").evaluate((host) => host.shadowRoot.textContent);
  for (const secret of ["-4 9 -5", "2000000000000"]) assert.ok(!text.includes(secret), `the page shows nothing of a hidden test (${secret})`);

  await typeProgram(page, "print(int(input().split()[0]) - 1)");
  await page.getByTestId("submit").click();
  await page.locator('[data-testid=test-result][data-test="two"][data-verdict="wrong_answer"]').waitFor();
  const detail = await page.locator('[data-testid=test-result][data-test="two"]').textContent();
  assert.match(detail, /Input1 2/);
  assert.match(detail, /Expected3/);
  assert.match(detail, /Your output0/);
  await page.screenshot({ path: screenshotPath("widget-wrong-answer.png"), fullPage: true });
  await flushEvents(page);
  await page.close();
});

test("an embed on a page of another origin renders, runs and submits through CORS", async () => {
  const { page, requests } = await openPage(`${other.origin}/`);
  await typeProgram(page, SOLUTION);
  await page.getByTestId("run").click();
  await page.getByText(/in your browser$/).waitFor({ timeout: 120_000 });
  assert.equal(await page.getByTestId("output").textContent(), "3\n");
  await page.getByTestId("submit").click();
  await page.getByTestId("verdict").filter({ hasText: /\w/ }).waitFor();
  assert.equal(await page.getByTestId("verdict").textContent(), "accepted");
  const submission = requests.find((request) => request.url().endsWith("/submissions"));
  assert.equal((await submission.allHeaders()).origin, other.origin, "the submission was a cross-origin request");
  await page.screenshot({ path: screenshotPath("widget-other-origin.png"), fullPage: true });
  await flushEvents(page);
  await page.close();
});

test("events reach the stats after a processor run, and the dashboard charts those numbers", async () => {
  assert.ok(sent.view >= 3 && sent.run >= 2 && sent.submit >= 4, `the pages sent their events: ${JSON.stringify(sent)}`);
  const processed = await fetch(`${host.base}/analytics-processor`, { method: "POST", body: "{}" });
  assert.equal(processed.status, 200, await processed.text());
  const { status, body: stats } = await asOrganization(host, `/api/capsules/${host.capsule}/stats`);
  assert.equal(status, 200, JSON.stringify(stats));
  const sum = (field) => stats.hours.reduce((total, hour) => total + hour[field], 0);
  assert.equal(sum("views"), sent.view);
  assert.equal(sum("runs"), sent.run);
  assert.equal(sum("submissions"), sent.submit);
  assert.equal(sum("passes"), sent.pass);
  assert.equal(sum("fails"), sent.fail);
  assert.equal(sum("verified_attempts"), 4, "four submissions were judged on the server");
  assert.equal(sum("verified_accepted"), 2);

  const page = await browser.context.newPage();
  await page.goto(`${host.base}/dashboard/`);
  await page.getByTestId("api-key").fill(host.key);
  await page.getByTestId("sign-in").click();
  await page.locator(`[data-testid=capsules] tr[data-capsule="${host.capsule}"]`).waitFor();
  assert.match(await page.locator(`tr[data-capsule="${host.capsule}"]`).textContent(), /Sum of a linepythonpublishedpublic/);
  await page.getByTestId("total-views").filter({ hasText: /\d/ }).waitFor();
  assert.equal(await page.getByTestId("total-views").textContent(), String(sent.view));
  assert.equal(await page.getByTestId("total-runs").textContent(), String(sent.run));
  assert.equal(await page.getByTestId("total-submissions").textContent(), "4");
  assert.equal(await page.getByTestId("total-accepted").textContent(), "50%");
  const bars = page.locator('figure[data-metric="views"] rect.bar');
  assert.equal(await bars.count(), 1, "this hour's views are one bar");
  assert.equal(await bars.first().getAttribute("data-value"), String(sent.view));
  assert.equal(await page.locator("[data-testid=submissions] tbody tr").count(), 4);
  await page.screenshot({ path: screenshotPath("dashboard.png"), fullPage: true });

  await page.getByTestId("unpublish").click();
  await page.locator(`tr[data-capsule="${host.capsule}"] [data-testid=publish]`).waitFor({ timeout: 60_000 });
  assert.equal(await readersSee(404), 404, "an unpublished capsule is no reader's (within the head's 1 s cache)");
  await page.getByTestId("publish").click();
  await page.locator(`tr[data-capsule="${host.capsule}"] [data-testid=unpublish]`).waitFor({ timeout: 60_000 });
  assert.equal(await readersSee(200), 200);
  await page.close();
});

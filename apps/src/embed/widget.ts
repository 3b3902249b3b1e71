// One capsule rendered into a shadow root (the host page's CSS cannot reach it): title, description, editor, Run,
// Submit, Reset, hints, output and per-test results. A hidden test is shown as its verdict only, because that is all
// the server says of it.
import type { CapsuleApi, ReaderCapsule, RunOutcome, SubmissionReport, TestReport } from "./api";
import { createEditor } from "./editor";
import type { EventQueue } from "./events";
import { renderMarkdown } from "./markdown";
import { BROWSER_LANGUAGES, type BrowserRunner } from "./runner";
import styles from "./styles.css?inline";
import { summary, verdictWords } from "./verdict";

/** The server's default output cap when a capsule sets none (64 KiB). */
const DEFAULT_OUTPUT_KB = 64;

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child) element.append(child);
  return element;
}

export interface WidgetDeps {
  api: CapsuleApi;
  runner: BrowserRunner;
  events: EventQueue;
  visitorId: string;
}

/** Renders `capsule` into `root`; answers once it is on the page. */
export function renderCapsule(root: ShadowRoot, capsule: ReaderCapsule, deps: WidgetDeps): void {
  const { api, runner, events, visitorId } = deps;
  const starter = capsule.starter.source ?? "";
  const callsFunction = capsule.entry?.kind === "function";
  const firstVisible = capsule.tests.find((test) => !test.hidden);
  const inBrowser = BROWSER_LANGUAGES.has(capsule.language);

  const description = h("div", { class: "description" }, renderMarkdown(capsule.description_md ?? ""));
  const editorBox = h("div", { class: "editor", "data-testid": "editor" });
  const stdinId = `stdin-${capsule.id}`;
  const stdin = h("textarea", { id: stdinId, class: "stdin", rows: "2", spellcheck: "false" });
  stdin.value = firstVisible?.stdin ?? "";
  const run = h("button", { type: "button", "data-testid": "run", class: "primary" }, "Run");
  const submit = h("button", { type: "button", "data-testid": "submit", class: "primary" }, "Submit");
  const reset = h("button", { type: "button", "data-testid": "reset" }, "Reset");
  const hintButton = h("button", { type: "button", "data-testid": "hint" }, "Hint");
  const hints = h("ol", { class: "hints", "aria-live": "polite" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const output = h("pre", { class: "output", "data-testid": "output", tabindex: "0", "aria-label": "Output" });
  const verdict = h("p", { class: "verdict", "data-testid": "verdict", "aria-live": "polite" });
  const results = h("ul", { class: "results", "data-testid": "results" });

  root.append(
    h("style", {}, styles),
    h(
      "article",
      { class: "capsule", "aria-label": capsule.title },
      h("h2", { "data-testid": "capsule-title" }, capsule.title),
      description,
      h("label", { class: "label" }, "Your program"),
      editorBox,
      !callsFunction && h("label", { class: "label", for: stdinId }, "Input for Run"),
      !callsFunction && stdin,
      h("div", { class: "actions" }, !callsFunction && run, submit, reset, capsule.hints.length > 0 && hintButton),
      hints,
      status,
      output,
      verdict,
      results,
    ),
  );
  const editor = createEditor(editorBox, root, starter, `${capsule.title}: your program`);

  const busy = (on: boolean) => {
    for (const button of [run, submit, reset]) button.disabled = on;
  };
  const failed = (err: unknown) => {
    events.record("error", capsule.id, { language: capsule.language });
    status.textContent = err instanceof Error ? err.message : String(err);
  };

  run.addEventListener("click", async () => {
    busy(true);
    status.textContent = inBrowser ? "Running in your browser…" : "Running…";
    output.textContent = "";
    verdict.textContent = "";
    results.replaceChildren();
    const started = performance.now();
    try {
      const outcome: RunOutcome = inBrowser
        ? await runner.run(capsule.language, editor.text(), stdin.value, {
            timeMs: capsule.limits.time_ms,
            outputLimitBytes: (capsule.limits.output_kb ?? DEFAULT_OUTPUT_KB) * 1024,
          })
        : await api.run(capsule.id, editor.text(), stdin.value);
      events.record("run", capsule.id, { duration_ms: performance.now() - started, language: capsule.language });
      output.textContent = outcome.stdout + (outcome.stderr ? `${outcome.stdout ? "\n" : ""}${outcome.stderr}` : "");
      status.textContent = `${verdictWords(outcome.status)}${outcome.exit_code ? ` (exit status ${outcome.exit_code})` : ""} in ${outcome.time_ms} ms${inBrowser ? ", in your browser" : ""}`;
    } catch (err) {
      failed(err);
    } finally {
      busy(false);
    }
  });

  submit.addEventListener("click", async () => {
    busy(true);
    status.textContent = "Judging…";
    verdict.textContent = "";
    results.replaceChildren();
    try {
      events.record("submit", capsule.id, { language: capsule.language });
      const report = await api.submit(capsule.id, editor.text(), visitorId);
      events.record(report.verdict === "accepted" ? "pass" : "fail", capsule.id, { language: capsule.language });
      showReport(report);
    } catch (err) {
      failed(err);
    } finally {
      busy(false);
    }
  });

  const showReport = (report: SubmissionReport) => {
    status.textContent = summary(report.passed, report.total);
    verdict.textContent = report.verdict;
    verdict.dataset.verdict = report.verdict;
    verdict.setAttribute("aria-label", verdictWords(report.verdict));
    output.textContent = report.compile && !report.compile.ok ? report.compile.output : "";
    results.replaceChildren(...report.tests.map((test) => resultRow(test, capsule)));
  };

  reset.addEventListener("click", () => {
    editor.setText(starter);
    output.textContent = "";
    verdict.textContent = "";
    status.textContent = "";
    results.replaceChildren();
  });

  let shownHints = 0;
  hintButton.addEventListener("click", () => {
    if (shownHints < capsule.hints.length) {
      hints.append(h("li", {}, renderMarkdown(capsule.hints[shownHints])));
      shownHints += 1;
    }
    if (shownHints >= capsule.hints.length) hintButton.disabled = true;
  });
}

/** One test's row: a visible test with what the program printed and what was expected; a hidden one, its verdict. */
function resultRow(test: TestReport, capsule: ReaderCapsule): HTMLElement {
  const passed = test.verdict === "accepted";
  const row = h(
    "li",
    { class: passed ? "passed" : "failed", "data-testid": "test-result", "data-test": test.id, "data-verdict": test.verdict },
    h("span", { class: "mark", "aria-hidden": "true" }, passed ? "✓" : "✗"),
    h("span", { class: "name" }, test.hidden ? `Hidden test ${test.id}` : `Test ${test.id}`),
    h("span", { class: "test-verdict" }, verdictWords(test.verdict)),
  );
  if (!test.hidden && !passed) {
    const stored = capsule.tests.find((known) => known.id === test.id);
    const detail = h("dl", { class: "detail" });
    if (stored?.stdin !== undefined) detail.append(h("dt", {}, "Input"), h("dd", {}, h("pre", {}, stored.stdin)));
    if (stored?.expected_stdout !== undefined) detail.append(h("dt", {}, "Expected"), h("dd", {}, h("pre", {}, stored.expected_stdout)));
    detail.append(h("dt", {}, "Your output"), h("dd", {}, h("pre", { "data-testid": "actual" }, test.stdout ?? "")));
    if (test.message) detail.append(h("dt", {}, "Why"), h("dd", {}, h("pre", {}, test.message)));
    if (test.stderr) detail.append(h("dt", {}, "Errors"), h("dd", {}, h("pre", {}, test.stderr)));
    row.append(detail);
  }
  return row;
}

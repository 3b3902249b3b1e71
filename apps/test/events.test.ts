import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EventQueue, FLUSH_AFTER_MS, MAX_BATCH, visitorId } from "../src/embed/events";

const context = { visitor_id: "v-1", session_id: "s-1", widget_version: "test" };
const CAPSULE = "2b0c7c1e-6f8a-4e0f-9b4c-1a2b3c4d5e6f";

describe("the widget's events", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("are batched: one beacon for the events of a moment, sent after FLUSH_AFTER_MS", () => {
    const sent: string[] = [];
    const queue = new EventQueue("/api/events", context, (_url, body) => sent.push(body) > 0);
    queue.record("view", CAPSULE, { language: "python" });
    queue.record("run", CAPSULE, { duration_ms: 12.6, language: "python" });
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(FLUSH_AFTER_MS);
    expect(sent).toHaveLength(1);
    const { events } = JSON.parse(sent[0]);
    expect(events.map((event: { type: string }) => event.type)).toEqual(["view", "run"]);
    expect(events[1].duration_ms).toBe(13);
    expect(events[0]).not.toHaveProperty("duration_ms");
    expect(new Set(events.map((event: { event_id: string }) => event.event_id)).size).toBe(2);
    expect(events[0]).toMatchObject({ capsule_id: CAPSULE, visitor_id: "v-1", session_id: "s-1", widget_version: "test" });
    expect(Number.isNaN(Date.parse(events[0].ts))).toBe(false);
  });

  it("go at once when a batch is full, never more than MAX_BATCH a beacon", () => {
    const sent: string[] = [];
    const queue = new EventQueue("/api/events", context, (_url, body) => sent.push(body) > 0);
    for (let i = 0; i < MAX_BATCH; i += 1) queue.record("run", CAPSULE);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]).events).toHaveLength(MAX_BATCH);
    expect(queue.queued).toBe(0);
  });

  it("refused by the browser are kept, with their ids, and sent again", () => {
    let accept = false;
    const sent: string[] = [];
    const queue = new EventQueue("/api/events", context, (_url, body) => {
      sent.push(body);
      return accept;
    });
    queue.record("submit", CAPSULE);
    queue.flush();
    expect(queue.queued).toBe(1);
    accept = true;
    vi.advanceTimersByTime(FLUSH_AFTER_MS);
    expect(queue.queued).toBe(0);
    expect(sent).toHaveLength(2);
    expect(JSON.parse(sent[1]).events[0].event_id).toBe(JSON.parse(sent[0]).events[0].event_id);
  });

  it("carry one visitor id per browser, and one for the page when storage is refused", () => {
    const store = new Map<string, string>();
    const storage = { getItem: (key: string) => store.get(key) ?? null, setItem: (key: string, value: string) => void store.set(key, value) };
    const first = visitorId(storage);
    expect(visitorId(storage)).toBe(first);
    const refusing = { getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); } };
    expect(visitorId(refusing)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

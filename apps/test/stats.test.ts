import { describe, expect, it } from "vitest";
import { type HourlyStats, buckets, figure, totals } from "../src/dashboard/stats";

function hour(at: string, fields: Partial<HourlyStats>): HourlyStats {
  return {
    hour: at, views: 0, runs: 0, submissions: 0, passes: 0, fails: 0, errors: 0, unique_visitors: 0, avg_run_ms: null,
    p95_run_ms: null, verified_attempts: 0, verified_accepted: 0, verified_solvers: 0, ...fields,
  };
}

describe("the dashboard's figures", () => {
  const from = new Date("2026-12-01T00:00:00Z");

  it("chart short ranges an hour a bar and long ones a day a bar, quiet buckets included", () => {
    const hours = [hour("2026-12-01T03:00:00Z", { views: 2 }), hour("2026-12-01T05:00:00Z", { views: 1 })];
    const hourly = buckets(hours, from, new Date("2026-12-02T00:00:00Z"));
    expect(hourly).toHaveLength(24);
    expect(hourly[3].hours).toHaveLength(1);
    expect(hourly[4].hours).toHaveLength(0);
    const daily = buckets(hours, from, new Date("2026-12-08T00:00:00Z"));
    expect(daily).toHaveLength(7);
    expect(daily[0].hours).toHaveLength(2);
  });

  it("add counts, take the accepted share of judged submissions, and the peak of what does not add", () => {
    const figures = totals([
      hour("2026-12-01T03:00:00Z", { views: 5, runs: 3, verified_attempts: 4, verified_accepted: 1, unique_visitors: 3, p95_run_ms: 40 }),
      hour("2026-12-01T04:00:00Z", { views: 1, verified_attempts: 0, unique_visitors: 2, p95_run_ms: 90 }),
    ]);
    expect(figures).toMatchObject({ views: 6, runs: 3, submissions: 4, accepted: 25, visitors: 3, p95: 90 });
  });

  it("say nothing rather than 0 % when nothing was judged, or no run was timed", () => {
    const figures = totals([hour("2026-12-01T03:00:00Z", { views: 1 })]);
    expect(figures.accepted).toBeNull();
    expect(figures.p95).toBeNull();
    expect(figure(figures.accepted, "%")).toBe("–");
    expect(figure(12.345, " ms")).toBe("12.3 ms");
    expect(figure(7)).toBe("7");
  });
});

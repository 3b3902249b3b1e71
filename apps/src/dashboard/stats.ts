// The hourly stats of GET /api/capsules/{id}/stats as the dashboard charts them: buckets (hours for short ranges,
// days for long ones), the six metrics, and the range's totals. Pure functions: what the charts show is tested here.

/** One hour as the API answers it (hours without events have no row). */
export interface HourlyStats {
  hour: string;
  views: number;
  runs: number;
  submissions: number;
  passes: number;
  fails: number;
  errors: number;
  unique_visitors: number;
  avg_run_ms: number | null;
  p95_run_ms: number | null;
  verified_attempts: number;
  verified_accepted: number;
  verified_solvers: number;
}

export interface Bucket {
  start: Date;
  hours: HourlyStats[];
}

const HOUR_MS = 3_600_000;
/** Ranges up to this many hours are charted an hour a bar; longer ones a day a bar. */
export const HOURLY_UP_TO = 48;

/** Every bucket of [from, to), each with the hours that fall in it (none for a quiet bucket). */
export function buckets(hours: HourlyStats[], from: Date, to: Date): Bucket[] {
  const width = (to.getTime() - from.getTime()) / HOUR_MS <= HOURLY_UP_TO ? HOUR_MS : 24 * HOUR_MS;
  const made: Bucket[] = [];
  for (let start = from.getTime(); start < to.getTime(); start += width) made.push({ start: new Date(start), hours: [] });
  for (const hour of hours) {
    const at = Math.floor((new Date(hour.hour).getTime() - from.getTime()) / width);
    if (at >= 0 && at < made.length) made[at].hours.push(hour);
  }
  return made;
}

export interface Metric {
  key: string;
  title: string;
  unit: string;
  /** The bucket's value, or null when it has nothing to say (no submissions for a share, no runs for a duration). */
  of: (hours: HourlyStats[]) => number | null;
}

const sum = (hours: HourlyStats[], field: keyof HourlyStats) => hours.reduce((total, hour) => total + Number(hour[field] ?? 0), 0);
const peak = (values: (number | null)[]) => {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : Math.max(...known);
};
const share = (hours: HourlyStats[]) => {
  const attempts = sum(hours, "verified_attempts");
  return attempts === 0 ? null : (100 * sum(hours, "verified_accepted")) / attempts;
};

/** The six charts. Unique visitors and p95 do not add up across hours: a bucket shows its busiest / slowest hour. */
export const METRICS: Metric[] = [
  { key: "views", title: "Views", unit: "", of: (hours) => sum(hours, "views") },
  { key: "runs", title: "Runs", unit: "", of: (hours) => sum(hours, "runs") },
  { key: "submissions", title: "Submissions (judged)", unit: "", of: (hours) => sum(hours, "verified_attempts") },
  { key: "accepted", title: "Accepted share", unit: "%", of: share },
  { key: "visitors", title: "Unique visitors (peak hour)", unit: "", of: (hours) => peak(hours.map((hour) => hour.unique_visitors)) ?? 0 },
  { key: "p95", title: "p95 run duration (slowest hour)", unit: " ms", of: (hours) => peak(hours.map((hour) => hour.p95_run_ms)) },
];

/** The whole range's figure of each metric (the same rules as a bucket's). */
export function totals(hours: HourlyStats[]): Record<string, number | null> {
  return Object.fromEntries(METRICS.map((metric) => [metric.key, metric.of(hours)]));
}

/** A figure for people: integers as they are, others to one decimal; "–" for none. */
export function figure(value: number | null, unit = ""): string {
  if (value === null) return "–";
  return `${Number.isInteger(value) ? value : value.toFixed(1)}${unit}`;
}

// What the apps know of the API's answers: JSON bodies, problem+json errors, and one time budget per request.

/** A problem+json answer of the API, or a request that got no answer in time. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** The longest a request of the apps waits for its answer, end to end. */
export const REQUEST_BUDGET_MS = 30_000;

/** `init` sent to `url` within `budgetMs`; the JSON body of a 2xx answer, else the problem as an ApiError. */
export async function requestJson<T>(url: string, init: RequestInit = {}, budgetMs = REQUEST_BUDGET_MS): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), budgetMs);
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: controller.signal });
  } catch (err) {
    clearTimeout(timer);
    const timedOut = controller.signal.aborted;
    throw new ApiError(
      0,
      timedOut ? "timeout" : "network_error",
      timedOut ? `no answer within ${budgetMs / 1000} s: try again` : `the server could not be reached (${err}): check your connection`,
    );
  }
  try {
    if (!response.ok) throw await problemOf(response);
    const text = await response.text();
    return (text ? safeParse(text) : null) as T;
  } finally {
    clearTimeout(timer);
  }
}

/** A refused answer's problem+json (or whatever it said) as an ApiError. */
export async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => "");
  const problem = (text ? safeParse(text) : {}) as { code?: string; detail?: string; title?: string };
  return new ApiError(
    response.status,
    problem.code ?? "http_error",
    problem.detail ?? problem.title ?? `the server answered ${response.status}`,
    Number(response.headers.get("retry-after")) || undefined,
  );
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 200) };
  }
}

/** A random UUID (v4), where crypto.randomUUID is missing (an insecure origin) from getRandomValues. */
export function uuid(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

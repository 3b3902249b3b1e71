// Who the dashboard acts as. An organization's API key (what `make run` prints), or a member's Supabase session: the
// password grant of Supabase Auth's REST API, then the member's organizations read through PostgREST under
// row-level security. The session form appears only when the build has VITE_SUPABASE_URL and
// VITE_SUPABASE_ANON_KEY. The identity is kept in sessionStorage: it ends with the tab.
import { requestJson } from "../lib/http";
import type { Identity } from "./api";

const KEY = "codecapsule.dashboard.identity";

export function saved(): Identity | undefined {
  try {
    const text = sessionStorage.getItem(KEY);
    return text ? (JSON.parse(text) as Identity) : undefined;
  } catch {
    return undefined;
  }
}

export function keep(identity: Identity | undefined): void {
  try {
    if (identity) sessionStorage.setItem(KEY, JSON.stringify(identity));
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (a private window's policy): the identity lasts until the page is left.
  }
}

export interface Supabase {
  url: string;
  anonKey: string;
}

export function supabase(): Supabase | undefined {
  const url = import.meta.env.VITE_SUPABASE_URL;
  const anonKey = import.meta.env.VITE_SUPABASE_ANON_KEY;
  return url && anonKey ? { url: url.replace(/\/+$/, ""), anonKey } : undefined;
}

/** Signs in with email and password; the member's organizations to choose from. */
export async function signIn(project: Supabase, email: string, password: string): Promise<{ token: string; organizations: { id: string; name: string }[] }> {
  const session = await requestJson<{ access_token: string }>(`${project.url}/auth/v1/token?grant_type=password`, {
    method: "POST",
    headers: { apikey: project.anonKey, "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const rows = await requestJson<{ organization_id: string; organizations: { name: string } | null }[]>(
    `${project.url}/rest/v1/memberships?select=organization_id,organizations(name)`,
    { headers: { apikey: project.anonKey, authorization: `Bearer ${session.access_token}` } },
  );
  return {
    token: session.access_token,
    organizations: rows.map((row) => ({ id: row.organization_id, name: row.organizations?.name ?? row.organization_id })),
  };
}

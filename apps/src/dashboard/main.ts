// The dashboard: the organization's capsules with their status and version, a capsule's charts over a chosen range
// and its recent submissions, publish / unpublish, and the "Generate a capsule" form streaming its progress.
import { ApiError } from "../lib/http";
import { type CapsuleListing, DashboardApi, type Identity } from "./api";
import { barChart } from "./chart";
import { keep, saved, signIn, supabase } from "./session";
import { HOURLY_UP_TO, METRICS, buckets, figure, totals } from "./stats";

const API_BASE = (import.meta.env.VITE_API_URL || location.origin).replace(/\/+$/, "");

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const signInSection = byId<HTMLElement>("sign-in");
const workspace = byId<HTMLElement>("workspace");
const signInError = byId<HTMLParagraphElement>("sign-in-error");
const signOut = byId<HTMLButtonElement>("sign-out");
const capsulesBody = document.querySelector<HTMLTableSectionElement>("[data-testid=capsules] tbody")!;
const capsulesStatus = byId<HTMLParagraphElement>("capsules-status");
const detail = byId<HTMLElement>("detail");
const range = byId<HTMLSelectElement>("range");

let api: DashboardApi | undefined;
let selected: CapsuleListing | undefined;

function cell(text: string, className = ""): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function message(err: unknown): string {
  return err instanceof ApiError || err instanceof Error ? err.message : String(err);
}

async function start(identity: Identity): Promise<void> {
  const candidate = new DashboardApi(API_BASE, identity);
  await candidate.capsules();
  api = candidate;
  keep(identity);
  signInSection.hidden = true;
  workspace.hidden = false;
  signOut.hidden = false;
  await listCapsules();
}

async function listCapsules(): Promise<void> {
  if (!api) return;
  capsulesStatus.textContent = "Loading…";
  try {
    const { capsules } = await api.capsules();
    capsulesBody.replaceChildren(...capsules.map(row));
    capsulesStatus.textContent = capsules.length === 0 ? "No capsules yet: generate one below." : "";
    const again = capsules.find((capsule) => capsule.id === selected?.id) ?? capsules[0];
    if (again) await show(again);
  } catch (err) {
    capsulesStatus.textContent = message(err);
  }
}

function row(capsule: CapsuleListing): HTMLTableRowElement {
  const tr = document.createElement("tr");
  tr.dataset.capsule = capsule.id;
  if (capsule.id === selected?.id) tr.className = "selected";
  const open = document.createElement("button");
  open.type = "button";
  open.className = "secondary";
  open.textContent = "Stats";
  open.dataset.testid = "open";
  open.addEventListener("click", () => void show(capsule));
  const toggle = document.createElement("button");
  toggle.type = "button";
  const published = capsule.status === "published";
  toggle.textContent = published ? "Unpublish" : "Publish";
  toggle.dataset.testid = published ? "unpublish" : "publish";
  toggle.disabled = capsule.status === "draft" || capsule.status === "quarantined";
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    capsulesStatus.textContent = published ? "Unpublishing…" : "Validating and publishing…";
    try {
      const saved = await api!.setPublished(capsule.id, !published);
      capsulesStatus.textContent = `${capsule.title}: ${saved.status}, version ${saved.version}`;
      await listCapsules();
    } catch (err) {
      capsulesStatus.textContent = message(err);
      toggle.disabled = false;
    }
  });
  const actions = document.createElement("td");
  actions.append(open, " ", toggle);
  tr.append(
    cell(capsule.title),
    cell(capsule.language),
    cell(capsule.status, `status-${capsule.status}`),
    cell(capsule.visibility),
    cell(String(capsule.version)),
    cell(new Date(capsule.updated_at).toLocaleString()),
    actions,
  );
  return tr;
}

async function show(capsule: CapsuleListing): Promise<void> {
  if (!api) return;
  selected = capsule;
  for (const tr of capsulesBody.querySelectorAll("tr")) tr.classList.toggle("selected", tr.dataset.capsule === capsule.id);
  detail.hidden = false;
  byId("detail-title").textContent = capsule.title;
  const hours = Number(range.value);
  const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
  const from = new Date(to.getTime() - hours * 3_600_000);
  const totalsBox = byId<HTMLElement>("totals");
  const charts = byId<HTMLElement>("charts");
  const submissionsBody = document.querySelector<HTMLTableSectionElement>("[data-testid=submissions] tbody")!;
  try {
    const [stats, recent] = await Promise.all([api.stats(capsule.id, from, to), api.submissions(capsule.id)]);
    const overall = totals(stats.hours);
    totalsBox.replaceChildren(
      ...METRICS.map((metric) => {
        const item = document.createElement("div");
        const dt = document.createElement("dt");
        dt.textContent = metric.title;
        const dd = document.createElement("dd");
        dd.dataset.testid = `total-${metric.key}`;
        dd.textContent = figure(overall[metric.key], metric.unit);
        item.append(dt, dd);
        return item;
      }),
    );
    const series = buckets(stats.hours, new Date(stats.from), new Date(stats.to));
    charts.replaceChildren(...METRICS.map((metric) => barChart(metric, series, hours <= HOURLY_UP_TO)));
    submissionsBody.replaceChildren(
      ...recent.submissions.map((submission) => {
        const tr = document.createElement("tr");
        const who = submission.user_id ? "member" : submission.api_key_organization_id ? "API key" : `visitor ${submission.visitor_hash?.slice(0, 8) ?? ""}`;
        tr.append(
          cell(new Date(submission.created_at).toLocaleString()),
          cell(submission.verdict),
          cell(`${Math.round(submission.score * 100)}%`),
          cell(String(submission.capsule_version)),
          cell(who),
        );
        return tr;
      }),
    );
  } catch (err) {
    totalsBox.replaceChildren(Object.assign(document.createElement("p"), { className: "error", textContent: message(err) }));
  }
}

range.addEventListener("change", () => {
  if (selected) void show(selected);
});

byId<HTMLFormElement>("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  signInError.textContent = "";
  const key = byId<HTMLInputElement>("api-key").value.trim();
  try {
    await start({ bearer: key });
  } catch (err) {
    signInError.textContent = `Not signed in: ${message(err)}`;
  }
});

const project = supabase();
if (project) {
  const form = byId<HTMLFormElement>("session-form");
  const organization = byId<HTMLSelectElement>("organization");
  let token: string | undefined;
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    signInError.textContent = "";
    try {
      if (!token || organization.hidden) {
        const session = await signIn(project, byId<HTMLInputElement>("email").value, byId<HTMLInputElement>("password").value);
        token = session.token;
        if (session.organizations.length === 0) throw new Error("your account is a member of no organization");
        organization.replaceChildren(...session.organizations.map((org) => Object.assign(document.createElement("option"), { value: org.id, textContent: org.name })));
        if (session.organizations.length > 1) {
          organization.hidden = false;
          return;
        }
      }
      await start({ bearer: token, organizationId: organization.value });
    } catch (err) {
      signInError.textContent = `Not signed in: ${message(err)}`;
    }
  });
}

signOut.addEventListener("click", () => {
  keep(undefined);
  location.reload();
});

byId<HTMLFormElement>("generate-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!api) return;
  const progress = byId<HTMLOListElement>("progress");
  const button = document.querySelector<HTMLButtonElement>("[data-testid=generate]")!;
  progress.replaceChildren();
  button.disabled = true;
  const line = (text: string, className = "") => {
    const li = document.createElement("li");
    li.textContent = text;
    if (className) li.className = className;
    progress.append(li);
  };
  try {
    await api.generate(
      {
        prompt: byId<HTMLTextAreaElement>("prompt").value,
        language: byId<HTMLSelectElement>("language").value,
        difficulty: byId<HTMLSelectElement>("difficulty").value,
      },
      (update) => {
        const { event: kind, ...rest } = update as { event?: string };
        line(`${kind ?? "event"} ${JSON.stringify(rest).slice(0, 160)}`, kind === "failed" ? "error" : "");
      },
    );
    await listCapsules();
  } catch (err) {
    line(message(err), "error");
  } finally {
    button.disabled = false;
  }
});

const before = saved();
if (before) start(before).catch(() => keep(undefined));

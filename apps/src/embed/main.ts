// embed.js: `<script src=".../embed.js" data-capsule="<capsule id>"></script>` renders that capsule where the tag is.
// Optional attributes: data-api (the functions' base URL; default the build's VITE_API_URL, else embed.js's own
// origin) and data-objects (the object store's public base URL, where the runtime packs are; default VITE_OBJECTS_URL,
// else <embed.js origin>/objects).
import { CapsuleApi } from "./api";
import { EventQueue, visitorId } from "./events";
import { BrowserRunner } from "./runner";
import { renderCapsule } from "./widget";

declare const __WIDGET_VERSION__: string;

function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

function mount(script: HTMLScriptElement): void {
  const capsuleId = script.dataset.capsule?.trim();
  const scriptUrl = new URL(script.src, document.baseURI);
  const apiBase = (script.dataset.api ?? (import.meta.env.VITE_API_URL || scriptUrl.origin)).replace(/\/+$/, "");
  const objects = (script.dataset.objects ?? (import.meta.env.VITE_OBJECTS_URL || `${scriptUrl.origin}/objects`)).replace(/\/+$/, "");
  const host = document.createElement("div");
  host.className = "codecapsule";
  script.after(host);
  const root = host.attachShadow({ mode: "open" });
  const say = (text: string) => {
    const note = document.createElement("p");
    note.setAttribute("role", "alert");
    note.style.cssText = "font: 14px system-ui, sans-serif; color: #b3261e";
    note.textContent = text;
    root.replaceChildren(note);
  };
  if (!capsuleId) {
    say("CodeCapsule: this embed names no capsule (data-capsule).");
    return;
  }
  const visitor = visitorId(storage());
  const events = new EventQueue(`${apiBase}/api/events`, {
    visitor_id: visitor,
    session_id: crypto.getRandomValues(new Uint32Array(2)).join("-"),
    widget_version: __WIDGET_VERSION__,
  });
  addEventListener("pagehide", () => events.flush());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") events.flush();
  });
  const api = new CapsuleApi(apiBase);
  const runner = new BrowserRunner(new URL("embed-runner.js", scriptUrl).href, `${objects}/runtimes`);
  root.append(Object.assign(document.createElement("p"), { textContent: "Loading the exercise…" }));
  api.capsule(capsuleId).then(
    (capsule) => {
      root.replaceChildren();
      renderCapsule(root, capsule, { api, runner, events, visitorId: visitor });
      events.record("view", capsule.id, { language: capsule.language });
      performance.mark?.("codecapsule:rendered");
    },
    (err: Error) => say(`CodeCapsule: the exercise could not be loaded (${err.message}).`),
  );
}

const current = document.currentScript;
if (current instanceof HTMLScriptElement && current.dataset.capsule !== undefined) mount(current);

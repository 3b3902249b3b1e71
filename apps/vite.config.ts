// Three builds into dist/ or APPS_OUT (APP=embed | runner | dashboard; `npm run build` runs all three, `make apps` calls it):
// - embed: dist/embed.js, one self-contained script (styles inlined into its shadow root), and the demo page;
// - runner: dist/embed-runner.js, the Web Worker the widget starts on the first Run;
// - dashboard: dist/dashboard/, a static app.
// Build settings (Cloudflare Pages' environment variables): VITE_API_URL, the functions' base URL (default: the
// origin the app is served from); VITE_OBJECTS_URL, the object store's public base URL (default: <origin>/objects).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineConfig, type UserConfig } from "vite";

const version = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")).version as string;
const app = process.env.APP ?? "embed";
// APPS_OUT: where the builds go (`make deploy-*` builds for production apart from make run's apps/dist).
const out = resolve(process.env.APPS_OUT ?? "dist");

function script(entry: string, file: string, name: string, copyPublic: boolean): UserConfig {
  return {
    publicDir: copyPublic ? "public" : false,
    define: { __WIDGET_VERSION__: JSON.stringify(version) },
    build: {
      outDir: out,
      emptyOutDir: false,
      target: "es2022",
      // Library builds are not minified by default: the embed's size budget (100 kB compressed) needs it.
      minify: true,
      lib: { entry, name, formats: ["iife"], fileName: () => file },
    },
  };
}

const configs: Record<string, UserConfig> = {
  embed: script("src/embed/main.ts", "embed.js", "CodeCapsule", true),
  runner: script("src/runner/worker.ts", "embed-runner.js", "CodeCapsuleRunner", false),
  dashboard: {
    root: "src/dashboard",
    base: "/dashboard/",
    publicDir: false,
    build: { outDir: resolve(out, "dashboard"), emptyOutDir: true, target: "es2022" },
  },
};

export default defineConfig(() => {
  const config = configs[app];
  if (!config) throw new Error(`APP must be one of ${Object.keys(configs).join(", ")}, not ${app}`);
  return config;
});

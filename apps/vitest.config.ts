// The unit tests of the apps' logic (test/), in a DOM of happy-dom's.
import { defineConfig } from "vitest/config";

export default defineConfig({
  define: { __WIDGET_VERSION__: JSON.stringify("test") },
  test: { environment: "happy-dom", include: ["test/**/*.test.ts"] },
});

import { defineConfig } from "vite";

// No plugin needed: esbuild compiles TSX with the automatic JSX runtime.
// `npm run dev` proxies the API to a gateway (LOOP_GATEWAY, default :8080).
//
// The development store (src/wallet/testStore.ts) is in a build only in
// mode `devstore` (`npm run build:dev`: the browser tests and `make up`,
// both against a development platform), in `npm run dev` and in the unit
// tests; `npm run build` (production) compiles it away.
export default defineConfig(({ mode }) => ({
  esbuild: { jsx: "automatic" },
  define: { __LOOP_DEV_STORE__: JSON.stringify(mode === "devstore" || mode === "development" || mode === "test") },
  // The manifest tells scripts/budget.mjs which chunks each app loads.
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 600, manifest: true },
  server: {
    proxy: Object.fromEntries(["/v1", "/media"].map((p) => [p, process.env.LOOP_GATEWAY ?? "http://127.0.0.1:8080"])),
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
}) as never);

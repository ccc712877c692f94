import { defineConfig } from "vite";

// No plugin needed: esbuild compiles TSX with the automatic JSX runtime.
// `npm run dev` proxies the API to a gateway (LOOP_GATEWAY, default :8080).
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 600 },
  server: {
    proxy: { "/v1": process.env.LOOP_GATEWAY ?? "http://127.0.0.1:8080" },
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
} as never);

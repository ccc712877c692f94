// Fails when the built client (dist/) carries the development store: its
// signing key or the module that signs receipts. `npm run build` must not;
// `npm run build:dev` (mode devstore) does, on purpose.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const found = readdirSync(join(dist, "assets"))
  .filter((f) => f.endsWith(".js"))
  .filter((f) => {
    const text = readFileSync(join(dist, "assets", f), "utf8");
    return text.includes("loop-test-receipts-dev-secret") || f.startsWith("devStore");
  });
if (found.length > 0) {
  console.error(`the production build carries the development store: ${found.join(", ")}`);
  process.exit(1);
}
console.log("production build: no development store");

// The viewer app's JavaScript budget: every script Vite emitted, raw and
// gzipped, split into what the first render loads (the entry and its static
// imports, from index.html) and what loads later (hls.js, only for HLS
// where the browser lacks it). Fails when all of it passes 250 KB gzipped.
// Prints the figures and writes them to dist/budget.json.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]));
const files = readdirSync(join(dist, "assets"))
  .filter((f) => f.endsWith(".js") || f.endsWith(".css"))
  .map((f) => {
    const bytes = readFileSync(join(dist, "assets", f));
    return { file: `assets/${f}`, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
const js = files.filter((f) => f.file.endsWith(".js"));
const sum = (list, key) => list.reduce((n, f) => n + f[key], 0);
const firstRender = js.filter((f) => initial.has(f.file));
const report = {
  budget_gzip_bytes: BUDGET,
  js_gzip_bytes: sum(js, "gzip"),
  js_raw_bytes: sum(js, "raw"),
  first_render_js_gzip_bytes: sum(firstRender, "gzip"),
  css_gzip_bytes: sum(files.filter((f) => f.file.endsWith(".css")), "gzip"),
  files,
};
writeFileSync(join(dist, "budget.json"), `${JSON.stringify(report, null, 2)}\n`);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
for (const f of files) console.log(`  ${f.file.padEnd(40)} ${kb(f.raw).padStart(10)} raw ${kb(f.gzip).padStart(10)} gzip${initial.has(f.file) ? "  (first render)" : ""}`);
console.log(
  `viewer JS: ${kb(report.js_gzip_bytes)} gzipped in all (first render ${kb(report.first_render_js_gzip_bytes)}), budget ${kb(BUDGET)}`,
);
if (report.js_gzip_bytes > BUDGET) {
  console.error(`over budget by ${kb(report.js_gzip_bytes - BUDGET)}`);
  process.exit(1);
}

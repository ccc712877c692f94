// The viewer app's JavaScript budget (issue 18: under 250 KB gzipped).
//
// One build serves five apps: the viewer's (feeds, profiles, Discover, LIVE
// rooms with their shop, the product page and the buyer's orders, wallet,
// filters, hls.js where the browser lacks HLS), and the creator studio, the
// advertiser console, the admin pages and the seller's page (/sell), each
// loaded only when one of their routes is first opened. Vite's manifest (dist/.vite/manifest.json) says
// which chunks each entry imports, statically and lazily; the viewer app is
// every chunk reachable from index.html without entering another app's
// entry module (OTHER_APPS). A chunk shared with another app counts for the
// viewer, so the figure is an upper bound. Each other app is reported with
// the chunks only it adds. Fails when the viewer app passes 250 KB gzipped.
// Prints the figures and writes them to dist/budget.json.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
// The entry modules of the apps that are not the viewer's (their routes
// import them lazily): a source file, or `chunk:<name>` for a chunk Vite
// made of several (the advertiser tools shared by the console and the Spark
// codes page).
const OTHER_APPS = {
  "creator studio": ["src/creator/CreatorStudio.tsx"],
  "advertiser console": ["src/ads/Ads.tsx", "chunk:Manage"],
  admin: ["src/admin/Admin.tsx"],
  seller: ["src/shop/Sell.tsx"],
};

const dist = new URL("../dist/", import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(join(dist, ".vite", "manifest.json"), "utf8"));
const html = readFileSync(join(dist, "index.html"), "utf8");
const initial = new Set([...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]));
const files = readdirSync(join(dist, "assets"))
  .filter((f) => f.endsWith(".js") || f.endsWith(".css"))
  .map((f) => {
    const bytes = readFileSync(join(dist, "assets", f));
    return { file: `assets/${f}`, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
const byFile = new Map(files.map((f) => [f.file, f]));
const js = files.filter((f) => f.file.endsWith(".js"));
const sum = (list, key) => list.reduce((n, f) => n + f[key], 0);

/** The manifest keys of an app's entry modules. */
const keysOf = (specs) =>
  specs.map((spec) => {
    const key = spec.startsWith("chunk:")
      ? Object.keys(manifest).find((k) => manifest[k].name === spec.slice(6) && !manifest[k].src)
      : manifest[spec] && spec;
    if (!key) throw new Error(`budget: ${spec} is not a chunk of this build (update OTHER_APPS)`);
    return key;
  });
const roots = Object.fromEntries(Object.entries(OTHER_APPS).map(([name, specs]) => [name, keysOf(specs)]));
const others = new Set(Object.values(roots).flat());

/** The JS files reachable from `roots` (manifest keys), not entering `stop`. */
function reach(roots, stop) {
  const seen = new Set();
  const out = new Set();
  const walk = (key) => {
    if (seen.has(key) || stop.has(key) || !manifest[key]) return;
    seen.add(key);
    const chunk = manifest[key];
    if (chunk.file.endsWith(".js")) out.add(chunk.file);
    for (const k of [...(chunk.imports ?? []), ...(chunk.dynamicImports ?? [])]) walk(k);
  };
  roots.forEach(walk);
  return out;
}

const entries = Object.keys(manifest).filter((k) => manifest[k].isEntry);
const viewerFiles = reach(entries, others);
const viewer = [...viewerFiles].map((f) => byFile.get(f)).filter(Boolean);
const apps = Object.fromEntries(
  Object.entries(roots).map(([name, keys]) => {
    // Not through the viewer's chunks (index.html is every chunk's parent) nor into the other apps.
    const stop = new Set([
      ...Object.keys(manifest).filter((k) => viewerFiles.has(manifest[k].file)),
      ...[...others].filter((k) => !keys.includes(k)),
    ]);
    const own = [...reach(keys, stop)].filter((f) => !viewerFiles.has(f)).map((f) => byFile.get(f)).filter(Boolean);
    return [name, { js_gzip_bytes: sum(own, "gzip"), files: own.map((f) => f.file) }];
  }),
);
const firstRender = js.filter((f) => initial.has(f.file));
const report = {
  budget_gzip_bytes: BUDGET,
  viewer_js_gzip_bytes: sum(viewer, "gzip"),
  viewer_js_raw_bytes: sum(viewer, "raw"),
  first_render_js_gzip_bytes: sum(firstRender, "gzip"),
  other_apps: apps,
  all_js_gzip_bytes: sum(js, "gzip"),
  css_gzip_bytes: sum(files.filter((f) => f.file.endsWith(".css")), "gzip"),
  files,
};
writeFileSync(join(dist, "budget.json"), `${JSON.stringify(report, null, 2)}\n`);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const owner = (file) => (viewerFiles.has(file) ? "viewer" : (Object.entries(apps).find(([, a]) => a.files.includes(file))?.[0] ?? "-"));
for (const f of files)
  console.log(`  ${f.file.padEnd(40)} ${kb(f.raw).padStart(10)} raw ${kb(f.gzip).padStart(10)} gzip  ${owner(f.file)}${initial.has(f.file) ? " (first render)" : ""}`);
console.log(
  `viewer JS: ${kb(report.viewer_js_gzip_bytes)} gzipped (first render ${kb(report.first_render_js_gzip_bytes)}), budget ${kb(BUDGET)}; ` +
    `${Object.entries(apps)
      .map(([name, a]) => `${name} +${kb(a.js_gzip_bytes)}`)
      .join(", ")}; all JS ${kb(report.all_js_gzip_bytes)}`,
);
if (report.viewer_js_gzip_bytes > BUDGET) {
  console.error(`over budget by ${kb(report.viewer_js_gzip_bytes - BUDGET)}`);
  process.exit(1);
}

#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF=<dir> on the round-trip bench):
// top functions by self time, self and inclusive time by module (package or file), and top functions by
// inclusive time, each as a share of the busy (non-idle) time.
//
//   node bench/cpuprofile-top.mjs <file.cpuprofile> [--top 30] [--match <substring of a url, e.g. hub/dist>]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values: opts, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" }, match: { type: "string" } } });
if (positionals.length !== 1) {
  process.stderr.write("usage: node bench/cpuprofile-top.mjs <file.cpuprofile> [--top N] [--match url-substring]\n");
  process.exit(2);
}
const top = Number(opts.top);
const profile = JSON.parse(readFileSync(positionals[0], "utf8"));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from samples and their time deltas (µs).
const selfUs = new Map();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const shortUrl = (url) =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "npm:")
    .replace(/^.*\/packages\//, "packages/");
const moduleOf = (url) => {
  if (url === "") return "(native/V8)";
  if (url.startsWith("node:")) return url.split("/").slice(0, 2).join("/");
  const u = shortUrl(url);
  if (u.startsWith("npm:")) return u.split("/").slice(0, u.startsWith("npm:@") ? 2 : 1).join("/");
  return u;
};
const keyOf = (n) => {
  const f = n.callFrame;
  return `${f.functionName || "(anonymous)"}  ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ""}`.trim();
};

let totalUs = 0;
let idleUs = 0;
const selfByFn = new Map();
const selfByModule = new Map();
const inclusiveByFn = new Map();
const inclusiveByModule = new Map();
for (const [id, us] of selfUs) {
  const n = byId.get(id);
  totalUs += us;
  const name = n.callFrame.functionName;
  if (name === "(idle)") {
    idleUs += us;
    continue;
  }
  const k = keyOf(n);
  selfByFn.set(k, (selfByFn.get(k) ?? 0) + us);
  const m = name === "(garbage collector)" || name === "(program)" ? name : moduleOf(n.callFrame.url);
  selfByModule.set(m, (selfByModule.get(m) ?? 0) + us);
  // Inclusive: credit every distinct function on the stack once.
  const seen = new Set();
  const seenModules = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur);
    const cm = node.callFrame.url ? moduleOf(node.callFrame.url) : undefined;
    if (cm !== undefined && !seenModules.has(cm)) {
      seenModules.add(cm);
      inclusiveByModule.set(cm, (inclusiveByModule.get(cm) ?? 0) + us);
    }
    const ck = keyOf(node);
    if (seen.has(ck)) continue;
    seen.add(ck);
    inclusiveByFn.set(ck, (inclusiveByFn.get(ck) ?? 0) + us);
  }
}
const busyUs = totalUs - idleUs;
const pct = (us) => `${((us / busyUs) * 100).toFixed(1).padStart(5)} %`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const print = (title, map, n, filter = () => true) => {
  console.log(`\n${title}`);
  [...map]
    .filter(([k]) => filter(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .forEach(([k, us]) => console.log(`${ms(us)} ${pct(us)}  ${k}`));
};

console.log(`profile: ${(totalUs / 1e6).toFixed(2)} s sampled, busy ${(busyUs / 1e6).toFixed(2)} s (idle ${(idleUs / 1e6).toFixed(2)} s); shares are of busy time`);
print("top self time by function", selfByFn, top);
print("self time by module", selfByModule, top);
print("inclusive time by module (the module anywhere on the stack)", inclusiveByModule, top);
const skip = new Set(["(root)", "(program)"]);
print(
  `top inclusive time by function${opts.match ? ` (urls matching ${opts.match})` : ""}`,
  inclusiveByFn,
  top,
  (k) => !skip.has(k) && (opts.match === undefined || k.includes(opts.match)),
);

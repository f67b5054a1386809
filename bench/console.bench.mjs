#!/usr/bin/env node
// Web console bench (DESIGN §9, "Web console with 10,000 agents"): one hub holding BENCH_AGENTS swarm agents
// (default 10,000, every one connected unless BENCH_CONNECT=0, then all listed offline), the console opened in Debian's chromium (playwright-core) at
// 1440×900, signed in with an admin token. Measured in the page:
//   - first load: bytes on the wire (compressed) of the document, script and stylesheet; target ≤ 150 KB
//   - interactive: from navigation start until the fleet shows every agent (the count reads "N of N") and
//     its first row, after a reload with a warm session; target ≤ 1 s
//   - scrolling: the fleet list scrolled from top to bottom over BENCH_SCROLL_S seconds, one step per
//     animation frame: frame intervals p50/p95/max (60 Hz is 16.7 ms) and the rows in the DOM (virtualised)
//
//   node bench/console.bench.mjs        (or: node bench/run.mjs console)
//   env: BENCH_AGENTS (10000) · BENCH_CONNECT (1) · BENCH_SWARMS (4) · BENCH_SCROLL_S (3) · UPLINK_CHROMIUM (/usr/bin/chromium)
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { client, enrollAgents, metric, startHub, startSwarms, tokenOnDisk, until } from "./lib/fleet.mjs";
import { ProcessGroup } from "./lib/procs.mjs";

const TARGETS = { interactiveMs: 1000, firstLoadKiB: 150 };
const num = (name, fallback) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const progress = (msg) => process.stderr.write(`console: ${msg}\n`);
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function run() {
  const agents = num("BENCH_AGENTS", 10_000);
  const processes = num("BENCH_SWARMS", 4);
  const connect = num("BENCH_CONNECT", 1) !== 0;
  const scrollS = num("BENCH_SCROLL_S", 3);
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-console-");
  let browser;
  try {
    const adminToken = await tokenOnDisk(tmp, "--kind", "api", "--scope", "admin", "--name", "bench");
    const enrollToken = await tokenOnDisk(tmp, "--kind", "enroll", "--name", "bench-fleet");
    const hub = await startHub(group, tmp, { extra: ["--health-interval", "15s"] });
    progress(`enrolling ${agents} agents`);
    const keys = await enrollAgents(hub.port, enrollToken, agents, { progress });
    if (connect) {
      progress(`connecting them from ${processes} processes`);
      startSwarms(group, tmp, { url: `ws://127.0.0.1:${hub.port}/v1/agent`, keys, processes, addresses: processes, rampConcurrency: 100 });
      await until(`${agents} agents connected`, async () => (await metric(hub.metricsPort, "uplink_agents_connected")) >= agents, { timeoutMs: 600_000, everyMs: 1000 });
    }
    const api = client(hub.port, adminToken);
    const listed = (await api.call("GET", "/api/v1/agents")).body.agents.length;
    api.close();

    browser = await chromium.launch({ executablePath: process.env.UPLINK_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
    const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    const url = `http://127.0.0.1:${hub.port}/`;
    await page.goto(url);
    await page.getByLabel("API token").fill(adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor({ timeout: 60_000 });

    // A fresh browser context holding the session cookie (an empty cache): what an operator opening the
    // console sees. Bytes of the console's own files as transferred (compressed); API answers not counted.
    const fresh = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await fresh.addCookies(await page.context().cookies());
    const view = await fresh.newPage();
    const transferred = [];
    view.on("requestfinished", async (request) => {
      const path = new URL(request.url()).pathname;
      if (path === "/" || path.startsWith("/assets/")) transferred.push({ path, bytes: (await request.sizes()).responseBodySize });
    });
    await view.goto(url, { waitUntil: "commit" });
    const shownText = `${listed} of ${listed} agents`;
    const interactiveMs = await view.waitForFunction(
      (text) => document.querySelector("[data-testid=shown-count]")?.textContent === text && document.querySelector(".viewport .vrow") !== null && performance.now(),
      shownText,
      { timeout: 60_000, polling: "raf" },
    ).then((handle) => handle.jsonValue());
    await view.waitForLoadState("load");
    const firstLoadBytes = transferred.reduce((sum, r) => sum + r.bytes, 0);
    // Where the time to interactive went, from the page's own timings: the document, the session check, the
    // agent list (each request's start and end, ms after navigation start).
    const timeline = await view.evaluate(() => {
      const span = (e) => (e === undefined ? null : { startMs: Math.round(e.startTime), endMs: Math.round(e.responseEnd), kib: Math.round(e.encodedBodySize / 1024) });
      const resource = (path) => performance.getEntriesByType("resource").find((e) => new URL(e.name).pathname === path);
      return { document: span(performance.getEntriesByType("navigation")[0]), session: span(resource("/api/v1/session")), agentList: span(resource("/api/v1/agents")) };
    });

    const scroll = await view.evaluate(async (seconds) => {
      const viewport = document.querySelector(".viewport");
      const frames = [];
      const longTasks = [];
      const observer = new PerformanceObserver((l) => longTasks.push(...l.getEntries().map((e) => Math.round(e.duration))));
      observer.observe({ type: "longtask" });
      let rowsMax = 0;
      const start = performance.now();
      let last = start;
      await new Promise((resolve) => {
        const step = (now) => {
          frames.push(now - last);
          last = now;
          const t = Math.min(1, (now - start) / (seconds * 1000));
          viewport.scrollTop = t * (viewport.scrollHeight - viewport.clientHeight);
          rowsMax = Math.max(rowsMax, viewport.querySelectorAll(".vrow").length);
          if (t < 1) requestAnimationFrame(step);
          else resolve();
        };
        requestAnimationFrame(step);
      });
      observer.disconnect();
      return { frames: frames.slice(1), rowsMax, longTasks, reachedBottom: viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - 2 };
    }, scrollS);
    const sorted = [...scroll.frames].sort((a, b) => a - b);
    const round = (v) => Math.round(v * 10) / 10;

    return {
      agents: listed,
      connected: connect,
      firstLoad: { kib: round(firstLoadBytes / 1024), files: transferred.map((r) => `${r.path} ${r.bytes}`) },
      interactiveMs: Math.round(interactiveMs),
      timeline,
      /** The console's own share: from the agent list's last byte to the rows on screen (parse, sort, render). */
      afterListMs: timeline.agentList === null ? null : Math.round(interactiveMs) - timeline.agentList.endMs,
      scroll: { longTasksMs: scroll.longTasks, seconds: scrollS, frames: sorted.length, p50Ms: round(percentile(sorted, 50)), p95Ms: round(percentile(sorted, 95)), maxMs: round(sorted.at(-1) ?? 0), domRowsMax: scroll.rowsMax, reachedBottom: scroll.reachedBottom },
      targets: TARGETS,
      pass: interactiveMs <= TARGETS.interactiveMs && firstLoadBytes / 1024 <= TARGETS.firstLoadKiB,
    };
  } finally {
    await browser?.close();
    await group.stop();
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  return [
    `agents listed                 ${f.agents} (${f.connected ? "all connected" : "none connected"})`,
    `first load (compressed)       ${f.firstLoad.kib} KiB   target ≤ ${f.targets.firstLoadKiB} KiB`,
    `interactive after load        ${f.interactiveMs} ms   target ≤ ${f.targets.interactiveMs} ms`,
    `  list's last byte → rows      ${f.afterListMs} ms`,
    ...["document", "session", "agentList"].map((k) => `  ${k.padEnd(28)}${f.timeline[k] === null ? "—" : `${f.timeline[k].startMs}–${f.timeline[k].endMs} ms, ${f.timeline[k].kib} KiB`}`),
    `scroll frames p50/p95/max     ${f.scroll.p50Ms} / ${f.scroll.p95Ms} / ${f.scroll.maxMs} ms over ${f.scroll.frames} frames (60 Hz: 16.7 ms)`,
    `rows in the DOM while scrolling ${f.scroll.domRowsMax} (of ${f.agents}); long tasks ${JSON.stringify(f.scroll.longTasksMs)} ms`,
  ].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify({ bench: "console", ...figures })}\n${formatTable(figures)}\n`);
}

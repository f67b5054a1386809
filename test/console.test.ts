import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { screenshot, signIn, textOf, UI_TIMEOUT_MS, useBrowser } from "./fixtures/browser.js";
import { useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { useRawAgents, type HubCommand, type RawAgent, type RawAgentOptions } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { Page } from "playwright-core";

/*
 * The web console in a real browser (Debian's chromium through playwright-core) against a real hub, a real
 * agent and scripted agents on loopback. Each test signs in with a context of its own; every page it
 * visits is written to docs/screenshots/<page>.png at 1440×900 for review.
 */

const IMG = "<img src=x onerror=window.__pwned=1>";
const SCRIPT = "<script>window.__pwned=1</script>";
/** A cell longer than the console shows at once. */
const LONG = `${SCRIPT} ${"x".repeat(300)} end`;

/** The fleet row of the agent with this hostname. */
const fleetRow = (page: Page, host: string) => page.locator(".viewport .vrow").filter({ has: page.getByTestId("agent-link").getByText(host, { exact: true }) });

/** Clicks an export button and resolves with the text of the file it offers. */
async function exported(page: Page, button: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: button }).click()]);
  return readFile(await download.path(), "utf8");
}

// Each test is a whole visit through several pages, waiting on a browser that shares the machine's cores.
describe("The web console", { timeout: 120_000 }, () => {
  // Samples of health every 300 ms, written every 500 ms: the agent page has a chart within seconds.
  const hub = useSharedHub({ healthInterval: "300ms", args: ["--presence-flush", "500ms"] });
  const browser = useBrowser();
  const rawAgents = useRawAgents();
  const agents = useAgentProcesses();

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  /** Enrolls a scripted agent with labels and connects it; resolves once the hub shows it online. */
  async function scripted(h: HubProcess, host: string, labels: Record<string, string>, onQuery?: (c: HubCommand, a: RawAgent) => void, opts: RawAgentOptions = {}) {
    const { agentId, agentKey } = await h.api.enroll(host, labels);
    const agent = await rawAgents.connect(h.agentUrl, { hostname: host, agentKey, ...opts, ...(onQuery === undefined ? {} : { onQuery }) });
    await waitFor(`${host} online`, async () => (await h.api.agent(agentId)).body.status === "online");
    return { agent, agentId, agentKey };
  }

  /** Enrolls the real agent with labels, runs its daemon, and resolves once it is online. */
  async function realAgent(h: HubProcess, labels: Record<string, string>) {
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: h.url, token: await h.api.createToken("enroll"), state, labels });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim().split("\n").at(-1)!;
    agents.run({ state });
    await waitFor(`real agent ${agentId} online`, async () => (await h.api.agent(agentId)).body.status === "online");
    return agentId;
  }

  it("signs in, follows the fleet live (an agent goes offline and comes back without a reload), shows an agent, and runs a query with completion", async () => {
    const h = hub();
    const realId = await realAgent(h, { suite: "live" });
    const flaky = await scripted(h, "live-flaky", { suite: "live" });
    await scripted(h, "live-legacy", { suite: "live" }, undefined, { protocol: 1 });

    const { page, errors, cspViolations } = await browser.open(h.url);
    await page.getByLabel("API token").waitFor();
    await screenshot(page, "sign-in");
    await signIn(page, h.adminToken);

    await page.getByPlaceholder("env=prod role=db").fill("suite=live");
    await textOf(page.getByTestId("shown-count"), /^3 of \d+ agents$/);
    await textOf(fleetRow(page, hostname()).getByTestId("status"), "online");
    await textOf(fleetRow(page, "live-flaky").getByTestId("status"), "online");
    // A protocol-1 agent is flagged; the others are not.
    await textOf(fleetRow(page, "live-legacy").locator(".tag"), "legacy");
    expect(await fleetRow(page, "live-flaky").locator(".tag").count()).toBe(0);
    await page.evaluate(() => ((globalThis as unknown as { __sameDocument: boolean }).__sameDocument = true));

    await flaky.agent.terminate();
    await textOf(fleetRow(page, "live-flaky").getByTestId("status"), "offline");
    await page.getByTestId("count-offline").click();
    await textOf(page.getByTestId("shown-count"), /^1 of \d+ agents$/);
    expect(await page.getByTestId("agent-link").allTextContents()).toEqual(["live-flaky"]);
    await page.getByTestId("count-offline").click();
    await rawAgents.connect(h.agentUrl, { hostname: "live-flaky", agentKey: flaky.agentKey });
    await textOf(fleetRow(page, "live-flaky").getByTestId("status"), "online");
    expect(await page.evaluate(() => (globalThis as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    await page.getByPlaceholder("env=prod role=db").fill("");
    await screenshot(page, "fleet");

    await fleetRow(page, hostname()).getByTestId("agent-link").click();
    await textOf(page.getByTestId("agent-hostname"), hostname());
    await page.locator("svg[aria-label='Health over time'] path.load").waitFor();
    await screenshot(page, "agent");

    await page.getByRole("link", { name: "Query this agent" }).click();
    await page.getByText(/^Completion from \d+ tables/).waitFor();
    const sql = page.getByTestId("sql");
    await sql.fill("");
    await sql.pressSequentially("SELECT hostname FROM system_i");
    await page.getByTestId("completions").getByText("system_info", { exact: true }).waitFor();
    await sql.press("Tab");
    expect(await sql.inputValue()).toBe("SELECT hostname FROM system_info");
    await sql.press("Control+Enter");
    const result = page.getByTestId("single-result");
    await textOf(result.locator("th").first(), "hostname");
    await textOf(result.locator("td").first(), hostname());
    await screenshot(page, "query");
    expect(errors).toEqual([]);
    expect(cspViolations).toEqual([]);
    expect((await h.api.agent(realId)).body.status).toBe("online");
  });

  it("streams a labelled fan-out with a slow and a silent agent target by target, then the counts and the timeout; a cancelled fan-out opens from history", async () => {
    const h = hub();
    await scripted(h, "fan-fast", { suite: "fan" }, (c, a) => a.respond(c, { ok: true, result: { columns: ["n"], rows: [[1]], rowCount: 1, truncated: false } }));
    const slow = await scripted(h, "fan-slow", { suite: "fan" });
    const silent = await scripted(h, "fan-silent", { suite: "fan", silent: "yes" });

    const { page, errors, cspViolations } = await browser.open(`${h.url}/#/query`);
    await signIn(page, h.adminToken);
    await page.getByLabel("Labels").check();
    await page.getByTestId("target-labels").fill("suite=fan");
    await page.getByTestId("timeout").fill("8");
    await page.getByTestId("sql").fill("SELECT 1 AS n");
    await page.getByTestId("sql").press("Control+Enter");

    // The fast agent's result is on the page while the slow one is still pending: they land one by one.
    const target = (host: string) => page.getByTestId("target-row").filter({ hasText: host });
    await waitFor("fan-fast ok", async () => (await target("fan-fast").getAttribute("data-status")) === "ok", { timeoutMs: UI_TIMEOUT_MS });
    expect(await target("fan-slow").getAttribute("data-status")).toBe("pending");
    await textOf(page.getByTestId("fanout-pending").locator("strong"), "2");
    const [slowCommand] = await slow.agent.waitForQueries(1);
    slow.agent.respond(slowCommand!, { ok: true, result: { columns: ["n"], rows: [[2]], rowCount: 1, truncated: false } });
    await waitFor("fan-slow ok", async () => (await target("fan-slow").getAttribute("data-status")) === "ok", { timeoutMs: UI_TIMEOUT_MS });
    expect(await target("fan-silent").getAttribute("data-status")).toBe("pending");

    await textOf(page.getByTestId("fanout-state"), "done");
    await textOf(page.getByTestId("fanout-ok").locator("strong"), "2");
    await textOf(page.getByTestId("fanout-timeout").locator("strong"), "1");
    expect(await target("fan-silent").getAttribute("data-status")).toBe("timeout");
    const merged = page.getByTestId("fanout").getByTestId("result-table");
    expect(await merged.locator("thead th").allTextContents()).toEqual(["agent", "n"]);
    expect(await merged.locator("tbody tr").allTextContents()).toEqual(["fan-fast1", "fan-slow2"]);
    expect(await exported(page, "Export CSV")).toBe("agent,n\r\nfan-fast,1\r\nfan-slow,2\r\n");
    expect(JSON.parse(await exported(page, "Export JSON"))).toEqual([{ agent: "fan-fast", n: 1 }, { agent: "fan-slow", n: 2 }]);
    await screenshot(page, "query-fanout");

    // Cancel a fan-out to the silent agent alone while it runs: the hub sends `cancel` to the agent, the
    // target reads cancelled and the fan-out done, long before its 30 s deadline.
    await page.getByTestId("target-labels").fill("silent=yes");
    await page.getByTestId("timeout").fill("30");
    await page.getByTestId("sql").fill("SELECT 'cancel me' AS n");
    await page.getByTestId("run").click();
    await textOf(page.getByTestId("fanout-state"), /^running/);
    const fanoutCommand = await silent.agent.waitForQuery("SELECT 'cancel me' AS n");
    await page.getByTestId("cancel").click();
    await silent.agent.waitForFrame("the hub's cancel of the fan-out target", (f) => f.type === "cancel" && f.correlationId === fanoutCommand.correlationId);
    await textOf(page.getByTestId("cancelled"), /^Cancelled: 1 pending target was cancelled/);
    await textOf(page.getByTestId("fanout-state"), "done");
    await waitFor("fan-silent cancelled", async () => (await target("fan-silent").getAttribute("data-status")) === "cancelled", { timeoutMs: UI_TIMEOUT_MS });
    await textOf(page.getByTestId("fanout-cancelled").locator("strong"), "1");
    await textOf(page.getByTestId("fanout-pending").locator("strong"), "0");
    await textOf(page.getByTestId("fanout-error").locator("strong"), "0");
    await textOf(target("fan-silent").locator("td").last(), /^cancelled: the fan-out was cancelled by /);
    expect(await page.getByTestId("run").isEnabled()).toBe(true);

    // Cancel a single-agent query while it runs: the browser drops the request and the hub cancels the
    // command on the agent.
    await page.getByLabel("One agent").check();
    await page.getByTestId("target-agent").selectOption(silent.agentId);
    await page.getByTestId("sql").fill("SELECT 'single' AS n");
    await page.getByTestId("run").click();
    const command = await silent.agent.waitForQuery("SELECT 'single' AS n");
    await page.getByTestId("cancel").click();
    await textOf(page.getByTestId("single-error"), /^Cancelled/);
    await silent.agent.waitForFrame("the hub's cancel", (f) => f.type === "cancel" && f.correlationId === command.correlationId);

    await page.getByRole("link", { name: "History" }).click();
    const newest = page.getByTestId("history-row").filter({ hasText: "fan_" }).first();
    await textOf(newest.locator(".query-cell"), "SELECT 'cancel me' AS n");
    await screenshot(page, "history");
    await page.getByTestId("history-status").selectOption("timeout");
    await textOf(newest.locator(".query-cell"), "SELECT 1 AS n");
    expect(await page.getByTestId("history-row").locator(".badge").allTextContents()).toEqual(["timeout"]);
    await page.getByTestId("history-status").selectOption("");
    await textOf(newest.locator(".query-cell"), "SELECT 'cancel me' AS n");
    await newest.locator(".query-cell a").click();
    await textOf(page.getByTestId("detail-query"), "SELECT 'cancel me' AS n");
    await textOf(page.getByTestId("target-row").first(), /fan-silent/);
    await screenshot(page, "history-fanout");
    expect(errors).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it("gives a read session no Run button, no revoke and no tokens page; the API refuses it with the cookie; signing out ends the session", async () => {
    const h = hub();
    const { agentId } = await scripted(h, "read-target", { suite: "read" }, (c, a) => a.respond(c));
    const readToken = await h.api.createToken("api", "read", "console-reader");

    const { page } = await browser.open(h.url);
    await page.getByLabel("API token").fill("tok_forged.not-a-secret");
    await page.getByRole("button", { name: "Sign in" }).click();
    await textOf(page.getByRole("alert"), /^unauthorized: /);
    await signIn(page, readToken);
    await textOf(page.getByTestId("scope"), "read");
    expect(await page.getByRole("link", { name: "Tokens" }).count()).toBe(0);
    await page.goto(`${h.url}/#/agents/${agentId}`);
    await textOf(page.getByTestId("agent-hostname"), "read-target");
    expect(await page.getByRole("button", { name: /Revoke/ }).count()).toBe(0);
    await page.getByRole("link", { name: "Query", exact: true }).click();
    await page.getByText("Your session can read only").waitFor();
    expect(await page.getByTestId("run").count()).toBe(0);

    const refused = await page.evaluate(async (id) => {
      const session = (await (await fetch("/api/v1/session")).json()) as { csrfToken: string };
      const res = await fetch(`/api/v1/agents/${id}/query`, { method: "POST", headers: { "content-type": "application/json", "x-csrf-token": session.csrfToken }, body: JSON.stringify({ query: "select 1" }) });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    }, agentId);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("forbidden");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API token").waitFor();
    expect(await page.evaluate(async () => (await fetch("/api/v1/agents")).status)).toBe(401);
  });

  it("renders what a hostile agent sends as text (nothing executes) and refuses a POST with the cookie but without the CSRF token", async () => {
    const h = hub();
    let answer = 0;
    const { agentId } = await scripted(h, IMG, { xss: SCRIPT }, (c, a) => {
      answer++;
      if (answer === 1) a.respond(c, { ok: true, result: { columns: [IMG, "script", "long"], rows: [[IMG, SCRIPT, LONG]], rowCount: 1, truncated: false } });
      else a.respond(c, { ok: false, code: "query_failed", error: SCRIPT });
    });

    const { page, dialogs, errors, cspViolations } = await browser.open(h.url);
    await signIn(page, h.adminToken);
    const row = fleetRow(page, IMG);
    await textOf(row.getByTestId("status"), "online");
    await textOf(row.locator(".labels"), `xss=${SCRIPT}`);

    await page.goto(`${h.url}/#/query/${agentId}`);
    await page.getByTestId("target-agent").selectOption(agentId);
    await page.getByTestId("sql").fill("select 1");
    await page.getByTestId("run").click();
    const result = page.getByTestId("single-result");
    expect(await textOf(result.locator("th").first(), IMG)).toBe(IMG);
    expect((await result.locator("td").allTextContents()).slice(0, 2)).toEqual([IMG, SCRIPT]);
    const long = result.locator("td").nth(2);
    expect(await long.textContent()).toBe(`${LONG.slice(0, 120)}…all ${LONG.length} chars`);
    await long.getByRole("button", { name: `all ${LONG.length} chars` }).click();
    expect(await long.locator(".cell").evaluate((el) => el.firstChild?.textContent)).toBe(LONG);
    await page.getByTestId("run").click();
    await textOf(page.getByTestId("single-error"), `query_failed: ${SCRIPT}`);

    await page.goto(`${h.url}/#/agents/${agentId}`);
    await textOf(page.getByTestId("agent-hostname"), IMG);
    await textOf(page.getByTestId("history-row").first().locator("td").nth(1), IMG);
    await page.getByTestId("history-row").first().locator(".query-cell a").click();
    await textOf(page.getByTestId("command-error"), `query_failed: ${SCRIPT}`);
    await page.goBack();
    await page.getByTestId("history-row").nth(1).locator(".query-cell a").click();
    expect(await page.getByTestId("result-table").locator("thead th").first().textContent()).toBe(IMG);
    expect((await page.getByTestId("result-table").locator("td").allTextContents()).slice(0, 2)).toEqual([IMG, SCRIPT]);

    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned)).toBeUndefined();
    expect(await page.locator("img").count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    expect(cspViolations).toEqual([]);

    // As a form on another site would post: the cookie rides along, the CSRF header does not.
    const forged = await page.evaluate(async () => {
      const res = await fetch("/api/v1/queries", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ query: "select 1", targets: { all: true } }) });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    });
    expect(forged).toEqual({ status: 403, body: { error: { code: "csrf_failed", message: expect.any(String) } } });
  });

  it("revokes an agent from its page after a confirmation; lists, creates (shown once, with the install line of an enroll token) and revokes tokens", async () => {
    const h = hub();
    const doomed = await scripted(h, "to-revoke", { suite: "revoke" });
    const { page } = await browser.open(`${h.url}/#/agents/${doomed.agentId}`);
    await signIn(page, h.adminToken);
    await textOf(page.getByTestId("agent-hostname"), "to-revoke");
    await page.getByRole("button", { name: "Revoke…" }).click();
    await page.getByRole("button", { name: "Revoke", exact: true }).click();
    expect((await doomed.agent.closed).code).toBe(4403);
    await page.getByTestId("shown-count").waitFor();
    expect(await page.getByTestId("agent-link").getByText("to-revoke", { exact: true }).count()).toBe(0);

    await page.getByRole("link", { name: "Tokens" }).click();

    await page.getByTestId("token-scope").selectOption("query");
    await page.getByTestId("token-name").fill("console-query");
    await page.getByRole("button", { name: "Create" }).click();
    const secret = await textOf(page.getByTestId("created-secret"), /\S{16,}/);
    expect((await h.api.get("/api/v1/agents", { token: secret })).status).toBe(200);

    await page.getByTestId("token-kind").selectOption("enroll");
    await page.getByTestId("token-name").fill("console-enroll");
    await page.getByRole("button", { name: "Create" }).click();
    const line = await textOf(page.getByTestId("install-line"), new RegExp(`${h.url.replace(/[.:/]/g, "\\$&")}/install\\.sh`));
    const enrollSecret = await textOf(page.getByTestId("created-secret"), /\S{16,}/);
    expect(line).toContain(enrollSecret);
    await screenshot(page, "tokens");

    const row = page.getByTestId("token-row").filter({ hasText: "console-query" });
    await row.getByRole("button", { name: "Revoke…" }).click();
    await row.getByRole("button", { name: "Revoke console-query" }).click();
    await textOf(row.locator(".badge"), "revoked");
    await waitFor("the revoked token refused", async () => (await h.api.get("/api/v1/agents", { token: secret })).status === 401);
  });
});

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useSharedHub } from "./fixtures/hub-process.js";
import { AGENT_BIN, HUB_BIN } from "./fixtures/process.js";
import { inPty, uplinkInPty } from "./fixtures/pty.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { AgentList } from "../packages/protocol/dist/index.js";

/**
 * What reaches an operator's terminal when hosts send terminal escapes: the real `uplink` CLI runs in a
 * pseudo-terminal (util-linux `script`) against a real hub, with scripted agents sending escapes in
 * their hostname and in result cells. Nothing a host sent may act on the terminal or forge a line.
 */

/** Sets the window title, clears the screen, writes the clipboard (OSC 52), then forges an agents row. */
const ROGUE_HOSTNAME = "\u001b]0;pwned\u0007\u001b[2J\u001b]52;c;cm0gLXJmIH4=\u0007web-1\nagt_forged00000000000000  trusted-db  online";
/** Control characters a terminal acts on; the CLI's own output uses none but \r and \n (and its progress line's \r). */
const RAW_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/;

describe("terminal escapes from hosts (uplink in a pty)", () => {
  const hub = useSharedHub();
  const raw = useRawAgents();
  const env = () => ({ UPLINK_HUB: hub().url, UPLINK_TOKEN: hub().adminToken });

  it("shows a rogue hello's hostname escaped on one line of `uplink agents`, forging no row", async () => {
    const { agentId, agentKey } = await hub().api.enroll("rogue");
    await raw.connect(hub().agentUrl, { agentKey, hostname: ROGUE_HOSTNAME });
    await waitFor("the rogue agent online", async () => (await hub().api.agent(agentId)).body.status === "online");

    const shown = await uplinkInPty(["agents"], { env: env() });
    expect(shown.code, shown.stdout).toBe(0);
    expect(shown.stdout).not.toMatch(RAW_CONTROL);
    const lines = shown.stdout.split("\r\n").filter((l) => l !== "");
    const agents = (await hub().api.get("/api/v1/agents")).body.agents as unknown[];
    expect(lines).toHaveLength(1 + agents.length);
    expect(lines.filter((l) => l.includes("agt_forged"))).toHaveLength(lines.some((l) => l.includes("agt_forged")) ? 1 : 0);
    const row = lines.find((l) => l.startsWith(agentId));
    expect(row).toBeDefined();
    // The hub keeps the reported hostname (then it is shown escaped) or refuses it (then the enrolled one shows).
    const stored = (await hub().api.agent(agentId)).body.hostname;
    const shownHostname = stored === ROGUE_HOSTNAME ? "\\x1b]0;pwned\\x07\\x1b[2J\\x1b]52;c;cm0gLXJmIH4=\\x07web-1\\nagt_forged" : stored;
    expect(row).toContain(shownHostname);

    const one = await uplinkInPty(["agent", agentId], { env: env() });
    expect(one.stdout).not.toMatch(RAW_CONTROL);
    expect(one.stdout).toContain(`hostname   ${shownHostname}`);

    // --json stays exact: the hostname round-trips byte for byte.
    const json = await uplinkInPty(["--json", "agents"], { env: env() });
    const parsed = JSON.parse(json.stdout) as AgentList;
    expect(parsed.agents.find((a) => a.id === agentId)?.hostname).toBe(stored);
  });

  it("escapes result cells, column names and agent error messages in `uplink query`, single and fan-out", async () => {
    const cell = "\u001b]0;owned\u0007\u001b[31mred\u001b[0m evil\u202egnp.exe web\u200b-1 \u009b2J";
    const { agent, agentId } = await raw.enrolled(hub(), "cells", {
      onQuery: (command, a) => {
        if (command.query === "fail") a.respond(command, { ok: false, code: "query_failed", error: `no such table: \u001b[2Jx\nFORGED` });
        else a.respond(command, { ok: true, result: { columns: ["na\u001b[8mme"], rows: [[cell], [`two\nlines`]], rowCount: 2, truncated: false } });
      },
    });
    expect(agent.isOpen).toBe(true);

    const single = await uplinkInPty(["query", agentId, "select name from t"], { env: env() });
    expect(single.code, single.stdout).toBe(0);
    expect(single.stdout).not.toMatch(RAW_CONTROL);
    expect(single.stdout).toContain("na\\x1b[8mme");
    expect(single.stdout).toContain("\\x1b]0;owned\\x07\\x1b[31mred\\x1b[0m evil\\u202egnp.exe web\\u200b-1 \\x9b2J");
    expect(single.stdout).toContain("two\\nlines");

    const failed = await uplinkInPty(["query", agentId, "fail"], { env: env() });
    expect(failed.code).toBe(1);
    expect(failed.stdout).not.toMatch(RAW_CONTROL);
    expect(failed.stdout).toContain("no such table: \\x1b[2Jx\\nFORGED");

    const fanout = await uplinkInPty(["query", "--all", "select name from t"], { env: env() });
    expect(fanout.stdout).not.toMatch(RAW_CONTROL);
    expect(fanout.stdout).toContain("\\x1b]0;owned\\x07");

    const history = await uplinkInPty(["history", "--agent", agentId], { env: env() });
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(RAW_CONTROL);

    const exact = await uplinkInPty(["--json", "query", agentId, "select name from t"], { env: env() });
    expect((JSON.parse(exact.stdout) as { result: { rows: string[][] } }).result.rows[0]?.[0]).toBe(cell);
  });

  it("escapes token names in `uplink-hub token list`", async () => {
    const name = "\u001b]0;pwned\u0007ops\nFORGED  api  admin";
    expect((await hub().api.post("/api/v1/tokens", { kind: "api", scope: "read", name })).status).toBe(201);
    const list = await inPty(HUB_BIN, ["token", "list", "--data-dir", hub().dataDir]);
    expect(list.code, list.stdout).toBe(0);
    expect(list.stdout).not.toMatch(RAW_CONTROL);
    expect(list.stdout).toContain("\\x1b]0;pwned\\x07ops\\nFORGED  api  admin");
  });

  it("escapes what a query of the host itself returns in `uplink-agent query`, and `tables` prints no control character", async () => {
    const shown = await inPty(AGENT_BIN, ["query", "select char(27) || ']0;pwned' || char(7) || char(10) || 'next' as \"col\u001b[2J\""]);
    expect(shown.code, shown.stdout).toBe(0);
    expect(shown.stdout).not.toMatch(RAW_CONTROL);
    expect(shown.stdout).toContain("\\x1b]0;pwned\\x07\\nnext");
    expect(shown.stdout).toContain("col\\x1b[2J");
    const tables = await inPty(AGENT_BIN, ["tables"], { timeoutMs: 30_000 });
    expect(tables.code).toBe(0);
    expect(tables.stdout).not.toMatch(RAW_CONTROL);
    expect(tables.stdout).toContain("processes");
  });

  it("escapes what a hostile hub answers to `uplink-agent enroll`", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "unauthorized", message: "\u001b]0;pwned\u0007\u001b[2Jbad token\nuplink-agent: enrolled fine" } }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dir = await mkdtemp(join(tmpdir(), "uplink-esc-"));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const shown = await inPty(AGENT_BIN, ["enroll", "--hub", url, "--token", "x", "--state", join(dir, "state.json")]);
      expect(shown.code).toBe(1);
      expect(shown.stdout).not.toMatch(RAW_CONTROL);
      expect(shown.stdout).toContain("enrollment refused (401): \\x1b]0;pwned\\x07\\x1b[2Jbad token\\nuplink-agent: enrolled fine");
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { randomBytes } from "node:crypto";
import {
  PolicyPatch,
  PolicyRequest,
  SchedulePatch,
  ScheduleRequest,
  ScheduleResultsQuery,
  type PolicyDetail,
  type PolicyHost,
  type PolicyList,
  type PolicyView,
  type ScheduleList,
  type ScheduleResults,
  type ScheduleRun,
  type ScheduleView,
} from "@uplink/protocol";
import { HubError, NotFoundError } from "../../errors.js";
import type { PolicyHostRecord, ScheduleChange, ScheduleKind, ScheduleRecord, ScheduleRunRecord } from "../../store/schedule-store.js";
import { parseWith, readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { deadlineOf } from "./agents.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

const iso = (ms: number): string => new Date(ms).toISOString();

function common(r: ScheduleRecord) {
  return { id: r.id, name: r.name, query: r.query, collector: r.collector, intervalMs: r.intervalMs, targets: r.targets, timeoutMs: r.timeoutMs, enabled: r.enabled, createdAt: iso(r.createdAt), updatedAt: iso(r.updatedAt) };
}

/** A schedule as the REST API shows it. */
export function scheduleView(r: ScheduleRecord): ScheduleView {
  return { ...common(r), mode: r.mode ?? "snapshot" };
}

/** A run as the REST API shows it. */
export function runView(r: ScheduleRunRecord, mode: ScheduleView["mode"]): ScheduleRun {
  return {
    seq: r.seq,
    runId: `${r.scheduleId}:${r.agentId}:${r.slot}`,
    scheduleId: r.scheduleId,
    agentId: r.agentId,
    slot: r.slot,
    correlationId: r.correlationId,
    mode,
    status: r.status,
    snapshot: r.snapshot,
    added: r.added,
    removed: r.removed,
    rows: r.rows,
    error: r.errorCode === null ? null : { code: r.errorCode, message: r.errorMessage ?? "" },
    createdAt: iso(r.createdAt),
    finishedAt: r.finishedAt === null ? null : iso(r.finishedAt),
  };
}

function hostView(h: PolicyHostRecord): PolicyHost {
  return { agentId: h.agentId, state: h.state, reason: h.reason, since: iso(h.since), checkedAt: iso(h.checkedAt) };
}

const PREFIX: Record<ScheduleKind, string> = { schedule: "sch_", policy: "pol_" };

/**
 * `/api/v1/schedules…` and `/api/v1/policies…`: create, list, show, change and delete scheduled queries and
 * policies (scope `admin` to change, `read` to see), and read the stored runs of a schedule. The scheduler
 * (schedules/scheduler.ts) is told of every change, so it applies at the next tick; a delete stops at once.
 */
export function scheduleRoutes(s: ApiServices): Route[] {
  const taken = (kind: ScheduleKind, name: string) => HubError.of("name_taken", `a ${kind} named ${JSON.stringify(name)} already exists`);

  async function find(kind: ScheduleKind, id: string): Promise<ScheduleRecord> {
    const record = await s.store.schedules.findSchedule(id);
    if (record === undefined || record.kind !== kind) throw new NotFoundError(`no ${kind} ${id}`);
    return record;
  }

  async function create(kind: ScheduleKind, body: { name: string; query: string; collector: string; interval: number; targets: ScheduleRecord["targets"]; mode?: ScheduleRecord["mode"]; timeoutMs?: number | undefined; enabled: boolean }): Promise<ScheduleRecord> {
    const now = Date.now();
    const record: ScheduleRecord = {
      id: `${PREFIX[kind]}${randomBytes(8).toString("hex")}`,
      kind,
      name: body.name,
      query: body.query,
      collector: body.collector,
      intervalMs: body.interval,
      targets: body.targets,
      mode: kind === "schedule" ? (body.mode ?? "snapshot") : null,
      timeoutMs: body.timeoutMs === undefined ? null : deadlineOf(s, body.timeoutMs),
      enabled: body.enabled,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await s.store.schedules.createSchedule(record))) throw taken(kind, body.name);
    s.scheduler.changed();
    return record;
  }

  async function update(kind: ScheduleKind, id: string, body: { name?: string | undefined; query?: string | undefined; collector?: string | undefined; interval?: number | undefined; targets?: ScheduleRecord["targets"] | undefined; mode?: ScheduleRecord["mode"] | undefined; timeoutMs?: number | null | undefined; enabled?: boolean | undefined }): Promise<ScheduleRecord> {
    await find(kind, id);
    const { interval, timeoutMs, ...rest } = body;
    const change: ScheduleChange = { ...rest, updatedAt: Date.now() };
    if (interval !== undefined) change.intervalMs = interval;
    if (timeoutMs !== undefined) change.timeoutMs = timeoutMs === null ? null : deadlineOf(s, timeoutMs);
    const updated = await s.store.schedules.updateSchedule(id, change);
    if (updated === "name_taken") throw taken(kind, body.name!);
    if (updated === undefined) throw new NotFoundError(`no ${kind} ${id}`);
    s.scheduler.changed();
    return updated;
  }

  async function remove(kind: ScheduleKind, id: string): Promise<void> {
    await find(kind, id);
    if (!(await s.store.schedules.deleteSchedule(id))) throw new NotFoundError(`no ${kind} ${id}`);
    s.scheduler.changed(id);
  }

  const policyView = (r: ScheduleRecord): PolicyView => ({ ...common(r), counts: s.scheduler.countsOf(r.id) });

  return [
    {
      method: "POST",
      path: "/api/v1/schedules",
      scope: "admin",
      async handle({ req, res, principal, log }) {
        const record = await create("schedule", await readJson(req, ScheduleRequest, MAX_BODY_BYTES));
        log.info({ scheduleId: record.id, name: record.name, by: principal?.name }, "schedule created");
        sendJson(res, 201, scheduleView(record) satisfies ScheduleView, { Location: `/api/v1/schedules/${record.id}` });
      },
    },
    {
      method: "GET",
      path: "/api/v1/schedules",
      scope: "read",
      async handle({ res }) {
        sendJson(res, 200, { schedules: (await s.store.schedules.listSchedules("schedule")).map(scheduleView) } satisfies ScheduleList);
      },
    },
    {
      method: "GET",
      path: "/api/v1/schedules/:id",
      scope: "read",
      async handle({ res, params }) {
        sendJson(res, 200, scheduleView(await find("schedule", params.id!)));
      },
    },
    {
      method: "PATCH",
      path: "/api/v1/schedules/:id",
      scope: "admin",
      async handle({ req, res, params, principal, log }) {
        const record = await update("schedule", params.id!, await readJson(req, SchedulePatch, MAX_BODY_BYTES));
        log.info({ scheduleId: record.id, by: principal?.name }, "schedule changed");
        sendJson(res, 200, scheduleView(record));
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/schedules/:id",
      scope: "admin",
      async handle({ res, params, principal, log }) {
        await remove("schedule", params.id!);
        log.info({ scheduleId: params.id, by: principal?.name }, "schedule deleted");
        res.writeHead(204).end();
      },
    },
    {
      method: "GET",
      path: "/api/v1/schedules/:id/results",
      scope: "read",
      async handle({ res, params, query }) {
        const record = await find("schedule", params.id!);
        const q = parseWith(ScheduleResultsQuery, Object.fromEntries(query), "query");
        const runs = await s.store.schedules.listRuns(record.id, q);
        const nextBefore = runs.length === q.limit ? runs[runs.length - 1]!.seq : null;
        sendJson(res, 200, { results: runs.map((r) => runView(r, record.mode ?? "snapshot")), nextBefore } satisfies ScheduleResults);
      },
    },
    {
      method: "POST",
      path: "/api/v1/policies",
      scope: "admin",
      async handle({ req, res, principal, log }) {
        const record = await create("policy", await readJson(req, PolicyRequest, MAX_BODY_BYTES));
        log.info({ policyId: record.id, name: record.name, by: principal?.name }, "policy created");
        sendJson(res, 201, policyView(record) satisfies PolicyView, { Location: `/api/v1/policies/${record.id}` });
      },
    },
    {
      method: "GET",
      path: "/api/v1/policies",
      scope: "read",
      async handle({ res }) {
        sendJson(res, 200, { policies: (await s.store.schedules.listSchedules("policy")).map(policyView) } satisfies PolicyList);
      },
    },
    {
      method: "GET",
      path: "/api/v1/policies/:id",
      scope: "read",
      async handle({ res, params }) {
        const record = await find("policy", params.id!);
        // The counts and the failing hosts from the store: the same answer on every replica.
        const hosts = await s.store.schedules.listPolicyHosts(record.id);
        const counts = { pass: 0, fail: 0, unknown: 0 };
        for (const h of hosts) counts[h.state]++;
        const failing = hosts.filter((h) => h.state === "fail").map(hostView);
        sendJson(res, 200, { ...common(record), counts, failing } satisfies PolicyDetail);
      },
    },
    {
      method: "PATCH",
      path: "/api/v1/policies/:id",
      scope: "admin",
      async handle({ req, res, params, principal, log }) {
        const record = await update("policy", params.id!, await readJson(req, PolicyPatch, MAX_BODY_BYTES));
        log.info({ policyId: record.id, by: principal?.name }, "policy changed");
        sendJson(res, 200, policyView(record));
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/policies/:id",
      scope: "admin",
      async handle({ res, params, principal, log }) {
        await remove("policy", params.id!);
        log.info({ policyId: params.id, by: principal?.name }, "policy deleted");
        res.writeHead(204).end();
      },
    },
  ];
}

import type { AgentCounts, AgentList, AgentStatus, AgentView, HealthResult } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.js";
import { compareAgents, fleetQuery, matches, type FleetFilter } from "./fleet-view.js";

/** Agents a page of the list holds: the first screenfuls at once, the rest as the list is scrolled. */
export const PAGE_SIZE = 200;
/** Rows short of the loaded end at which the next page is asked for. */
const PREFETCH_ROWS = 100;
/** The counts are asked again this long after the last status change (a storm of them is one request). */
const COUNTS_DELAY_MS = 1000;
/** More changed agents than this at once (a reconnect storm) reload the view instead of one request each. */
const MAX_AGENT_REFETCH = 20;

const NO_COUNTS: AgentCounts = { online: 0, unresponsive: 0, offline: 0 };

/**
 * The fleet as the console knows it: one view of the agent list (a status and label filter, answered by the
 * hub a page at a time, in its order: hostname, then id) with the counts per status for its labels, and
 * every agent met so far by id (what other pages look hostnames up in). The event stream keeps both current:
 *
 *   first page + counts ──► rendered at once; further pages as the list is scrolled (in order)
 *   /api/v1/events, opened at the same time:
 *        │ agent.connected / disconnected  → patch the loaded row, refetch that agent; counts again (debounced)
 *        │ agent.health_changed             → patch status and last health; counts again (debounced)
 *        │ an agent not loaded that belongs in the loaded range → fetched and put in its place
 *        │ gap (missed events pruned)       → the view again from its first page
 *        └ dropped: EventSource reconnects with Last-Event-ID and the hub replays the rest; refused (closed
 *          for good): a new stream after a pause, and the view again from its first page once it is open
 */
export class FleetStore {
  /** Every agent met: the pages loaded, the agents fetched alone. */
  readonly agents = new Map<string, AgentView>();
  /** The view's filter: sent to the hub with every page. */
  filter: FleetFilter = { status: "", labels: {} };
  /** The ids of the view's rows loaded so far, in the list's order. */
  rows: string[] = [];
  /** Agents per status with the view's labels (whatever its status). */
  counts: AgentCounts = NO_COUNTS;
  /** True once the view's first page arrived. */
  loaded = false;
  /** The stream's state, shown beside the counts. */
  live: "connecting" | "live" | "reconnecting" = "connecting";
  error = "";
  /** Bumped on every change: what views memoise on. */
  version = 0;
  readonly #listeners = new Set<() => void>();
  readonly #refetch = new Set<string>();
  #nextAfter: string | null = null;
  /** Bumped when the view starts again (filter, gap): answers for an older view are dropped. */
  #generation = 0;
  #paging: Promise<void> | undefined;
  /** The furthest row the list asked for: pages keep coming, in order, until it is loaded. */
  #wanted = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #countsTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #source: EventSource | undefined;
  #stopped = false;
  /** A refused stream was replaced: what happened in between is known only by loading the view again. */
  #reloadOnOpen = false;
  /** Agents an event touched while the first page was in flight: its answer may predate the event. */
  readonly #touchedDuringLoad = new Set<string>();

  /** Loads the first page and follows the event stream until stop(); both start at once. */
  start(): void {
    void this.reload();
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    this.#source?.close();
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#countsTimer);
    clearTimeout(this.#retryTimer);
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Rows the view holds in all, loaded or not: the counts' (exact once the last page arrived). */
  get total(): number {
    if (this.#nextAfter === null) return this.rows.length;
    const counted = this.filter.status === "" ? this.counts.online + this.counts.unresponsive + this.counts.offline : this.counts[this.filter.status];
    return Math.max(counted, this.rows.length);
  }

  /** Agents with the view's labels, whatever their status. */
  get labelTotal(): number {
    return this.counts.online + this.counts.unresponsive + this.counts.offline;
  }

  /** Shows the list with another filter, from its first page (nothing when it is the same filter). */
  setFilter(filter: FleetFilter): void {
    if (fleetQuery(filter) === fleetQuery(this.filter)) return;
    this.filter = filter;
    void this.reload();
  }

  /** The list wants rows up to `index`: further pages are asked for, in order, until they are loaded. */
  want(index: number): void {
    this.#wanted = Math.max(this.#wanted, index);
    if (this.loaded && this.#wanted + PREFETCH_ROWS >= this.rows.length) void this.#more();
  }

  /** Puts an agent fetched elsewhere (the agent page) into the list. */
  put(agent: AgentView): void {
    this.agents.set(agent.id, agent);
    this.#place(agent);
    this.#emit();
  }

  remove(agentId: string): void {
    const known = this.agents.delete(agentId);
    const at = this.rows.indexOf(agentId);
    if (at >= 0) this.rows.splice(at, 1);
    if (known || at >= 0) {
      this.#scheduleCounts();
      this.#emit();
    }
  }

  /** The view again from its first page, with fresh counts (a new filter, a gap in the events). */
  reload(): Promise<void> {
    const generation = ++this.#generation;
    this.#wanted = 0;
    this.#touchedDuringLoad.clear();
    // Until the first page is in, no further page is asked for (the old view's place means nothing now).
    const first = this.#page(generation, null).then((page) => {
      if (page === undefined) return;
      this.rows = [];
      this.#add(page);
      this.loaded = true;
      for (const id of this.#touchedDuringLoad) this.#schedule(id);
      this.#touchedDuringLoad.clear();
    });
    this.#paging = first;
    return first.finally(() => {
      if (this.#paging === first) this.#paging = undefined;
      if (generation === this.#generation && this.loaded) this.want(this.#wanted);
      this.#emit();
    });
  }

  /** The next page of the view, unless a page is in flight (its end calls want() again). */
  #more(): Promise<void> {
    if (this.#paging !== undefined || this.#nextAfter === null) return Promise.resolve();
    const generation = this.#generation;
    let added = false;
    const paging = this.#page(generation, this.#nextAfter).then((page) => {
      if (page !== undefined) this.#add(page);
      added = page !== undefined;
    });
    this.#paging = paging;
    return paging.finally(() => {
      if (this.#paging === paging) this.#paging = undefined;
      this.#emit();
      // A failed page is asked again at the list's next move, not at once.
      if (added) this.want(this.#wanted);
    });
  }

  /** One page of the view after `after`; undefined when it failed or the view started again meanwhile. */
  async #page(generation: number, after: string | null): Promise<AgentList | undefined> {
    try {
      const list = await api<AgentList>("GET", `/api/v1/agents${fleetQuery(this.filter, { limit: PAGE_SIZE, after: after ?? undefined })}`);
      if (generation !== this.#generation) return undefined;
      this.error = "";
      return list;
    } catch (err) {
      if (generation === this.#generation) this.error = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  #add(page: AgentList): void {
    for (const agent of page.agents) {
      this.agents.set(agent.id, agent);
      if (!this.rows.includes(agent.id, Math.max(0, this.rows.length - PAGE_SIZE))) this.rows.push(agent.id);
    }
    this.#nextAfter = page.nextAfter ?? null;
    if (page.counts !== undefined) this.counts = page.counts;
  }

  /**
   * An agent not among the loaded rows goes in its place when it belongs to the view and sorts inside what
   * is loaded (past the loaded end, a later page brings it).
   */
  #place(agent: AgentView): void {
    if (!this.loaded || this.rows.includes(agent.id) || !matches(agent, this.filter)) return;
    const lastId = this.rows.at(-1);
    const last = lastId === undefined ? undefined : this.agents.get(lastId);
    if (this.#nextAfter !== null && (last === undefined || compareAgents(agent, last) > 0)) return;
    let at = this.rows.findIndex((id) => {
      const other = this.agents.get(id);
      return other !== undefined && compareAgents(agent, other) < 0;
    });
    if (at < 0) at = this.rows.length;
    this.rows.splice(at, 0, agent.id);
  }

  /** The counts again, alone (a one-row page), a moment after the last change. */
  #scheduleCounts(): void {
    clearTimeout(this.#countsTimer);
    this.#countsTimer = setTimeout(() => {
      const generation = this.#generation;
      api<AgentList>("GET", `/api/v1/agents${fleetQuery({ status: "", labels: this.filter.labels }, { limit: 1 })}`).then(
        (list) => {
          if (generation !== this.#generation || list.counts === undefined) return;
          this.counts = list.counts;
          this.#emit();
        },
        () => undefined,
      );
    }, COUNTS_DELAY_MS);
  }

  #connect(): void {
    if (this.#stopped) return;
    const source = new EventSource("/api/v1/events");
    this.#source = source;
    source.onopen = () => {
      this.live = "live";
      if (this.#reloadOnOpen) {
        this.#reloadOnOpen = false;
        void this.reload();
      }
      this.#emit();
    };
    source.onerror = () => {
      this.live = "reconnecting";
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a 4xx, or the hub went away for good): start again later, and load the view again then.
        this.#reloadOnOpen = true;
        this.#retryTimer = setTimeout(() => this.#connect(), 3000);
      }
      this.#emit();
    };
    const on = <T>(type: string, handle: (data: T) => void) =>
      source.addEventListener(type, (event) => {
        try {
          handle(JSON.parse((event as MessageEvent<string>).data) as T);
        } catch {
          void this.reload();
        }
      });
    on<{ agentId: string; protocol: number }>("agent.connected", (e) => this.#patch(e.agentId, { status: "online", protocol: e.protocol }, true));
    on<{ agentId: string }>("agent.disconnected", (e) => this.#patch(e.agentId, { status: "offline" }, true));
    on<{ agentId: string; to: string; health: HealthResult | null }>("agent.health_changed", (e) => {
      const patch: Partial<AgentView> = { status: e.to as AgentStatus };
      if (e.health !== null) patch.lastHealth = e.health;
      this.#patch(e.agentId, patch, false);
    });
    on<unknown>("gap", () => void this.reload());
  }

  #patch(agentId: string, patch: Partial<AgentView>, refetch: boolean): void {
    const agent = this.agents.get(agentId);
    if (agent !== undefined) this.agents.set(agentId, { ...agent, ...patch });
    if (refetch || agent === undefined) this.#schedule(agentId);
    if (!this.loaded) this.#touchedDuringLoad.add(agentId);
    this.#scheduleCounts();
    this.#emit();
  }

  /** Refetches changed agents in batches; many at once (a reconnect storm) load the view again instead. */
  #schedule(agentId: string): void {
    this.#refetch.add(agentId);
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      const ids = [...this.#refetch];
      this.#refetch.clear();
      if (ids.length > MAX_AGENT_REFETCH) {
        void this.reload();
        return;
      }
      for (const id of ids) {
        api<AgentView>("GET", `/api/v1/agents/${encodeURIComponent(id)}`).then(
          (agent) => this.put(agent),
          (err: unknown) => {
            if (err instanceof ApiError && err.status === 404) this.remove(id);
          },
        );
      }
    }, 200);
  }

  #emit(): void {
    this.version++;
    for (const listener of this.#listeners) listener();
  }
}

let store: FleetStore | undefined;

/** The signed-in session's fleet store (started on first use). */
export function fleetStore(): FleetStore {
  if (store === undefined) {
    store = new FleetStore();
    store.start();
  }
  return store;
}

/** Stops and forgets the fleet store (sign-out). */
export function resetFleetStore(): void {
  store?.stop();
  store = undefined;
}

/** The fleet store, re-rendering the caller on every change (at most once a frame). */
export function useFleet(): FleetStore {
  const fleet = fleetStore();
  const [, setTick] = useState(0);
  useEffect(() => {
    let frame = 0;
    const unsubscribe = fleet.subscribe(() => {
      if (frame === 0) frame = requestAnimationFrame(() => {
        frame = 0;
        setTick((t) => t + 1);
      });
    });
    return () => {
      unsubscribe();
      cancelAnimationFrame(frame);
    };
  }, [fleet]);
  return fleet;
}

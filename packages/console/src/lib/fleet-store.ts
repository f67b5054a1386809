import type { AgentList, AgentStatus, AgentView, HealthResult } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError } from "./api.js";

/**
 * The fleet as the console knows it: the agent list, kept current by the hub's event stream.
 *
 *   load list ──► open /api/v1/events ──► on open: refetch the list (what changed before the stream began)
 *                        │ agent.connected / disconnected  → patch status, refetch that agent
 *                        │ agent.health_changed             → patch status and last health
 *                        │ gap (missed events pruned)       → refetch the list
 *                        └ dropped: EventSource reconnects with Last-Event-ID and the hub replays the rest;
 *                          refused (closed for good): a new stream after a pause, and the list refetched
 */
export class FleetStore {
  readonly agents = new Map<string, AgentView>();
  /** True once the first list arrived. */
  loaded = false;
  /** The stream's state, shown beside the counts. */
  live: "connecting" | "live" | "reconnecting" = "connecting";
  error = "";
  /** Bumped on every change: what views memoise on. */
  version = 0;
  readonly #listeners = new Set<() => void>();
  readonly #refetch = new Set<string>();
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #source: EventSource | undefined;
  #stopped = false;
  #listing: Promise<void> | undefined;
  #again: Promise<void> | undefined;
  /** Agents an event touched while a list request was in flight: its answer may predate the event. */
  readonly #touchedDuringList = new Set<string>();

  /** Loads the list and follows the event stream until stop(). */
  start(): void {
    // The list now (the page is useful at once), and again once the stream is open (onopen): a change
    // between the first list and the stream's start is not lost.
    void this.reload();
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    this.#source?.close();
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#retryTimer);
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Puts an agent fetched elsewhere (the agent page) into the list. */
  put(agent: AgentView): void {
    this.agents.set(agent.id, agent);
    this.#emit();
  }

  remove(agentId: string): void {
    if (this.agents.delete(agentId)) this.#emit();
  }

  /**
   * Refetches the whole list. One request at a time: a call while one is in flight gets one more after it
   * (the answer in flight may predate what prompted the call), however many calls came meanwhile.
   */
  reload(): Promise<void> {
    if (this.#listing !== undefined) {
      this.#again ??= this.#listing.then(() => {
        this.#again = undefined;
        return this.reload();
      });
      return this.#again;
    }
    this.#listing = api<AgentList>("GET", "/api/v1/agents")
      .then((list) => {
        this.agents.clear();
        for (const agent of list.agents) this.agents.set(agent.id, agent);
        this.loaded = true;
        this.error = "";
        for (const id of this.#touchedDuringList) this.#schedule(id);
      })
      .catch((err: unknown) => {
        this.error = err instanceof Error ? err.message : String(err);
      })
      .finally(() => {
        this.#listing = undefined;
        this.#touchedDuringList.clear();
        this.#emit();
      });
    return this.#listing;
  }

  #connect(): void {
    if (this.#stopped) return;
    const source = new EventSource("/api/v1/events");
    this.#source = source;
    source.onopen = () => {
      this.live = "live";
      void this.reload();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a 4xx, or the hub went away for good): start again later, with a fresh list.
        this.live = "reconnecting";
        this.#retryTimer = setTimeout(() => this.#connect(), 3000);
      } else {
        this.live = "reconnecting";
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
    if (this.#listing !== undefined) this.#touchedDuringList.add(agentId);
    this.#emit();
  }

  /** Refetches changed agents in batches; many at once (a reconnect storm) become one list request. */
  #schedule(agentId: string): void {
    this.#refetch.add(agentId);
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = undefined;
      const ids = [...this.#refetch];
      this.#refetch.clear();
      if (ids.length > 20) {
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

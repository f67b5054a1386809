import type { HubEventRecord } from "../store/store.js";

/** Where a destination's events go: resolves once every event given is delivered (durably), else throws. */
export interface Sink {
  /** Events one `deliver` call takes at most. */
  readonly batchSize: number;
  deliver(events: HubEventRecord[], signal: AbortSignal): Promise<void>;
}

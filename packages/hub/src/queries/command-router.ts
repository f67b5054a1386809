import { CloseCode } from "@uplink/protocol";
import { AgentOfflineError, ConnectionLostError } from "../errors.js";
import type { AgentRegistry } from "../agents/agent-registry.js";
import type { CommandReply, CommandRequest } from "../agents/pending-commands.js";
import type { AgentRecord } from "../store/store.js";

/**
 * Delivers a command to the connection of an agent and resolves with its reply. The embedded hub
 * delivers to its own sockets; a cluster replica also reaches sockets held by other replicas.
 */
export interface CommandRouter {
  /** True when this process holds the agent's socket. */
  holds(agentId: string): boolean;
  /** Rejects with AgentOfflineError when no connection holds the agent. */
  dispatch(agentId: string, request: CommandRequest): Promise<CommandReply>;
  /** The agents with their status as live as this router knows it. */
  presence(agents: AgentRecord[]): Promise<AgentRecord[]>;
  /** Closes a revoked agent's live socket with 4403, wherever it is held. */
  revoke(agentId: string): Promise<void>;
  /**
   * Asks the replica collecting a fan-out to cancel it (cluster mode); false when no replica took the
   * request (the embedded hub has no other replica).
   */
  cancelFanoutOn(replicaId: string, fanoutId: string, by: string): Promise<boolean>;
}

/** Delivery to the sockets of this process. */
export class LocalCommandRouter implements CommandRouter {
  constructor(private readonly registry: AgentRegistry) {}

  holds(agentId: string): boolean {
    return this.registry.get(agentId)?.state === "open";
  }

  /** The embedded store is the one record of presence (agents are marked offline at start-up). */
  async presence(agents: AgentRecord[]): Promise<AgentRecord[]> {
    return agents;
  }

  async revoke(agentId: string): Promise<void> {
    this.registry.get(agentId)?.close(CloseCode.REVOKED, "agent revoked", new ConnectionLostError("agent_disconnected", `agent ${agentId} was revoked`));
  }

  async cancelFanoutOn(): Promise<boolean> {
    return false;
  }

  dispatch(agentId: string, request: CommandRequest): Promise<CommandReply> {
    const connection = this.registry.get(agentId);
    if (connection === undefined) return Promise.reject(new AgentOfflineError(agentId));
    return connection.send(request);
  }
}

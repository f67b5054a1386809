import { AgentOfflineError } from "../errors.js";
import type { AgentRegistry } from "../agents/agent-registry.js";
import type { CommandReply, CommandRequest } from "../agents/pending-commands.js";

/**
 * Delivers a command to the connection of an agent and resolves with its reply. The embedded hub
 * delivers to its own sockets; a cluster replica also reaches sockets held by other replicas.
 */
export interface CommandRouter {
  /** True when the agent's socket is reachable from here. */
  isConnected(agentId: string): boolean;
  /** Rejects with AgentOfflineError when no connection holds the agent. */
  dispatch(agentId: string, request: CommandRequest): Promise<CommandReply>;
}

/** Delivery to the sockets of this process. */
export class LocalCommandRouter implements CommandRouter {
  constructor(private readonly registry: AgentRegistry) {}

  isConnected(agentId: string): boolean {
    return this.registry.get(agentId)?.state === "open";
  }

  dispatch(agentId: string, request: CommandRequest): Promise<CommandReply> {
    const connection = this.registry.get(agentId);
    if (connection === undefined) return Promise.reject(new AgentOfflineError(agentId));
    return connection.send(request);
  }
}

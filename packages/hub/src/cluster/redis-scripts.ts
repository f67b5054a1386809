import type { Ownership } from "./cluster-bus.js";

/**
 * Where the cluster keeps its state in Redis, under one prefix (several clusters, or test runs, share a
 * server):
 *
 *   agent:<agentId>            "<replicaId>@<epoch>": who holds the agent. No TTL: written on connect,
 *                              deleted on disconnect, valid while the replica's heartbeat is.
 *   replica:<id>:alive         the replica's heartbeat (TTL HEARTBEAT_TTL_MS, written every second)
 *   replica:<id>:agents        hash agentId → epoch of the connections the replica holds (so the
 *                              survivors can delete a dead replica's ownership without scanning)
 *   replica:<id>:taken         list of takeovers of the replica's connections by other replicas' claims
 *                              (read and emptied with each heartbeat: the notice that cannot be lost)
 *   replicas                   set of the replicas that wrote ownership (checked by the survivors)
 *   epoch                      the cluster's connection counter
 *   replica:<id> · events      Pub/Sub channels: one per replica, one for hub events
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}
  lease(name: string): string {
    return `${this.prefix}lease:${name}`;
  }
  agent(agentId: string): string {
    return `${this.prefix}agent:${agentId}`;
  }
  alive(replicaId: string): string {
    return `${this.prefix}replica:${replicaId}:alive`;
  }
  held(replicaId: string): string {
    return `${this.prefix}replica:${replicaId}:agents`;
  }
  taken(replicaId: string): string {
    return `${this.prefix}replica:${replicaId}:taken`;
  }
  replicas(): string {
    return `${this.prefix}replicas`;
  }
  epoch(): string {
    return `${this.prefix}epoch`;
  }
  channel(replicaId: string): string {
    return `${this.prefix}replica:${replicaId}`;
  }
  events(): string {
    return `${this.prefix}events`;
  }
}

/** Parses `<replicaId>@<epoch>` (or a bare replicaId). */
export function parseOwnership(value: string | null): Ownership | null {
  if (value === null) return null;
  const at = value.lastIndexOf("@");
  if (at < 0) return { replicaId: value, epoch: 0 };
  return { replicaId: value.slice(0, at), epoch: Number(value.slice(at + 1)) || 0 };
}

// Epochs are µs-sized integers: Lua prints numbers with 14 digits, so they are formatted with %d and
// passed as strings (a double holds them exactly; 2^53 µs is 285 years).
const LUA_OWNERSHIP = `
local function key(name) return ARGV[1] .. name end
local function split(value)
  local at = string.find(value, "@[^@]*$")
  if not at then return value, 0 end
  return string.sub(value, 1, at - 1), tonumber(string.sub(value, at + 1)) or 0
end`;

/**
 * A claim: the next epoch of the cluster's counter, which never runs below the claiming replica's clock in
 * µs (should Redis lose it, epochs still grow past those in use); the agent's ownership; the replica's
 * hash; and, when another live replica held the agent, a takeover recorded for it.
 * ARGV: prefix, replicaId, agentId, clock in µs. Returns {epoch, previous ownership or false}.
 */
const CLAIM = `${LUA_OWNERSHIP}
local epoch = redis.call("INCR", key("epoch"))
if epoch < tonumber(ARGV[4]) then
  epoch = tonumber(ARGV[4])
  redis.call("SET", key("epoch"), ARGV[4])
end
local e = string.format("%d", epoch)
local previous = redis.call("SET", key("agent:" .. ARGV[3]), ARGV[2] .. "@" .. e, "GET")
redis.call("HSET", key("replica:" .. ARGV[2] .. ":agents"), ARGV[3], e)
if previous then
  local owner, pe = split(previous)
  local pes = string.format("%d", pe)
  if owner ~= ARGV[2] then
    local held = key("replica:" .. owner .. ":agents")
    if redis.call("HGET", held, ARGV[3]) == pes then redis.call("HDEL", held, ARGV[3]) end
    if redis.call("EXISTS", key("replica:" .. owner .. ":alive")) == 1 then
      redis.call("RPUSH", key("replica:" .. owner .. ":taken"), cjson.encode({agentId = ARGV[3], epoch = pes, by = ARGV[2]}))
    end
  end
end
return {e, previous}`;

/** The command that claims `agentId` for `replicaId` (see CLAIM), as `eval` takes it. */
/** Takes a lease when free, or renews it for its holder. KEYS: the lease. ARGV: replicaId, ttlMs. Returns 1 when held by the caller. */
export const LEASE = `
local holder = redis.call("GET", KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
end
return 0`;

/** Drops a lease held by the caller. KEYS: the lease. ARGV: replicaId. */
export const RELEASE_LEASE = `
if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("DEL", KEYS[1]) end
return 0`;

export function claimCommand(keys: RedisKeys, replicaId: string, agentId: string, clockUs: number): [string, number, ...string[]] {
  return [CLAIM, 0, keys.prefix, replicaId, agentId, String(clockUs)];
}

/** Drops the ownership and the hash entry of one connection, each only while it still names that connection. ARGV: prefix, replicaId, agentId, epoch. */
export const RELEASE = `${LUA_OWNERSHIP}
local held = key("replica:" .. ARGV[2] .. ":agents")
if redis.call("HGET", held, ARGV[3]) == ARGV[4] then redis.call("HDEL", held, ARGV[3]) end
local k = key("agent:" .. ARGV[3])
if redis.call("GET", k) == ARGV[2] .. "@" .. ARGV[4] then redis.call("DEL", k) end
return 0`;

/**
 * Writes again the ownership of connections this replica holds (after Redis lost it, or its heartbeat
 * lapsed and the survivors deleted it). An agent whose ownership names a newer epoch is left alone and its
 * index returned with that ownership (taken over meanwhile); one naming an older epoch is taken back.
 * ARGV: prefix, replicaId, n, then n agentIds, then n epochs. Returns (index, value) pairs.
 */
export const RESTORE = `${LUA_OWNERSHIP}
local n = tonumber(ARGV[3])
local held = key("replica:" .. ARGV[2] .. ":agents")
redis.call("SADD", key("replicas"), ARGV[2])
local lost = {}
for i = 1, n do
  local agentId, e = ARGV[3 + i], ARGV[3 + n + i]
  local mine = ARGV[2] .. "@" .. e
  local current = redis.call("GET", key("agent:" .. agentId))
  local _, ce = split(current or "@0")
  if current == mine or current == false or ce < tonumber(e) then
    if current ~= mine then redis.call("SET", key("agent:" .. agentId), mine) end
    redis.call("HSET", held, agentId, e)
  else
    lost[#lost + 1] = i - 1
    lost[#lost + 1] = current
  end
end
return lost`;

/** The live owner of each agent, or false. ARGV: prefix, then agentIds. */
export const OWNERS = `${LUA_OWNERSHIP}
local alive, out = {}, {}
for i = 2, #ARGV do
  local value = redis.call("GET", key("agent:" .. ARGV[i]))
  out[i - 1] = false
  if value then
    local owner = split(value)
    if alive[owner] == nil then alive[owner] = redis.call("EXISTS", key("replica:" .. owner .. ":alive")) == 1 end
    if alive[owner] then out[i - 1] = owner end
  end
end
return out`;

/** The replicas that wrote ownership and whose heartbeat is gone, this one aside. ARGV: prefix, replicaId. */
export const FIND_DEAD = `${LUA_OWNERSHIP}
local dead = {}
for _, id in ipairs(redis.call("SMEMBERS", key("replicas"))) do
  if id ~= ARGV[2] and redis.call("EXISTS", key("replica:" .. id .. ":alive")) == 0 then dead[#dead + 1] = id end
end
return dead`;

/**
 * One step of deleting a dead replica's ownership: a page of its hash, each agent's ownership deleted
 * while it still names that replica's connection; at the last page the hash, the takeover list and its
 * membership go too. Does nothing if the heartbeat came back (the replica then writes its ownership again
 * itself). ARGV: prefix, replicaId, cursor. Returns the next cursor ("0": done), or -1.
 */
export const PURGE = `${LUA_OWNERSHIP}
if redis.call("EXISTS", key("replica:" .. ARGV[2] .. ":alive")) == 1 then return -1 end
local held = key("replica:" .. ARGV[2] .. ":agents")
local page = redis.call("HSCAN", held, ARGV[3], "COUNT", 500)
local fields = page[2]
for i = 1, #fields, 2 do
  local k = key("agent:" .. fields[i])
  if redis.call("GET", k) == ARGV[2] .. "@" .. fields[i + 1] then redis.call("DEL", k) end
end
if page[1] == "0" then
  redis.call("DEL", held, key("replica:" .. ARGV[2] .. ":taken"))
  redis.call("SREM", key("replicas"), ARGV[2])
end
return page[1]`;

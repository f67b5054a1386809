#!/usr/bin/env bash
# Brings up a local hub on the embedded SQLite store with one agent of this host enrolled and
# connected, then shows a first query. `bash scripts/quickstart.sh stop` stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.uplink
PORT=${UPLINK_PORT:-7070}
HUB_URL="http://127.0.0.1:${PORT}"
hub() { node packages/hub/bin/uplink-hub.js "$@"; }
agent() { node packages/agent/bin/uplink-agent.js "$@"; }

stop() {
  for name in agent hub; do
    if [ -f "$DIR/$name.pid" ]; then
      kill "$(cat "$DIR/$name.pid")" 2>/dev/null || true
      rm -f "$DIR/$name.pid"
      echo "stopped $name"
    fi
  done
}

if [ "${1:-}" = "stop" ]; then
  stop
  exit 0
fi

command -v pnpm >/dev/null 2>&1 || npm install -g pnpm@10
pnpm install --frozen-lockfile
pnpm build
stop >/dev/null

mkdir -p "$DIR"
hub serve --port "$PORT" --host 127.0.0.1 --data-dir "$DIR/hub" >"$DIR/hub.log" 2>&1 &
echo $! >"$DIR/hub.pid"
for _ in $(seq 1 50); do curl -sf "$HUB_URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$HUB_URL/readyz" >/dev/null || { echo "the hub did not start; see $DIR/hub.log"; exit 1; }

if [ ! -f "$DIR/admin.token" ]; then
  hub token create --kind api --scope admin --name quickstart --data-dir "$DIR/hub" | tail -n 1 >"$DIR/admin.token"
  chmod 600 "$DIR/admin.token"
fi
if [ ! -f "$DIR/agent-state.json" ]; then
  ENROLL=$(hub token create --kind enroll --name quickstart --ttl 600 --data-dir "$DIR/hub" | tail -n 1)
  agent enroll --hub "$HUB_URL" --token "$ENROLL" --state "$DIR/agent-state.json" --label env=quickstart
fi
agent run --state "$DIR/agent-state.json" --hub "$HUB_URL" >"$DIR/agent.log" 2>&1 &
echo $! >"$DIR/agent.pid"

export UPLINK_HUB="$HUB_URL" UPLINK_TOKEN="$(cat "$DIR/admin.token")"
AGENT_ID=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).agentId)' "$DIR/agent-state.json")
for _ in $(seq 1 50); do
  node packages/cli/bin/uplink.js agent "$AGENT_ID" --json 2>/dev/null | grep -q '"status":"online"' && break
  sleep 0.2
done

echo
node packages/cli/bin/uplink.js agents
echo
echo "\$ uplink query $AGENT_ID \"select hostname, cpu_brand, physical_memory from system_info\""
node packages/cli/bin/uplink.js query "$AGENT_ID" "select hostname, cpu_brand, physical_memory from system_info"
cat <<TXT

Hub:   $HUB_URL   (log: $DIR/hub.log, store: $DIR/hub/uplink.db)
Agent: $AGENT_ID   (log: $DIR/agent.log, state: $DIR/agent-state.json)
Try:   export UPLINK_HUB=$HUB_URL UPLINK_TOKEN=\$(cat $DIR/admin.token)
       node packages/cli/bin/uplink.js history
Stop:  bash scripts/quickstart.sh stop
TXT

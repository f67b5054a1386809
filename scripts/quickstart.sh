#!/usr/bin/env bash
# Brings up a local hub on the embedded SQLite store with one agent of this host enrolled and
# connected, then shows a first query. `bash scripts/quickstart.sh stop` stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${UPLINK_QUICKSTART_DIR:-.uplink}
PORT=${UPLINK_PORT:-7070}
HUB_URL="http://127.0.0.1:${PORT}"
HUB_BIN=packages/hub/bin/uplink-hub.js
AGENT_BIN=packages/agent/bin/uplink-agent.js
hub() { node "$HUB_BIN" "$@"; }
agent() { node "$AGENT_BIN" "$@"; }

# The pid in $DIR/<name>.pid when that process is still the one this script started (its command line
# names the bin), so a recycled pid is never killed.
running_pid() {
  local file="$DIR/$1.pid" bin=$2 pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$bin" && echo "$pid"
}

stop_one() {
  local name=$1 bin=$2 pid
  if pid=$(running_pid "$name" "$bin"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      echo "stopped $name (pid $pid, killed after 10 s)"
    else
      echo "stopped $name (pid $pid)"
    fi
  fi
  rm -f "$DIR/$name.pid"
}

stop() {
  stop_one agent "$AGENT_BIN"
  stop_one hub "$HUB_BIN"
}

if [ "${1:-}" = "stop" ]; then
  out=$(stop)
  echo "${out:-nothing to stop: no hub or agent started by this script is running}"
  exit 0
fi

command -v pnpm >/dev/null 2>&1 || npm install -g pnpm@10
pnpm install --frozen-lockfile
pnpm build
stop

# A port held by anything else (another hub included) would answer the checks below: refuse instead.
if ! node -e 'const s = require("net").createServer().once("error", () => process.exit(1)); s.listen(+process.argv[1], "127.0.0.1", () => s.close())' "$PORT"; then
  echo "port $PORT on 127.0.0.1 is already in use by another process; stop it or pick another port (UPLINK_PORT=7171 bash scripts/quickstart.sh)" >&2
  exit 1
fi

mkdir -p "$DIR"
# node itself is started in the background (not a shell function), so $! is the hub's own pid.
node "$HUB_BIN" serve --port "$PORT" --host 127.0.0.1 --data-dir "$DIR/hub" >"$DIR/hub.log" 2>&1 &
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
node "$AGENT_BIN" run --state "$DIR/agent-state.json" --hub "$HUB_URL" >"$DIR/agent.log" 2>&1 &
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
Web:   $HUB_URL/   (sign in with the token in $DIR/admin.token)
Try:   export UPLINK_HUB=$HUB_URL UPLINK_TOKEN=\$(cat $DIR/admin.token)
       node packages/cli/bin/uplink.js history
Stop:  bash scripts/quickstart.sh stop
TXT

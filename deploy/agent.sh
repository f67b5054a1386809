#!/usr/bin/env bash
# Enrolls this container's agent once (state kept in its volume), then runs it.
set -euo pipefail
agent() { node packages/agent/bin/uplink-agent.js "$@"; }
if [ ! -s "$UPLINK_STATE" ]; then
  until agent enroll --token "$(cat /secrets/enroll.token)"; do sleep 2; done
fi
exec node packages/agent/bin/uplink-agent.js run

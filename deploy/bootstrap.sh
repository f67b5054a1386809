#!/usr/bin/env bash
# One-shot: creates the cluster's first admin token and an enrollment token in the shared PostgreSQL
# store (once), and leaves them in /secrets for the agents and the operator.
set -euo pipefail
hub() { node packages/hub/bin/uplink-hub.js "$@"; }
mkdir -p /secrets
if [ ! -s /secrets/admin.token ]; then
  hub token create --kind api --scope admin --name compose-admin | tail -n 1 >/secrets/admin.token
  echo "admin token written to /secrets/admin.token (docker compose cp bootstrap:/secrets/admin.token .)"
fi
if [ ! -s /secrets/enroll.token ]; then
  hub token create --kind enroll --name compose-agents | tail -n 1 >/secrets/enroll.token
fi
chmod 600 /secrets/*.token

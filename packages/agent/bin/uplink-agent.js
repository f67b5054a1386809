#!/usr/bin/env -S node --max-semi-space-size=1
// The daemon's V8 settings ride on the shebang (DAEMON_V8_FLAGS in src/v8-flags.ts; a test keeps the two equal).
// `node bin/uplink-agent.js` runs without them; the systemd unit `service install` writes sets them itself.
import "../dist/main.js";

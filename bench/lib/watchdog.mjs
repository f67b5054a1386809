// Preloaded (`node --import`) into every bench child: exit when the bench process is gone (e.g. after a
// SIGKILL), so a killed bench never leaves a server or agent behind. One unref'd timer, once a second.
// (`process.ppid` is read once at start-up in Node 20, so the parent is probed with signal 0 instead.)
const parent = process.ppid;
setInterval(() => {
  try {
    process.kill(parent, 0);
  } catch {
    process.kill(process.pid, "SIGTERM");
  }
}, 1000).unref();

// Preloaded (node --import) into every Node process of a gateway run: the gateway and each
// CLI call.
//
// 1. The release hard-codes "/tmp/openclaw" (its log) and, from 2026.9, "/tmp" (its lock
//    files): the harness's loader hooks read those literals as the run's scratch temp folder
//    ($OPENCLAW_PATCHER_SCRATCH_TMP), in memory, so a check never writes into the log or the
//    locks of a real gateway on the same machine.
// 2. It moves this process's wall clock by the milliseconds written in the file
// $OPENCLAW_PATCHER_CLOCK_FILE, re-read every second, so a scenario can put a running gateway
// past the five-minute grace without waiting for it. Only the wall clock moves (Date.now(),
// new Date()); timers and performance.now() run as ever. The CLI calls read the same file:
// the gateway rejects a device signature made at another time ("device signature expired").
// 3. It ends this process once the process that started it is gone (its parent changed):
//    the check was killed, even by SIGKILL, which no `finally` sees. Each Node process of the
//    run preloads this file, so the gateway's own children follow their parent, and no
//    process of a check outlives it.
import { readFileSync } from "node:fs";
import nodeModule from "node:module";

const scratchTmp = process.env.OPENCLAW_PATCHER_SCRATCH_TMP;
if (scratchTmp) {
  const hooksUrl = new URL("../simulation/hooks.mjs", import.meta.url);
  if (typeof nodeModule.registerHooks === "function") {
    const hooks = await import(hooksUrl.href);
    nodeModule.registerHooks(hooks.inThreadHooks({}, [], scratchTmp));
  } else {
    nodeModule.register(hooksUrl.href, { data: { exports: {}, esmDirs: [], scratchTmp } });
  }
}

// A gateway that restarts itself with a fresh pid (SIGUSR1 without OPENCLAW_NO_RESPAWN)
// spawns its successor and exits: the successor's parent changes by design. Where the run
// allows that, $OPENCLAW_PATCHER_OWNER_PID names the check's own process, and a process
// whose parent changed lives on while that owner does.
const parent = process.ppid;
const owner = Number(process.env.OPENCLAW_PATCHER_OWNER_PID || 0);
const ownerAlive = () => {
  try {
    // A killed owner not yet reaped is a zombie, which kill(pid, 0) still finds (Linux).
    const stat = readFileSync(`/proc/${owner}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return false;
  } catch {
    // no /proc (macOS), or the owner is gone: kill(pid, 0) says which
  }
  try {
    process.kill(owner, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
};
setInterval(() => {
  if (process.ppid !== parent && !(owner > 0 && ownerAlive())) process.kill(process.pid, "SIGKILL");
}, 1000).unref();

const file = process.env.OPENCLAW_PATCHER_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  let offset = 0;
  const read = () => {
    try {
      const value = Number(readFileSync(file, "utf8").trim());
      if (Number.isFinite(value)) offset = value;
    } catch {
      // no file yet: no shift
    }
  };
  read();
  setInterval(read, 1000).unref();
  const now = () => realNow() + offset;
  globalThis.Date = new Proxy(RealDate, {
    construct(target, args, newTarget) {
      return Reflect.construct(target, args.length ? args : [now()], newTarget);
    },
    apply() {
      return new RealDate(now()).toString();
    },
    get(target, key, receiver) {
      return key === "now" ? now : Reflect.get(target, key, receiver);
    },
  });
}

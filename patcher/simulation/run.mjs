// Harness entry: node run.mjs CONFIG.json
//
// CONFIG names the scenario module, the chunks that define the OpenClaw functions it needs
// ({ symbols: { NAME: "/abs/chunk.js" } }) and the scenario's own settings. The result is
// printed as one line `@@result <json>`; the process then exits explicitly, because the
// cron timer re-arms and is not unref'd.
import { existsSync, readFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { pathToFileURL } from "node:url";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));

// The tool holds our stdin open: its end means the tool is gone (killed, even), so stop.
process.stdin.on("end", () => process.exit(137));
process.stdin.on("error", () => process.exit(137));
process.stdin.resume();

// The clock rule (docs/restart-contract.md): every Date.now() read advances at least 1 ms, as on a loaded
// machine, so recovery that needs two reads to land in the same millisecond fails every
// time; `offsetMs` moves this process's time (process B runs after the grace), and a
// scenario can move it further with globalThis.__patcherClock.advance(ms).
if (config.clock) {
  const realNow = Date.now.bind(Date);
  let offset = config.clock.offsetMs ?? 0;
  let last = 0;
  Date.now = () => {
    const t = Math.max(realNow() + offset, config.clock.stepMs ? last + config.clock.stepMs : 0);
    last = t;
    return t;
  };
  globalThis.__patcherClock = {
    advance(ms) {
      offset += ms;
    },
    set(ms) {
      offset = ms - realNow();
    },
  };
}
const esmDirs = (config.esmDirs ?? []).map((dir) => pathToFileURL(dir).href.replace(/\/?$/, "/"));
const exportsByUrl = {};
for (const [name, file] of Object.entries(config.symbols)) {
  const url = pathToFileURL(file).href;
  (exportsByUrl[url] ??= []).push(name);
}
function emit(kind, payload) {
  process.stdout.write(`@@${kind} ${JSON.stringify(payload)}\n`);
}

// In-thread synchronous hooks where Node has them (22.15+): the off-thread `register` hooks
// cost a message round trip for every module the chunks import (0.7 s a process here).
// OPENCLAW_PATCHER_HOOKS=off-thread forces the older path (tests cover both).
const inThread =
  process.env.OPENCLAW_PATCHER_HOOKS !== "off-thread" &&
  typeof nodeModule.registerHooks === "function";
let hookStats = null;
if (inThread) {
  const hooks = await import("./hooks.mjs");
  nodeModule.registerHooks(hooks.inThreadHooks(exportsByUrl, esmDirs, config.scratchTmp));
  hookStats = hooks.stats;
} else {
  nodeModule.register("./hooks.mjs", import.meta.url, {
    data: { exports: exportsByUrl, esmDirs, scratchTmp: config.scratchTmp },
  });
}
emit("hooks", { mode: inThread ? "in-thread" : "off-thread" });

// A gated process loads the release's code, then waits here until the tool (or another
// process) creates the gate file; a `now` in it is the time this process continues at.
async function passGate(gate) {
  emit("gate", { waiting: true });
  while (!existsSync(gate)) await new Promise((resolve) => setTimeout(resolve, 20));
  const { now } = JSON.parse(readFileSync(gate, "utf8"));
  if (now !== undefined) globalThis.__patcherClock?.set(now);
}

async function loadSymbols() {
  const symbols = {};
  const missing = [];
  for (const [name, file] of Object.entries(config.symbols)) {
    const mod = await import(pathToFileURL(file).href);
    const value = mod[`__patcher_${name}`];
    if (value === undefined) missing.push(`${name} (${file})`);
    symbols[name] = value;
  }
  for (const name of config.optional ?? []) symbols[name] ??= undefined;
  if (missing.length) throw new Error(`harness could not load: ${missing.join(", ")}`);
  return symbols;
}

try {
  const symbols = await loadSymbols();
  const scenario = await import(pathToFileURL(config.scenario).href);
  // Node writes its compile cache at exit; the scenarios kill processes mid-run, so write it
  // now that the chunks are loaded (Node 22.10+).
  nodeModule.flushCompileCache?.();
  if (hookStats) emit("loader", { ...hookStats });
  if (config.gate) await passGate(config.gate);
  const result = await scenario.main({ symbols, config: config.settings ?? {}, emit });
  emit("result", result ?? {});
  process.exit(0);
} catch (error) {
  emit("error", { message: String(error?.stack ?? error) });
  process.exit(3);
}

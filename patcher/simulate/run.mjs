// Harness entry: node run.mjs CONFIG.json
//
// CONFIG names the scenario module, the chunks that define the OpenClaw functions it needs
// ({ symbols: { NAME: "/abs/chunk.js" } }) and the scenario's own settings. The result is
// printed as one line `@@result <json>`; the process then exits explicitly, because the
// cron timer re-arms and is not unref'd.
import { readFileSync } from "node:fs";
import { register } from "node:module";
import { pathToFileURL } from "node:url";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const exportsByUrl = {};
for (const [name, file] of Object.entries(config.symbols)) {
  const url = pathToFileURL(file).href;
  (exportsByUrl[url] ??= []).push(name);
}
register("./hooks.mjs", import.meta.url, { data: { exports: exportsByUrl } });

function emit(kind, payload) {
  process.stdout.write(`@@${kind} ${JSON.stringify(payload)}\n`);
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
  if (missing.length) throw new Error(`harness could not load: ${missing.join(", ")}`);
  return symbols;
}

try {
  const symbols = await loadSymbols();
  const scenario = await import(pathToFileURL(config.scenario).href);
  const result = await scenario.main({ symbols, config: config.settings ?? {}, emit });
  emit("result", result ?? {});
  process.exit(0);
} catch (error) {
  emit("error", { message: String(error?.stack ?? error) });
  process.exit(3);
}

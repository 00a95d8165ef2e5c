// Node module-loader hooks (module.register): add exports to OpenClaw's chunks at load time.
//
// Bundled chunks export under minified letters and leave some functions unexported
// (CronService in 2026.4.x). For each chunk the Python side names, this hook appends
// `export { NAME as __patcher_NAME }` to the source it loads, so the harness can reach the
// original binding by its original name. Nothing on disk changes, and since every
// importer of the chunk gets the same module instance, the harness and OpenClaw share state.
let exportsByUrl = new Map();

function addExports(result, names) {
  if (!names || result.format !== "module") return result;
  const source =
    typeof result.source === "string" ? result.source : new TextDecoder().decode(result.source);
  const clause = names.map((name) => `${name} as __patcher_${name}`).join(", ");
  return { ...result, source: `${source}\nexport { ${clause} };\n` };
}

// Off-thread hooks (module.register), for Node without module.registerHooks.
export async function initialize(data) {
  exportsByUrl = new Map(Object.entries(data?.exports ?? {}));
}

export async function load(url, context, nextLoad) {
  return addExports(await nextLoad(url, context), exportsByUrl.get(url));
}

// The same as an in-thread synchronous hook (module.registerHooks, Node 22.15+).
export function exportHook(exports) {
  const byUrl = new Map(Object.entries(exports));
  return (url, context, nextLoad) => addExports(nextLoad(url, context), byUrl.get(url));
}

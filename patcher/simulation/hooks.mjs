// Node module-loader hooks: add exports to OpenClaw's chunks at load time, and resolve
// their imports of sibling chunks without Node's per-import package.json parse.
//
// Bundled chunks export under minified letters and leave some functions unexported
// (CronService in 2026.4.x). For each chunk the Python side names, this hook appends
// `export { NAME as __patcher_NAME }` to the source it loads, so the harness can reach the
// original binding by its original name. Nothing on disk changes, and since every
// importer of the chunk gets the same module instance, the harness and OpenClaw share state.
import { lstatSync } from "node:fs";
import { fileURLToPath } from "node:url";

let exportsByUrl = new Map();
let esmDirs = new Set();
let scratchTmp = null;

// OpenClaw hard-codes "/tmp/openclaw" as its preferred temp and log folder, and from
// 2026.9 "/tmp" for its state-database lock files: in the harness these literals read as
// the scratch temp folder instead (in memory; no file changes), so a simulation never
// writes into the log or the locks of a real gateway on the same machine.
const TMP_LITERAL = '"/tmp';

function redirectTmp(result, tmp) {
  if (!tmp || result.format !== "module" || result.source == null) return result;
  const src = result.source;
  const bytes = typeof src === "string" ? null : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  if (!(bytes ? bytes.includes(TMP_LITERAL) : src.includes(TMP_LITERAL))) return result;
  const text = bytes ? bytes.toString("utf8") : src;
  const source = text
    .replaceAll('"/tmp/openclaw"', JSON.stringify(`${tmp}/openclaw`))
    .replaceAll('"/tmp"', JSON.stringify(tmp));
  return source === text ? result : { ...result, source };
}

function addExports(result, names) {
  if (!names || result.format !== "module") return result;
  const source =
    typeof result.source === "string" ? result.source : new TextDecoder().decode(result.source);
  const clause = names.map((name) => `${name} as __patcher_${name}`).join(", ");
  return { ...result, source: `${source}\nexport { ${clause} };\n` };
}

// Why a resolve hook: to find a module's format, Node's default resolver reads the nearest
// package.json and, through an object spread that calls its lazy `exports` getter, parses
// the whole `exports` map again for every module (Node 22 and 24). OpenClaw's map is ~47 kB
// and a simulation loads thousands of chunks: a quarter of each process's CPU, plus the
// garbage. The chunks import their siblings as "./name.js"; for such an import, from a
// directory the Python side found to be in a `"type": "module"` scope (config.esmDirs, real
// paths), Node's answer is known: the sibling's URL (a plain file in a real directory is its
// own real path) with format "module". Anything else, a symlink or a missing file included,
// goes to Node's resolver unchanged.
const SIBLING = /^\.\/[\w.-]+\.js$/;
export const stats = { siblings: 0 }; // imports resolved here (in-thread: the harness reports it)

function sibling(specifier, parentURL, dirs) {
  if (!parentURL || !SIBLING.test(specifier)) return null;
  const dir = parentURL.slice(0, parentURL.lastIndexOf("/") + 1);
  if (!dirs.has(dir)) return null;
  const url = dir + specifier.slice(2);
  const stat = lstatSync(fileURLToPath(url), { throwIfNoEntry: false });
  if (!stat?.isFile()) return null;
  stats.siblings += 1;
  return { url, format: "module", shortCircuit: true };
}

// Off-thread hooks (module.register), for Node without module.registerHooks.
export async function initialize(data) {
  exportsByUrl = new Map(Object.entries(data?.exports ?? {}));
  esmDirs = new Set(data?.esmDirs ?? []);
  scratchTmp = data?.scratchTmp ?? null;
}

export async function resolve(specifier, context, nextResolve) {
  return sibling(specifier, context.parentURL, esmDirs) ?? nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  return addExports(redirectTmp(await nextLoad(url, context), scratchTmp), exportsByUrl.get(url));
}

// The same as in-thread synchronous hooks (module.registerHooks, Node 22.15+).
export function inThreadHooks(exports, dirs, tmp) {
  const byUrl = new Map(Object.entries(exports));
  const esm = new Set(dirs);
  return {
    resolve: (specifier, context, nextResolve) =>
      sibling(specifier, context.parentURL, esm) ?? nextResolve(specifier, context),
    load: (url, context, nextLoad) =>
      addExports(redirectTmp(nextLoad(url, context), tmp), byUrl.get(url)),
  };
}

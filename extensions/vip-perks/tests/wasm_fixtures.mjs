// Runs every fixture of tests/fixtures/ through the built Wasm module the
// way Shopify runs a WASI Function: a fresh instance per run, the input JSON
// on stdin, the named export called, the output JSON read from stdout, the
// log from stderr. The expected output is compared with Shopify's optional
// `null` fields left out, as in src/tests.rs. Uses Node's built-in WASI, so
// it needs nothing downloaded. build.sh runs it when node is present.
//
//   node tests/wasm_fixtures.mjs target/wasm32-wasip1/release/vip-perks.wasm

import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { WASI } from 'node:wasi';

const wasmPath = process.argv[2];
if (!wasmPath) {
  console.error('usage: node tests/wasm_fixtures.mjs MODULE.wasm');
  process.exit(2);
}
const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const module = await WebAssembly.compile(readFileSync(wasmPath));

function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]),
    );
  }
  return value;
}

async function run(exportName, input, work) {
  const [inPath, outPath, errPath] = ['in.json', 'out.json', 'err.txt'].map((f) => join(work, f));
  writeFileSync(inPath, JSON.stringify(input));
  const fds = [openSync(inPath, 'r'), openSync(outPath, 'w'), openSync(errPath, 'w')];
  try {
    const wasi = new WASI({
      version: 'preview1',
      stdin: fds[0],
      stdout: fds[1],
      stderr: fds[2],
      returnOnExit: true,
    });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    if (typeof instance.exports[exportName] !== 'function') {
      throw new Error(`the module does not export ${exportName}`);
    }
    // Shopify calls the target's export, not `_start`: hand WASI that export.
    wasi.start({ exports: { memory: instance.exports.memory, _start: instance.exports[exportName] } });
  } finally {
    fds.forEach((fd) => closeSync(fd));
  }
  return {
    output: JSON.parse(readFileSync(outPath, 'utf8')),
    log: readFileSync(errPath, 'utf8').trim(),
  };
}

const work = mkdtempSync(join(tmpdir(), 'vip-perks-'));
let passed = 0;
let failed = 0;
try {
  const files = readdirSync(fixtureDir).filter((f) => f.endsWith('.json')).sort();
  for (const file of files) {
    const { payload } = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8'));
    let result;
    try {
      result = await run(payload.export, payload.input, work);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${file}: ${error.message}`);
      continue;
    }
    const expected = withoutNulls(payload.output);
    if (isDeepStrictEqual(result.output, expected)) {
      passed += 1;
      console.log(`ok   ${file}${result.log ? `  (log: ${result.log})` : ''}`);
    } else {
      failed += 1;
      console.log(`FAIL ${file}\n  expected ${JSON.stringify(expected)}\n  got      ${JSON.stringify(result.output)}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`wasm fixtures: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

#!/usr/bin/env node
// oracle.mjs drives the real TensorFlow Lite runtime, compiled to WebAssembly
// and shipped in @tensorflow/tfjs-tflite, so that the Go interpreter can be
// checked against it.
//
// Usage:
//
//   node oracle.mjs serve [--variant auto|simd|plain]
//       Reads one JSON request per line on stdin and answers with one JSON
//       line per request on stdout, in order.
//   node oracle.mjs run [--variant V] --model M [--input F]... --out DIR
//   node oracle.mjs run [--variant V] < request.json
//       Runs a single request and prints its JSON response.
//   node oracle.mjs bench [--variant V] --model M [--iterations N] [--warmup W]
//       Times Infer() on random inputs with one thread.
//
// A run request is {"id": any, "op": "run", "model": path, "inputs": [paths],
// "output_dir": dir}. Input files hold raw little-endian tensor bytes in model
// input order; output i is written to dir/output_<i>.bin. The response is
// {"id", "ok": true, "variant", "inputs": [tensor], "outputs": [tensor]} where
// tensor is {"name", "dtype", "shape", "bytes"} (outputs also carry "file"),
// or {"id", "ok": false, "error"} on failure. Serve mode first prints
// {"ready": true, "variant", "version"} (or {"ready": false, "error"}).
// {"op": "inspect", "model": path} answers like run but without running or
// writing anything. {"op": "ping"} answers {"id", "ok": true}.
//
// stdout carries only protocol lines: everything the Emscripten runtime or
// console.log would print goes to stderr.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { randomFillSync } from 'node:crypto';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const pkgName = '@tensorflow/tfjs-tflite';

// Keep the real stdout for the protocol and send all stray logging to stderr,
// so a stray print can never be mistaken for a response.
const protocolWrite = process.stdout.write.bind(process.stdout);
const logErr = (...args) => process.stderr.write(args.join(' ') + '\n');
console.log = logErr;
console.info = logErr;
console.debug = logErr;

function emit(obj) {
  protocolWrite(JSON.stringify(obj) + '\n');
}

function wasmDir() {
  const pkgJSON = require.resolve(`${pkgName}/package.json`, { paths: [here] });
  return join(dirname(pkgJSON), 'wasm');
}

function packageVersion() {
  const pkgJSON = require.resolve(`${pkgName}/package.json`, { paths: [here] });
  return JSON.parse(readFileSync(pkgJSON, 'utf8')).version;
}

const variantFiles = {
  simd: 'tflite_web_api_cc_simd',
  plain: 'tflite_web_api_cc',
};

// loadVariant instantiates one Emscripten module. The factory would try to
// fetch() the .wasm by path, which Node's fetch rejects, so the binary is
// handed over directly.
async function loadVariant(variant) {
  const base = variantFiles[variant];
  if (!base) {
    throw new Error(`unknown variant ${JSON.stringify(variant)} (want simd, plain or auto)`);
  }
  const dir = wasmDir();
  const factory = require(join(dir, `${base}.js`));
  // TFLite reports why a model was rejected only through its log, so the
  // latest lines are kept to be quoted in error responses.
  const recent = [];
  const log = (s) => {
    logErr(`[tflite] ${s}`);
    recent.push(String(s));
    if (recent.length > 20) {
      recent.shift();
    }
  };
  const module = await factory({
    wasmBinary: readFileSync(join(dir, `${base}.wasm`)),
    locateFile: (p) => join(dir, p),
    print: log,
    printErr: log,
  });
  return { module, variant, recent };
}

async function loadRuntime(variant) {
  if (variant !== 'auto') {
    return loadVariant(variant);
  }
  try {
    return await loadVariant('simd');
  } catch (e) {
    logErr(`simd variant failed (${e.message}); falling back to plain`);
    return loadVariant('plain');
  }
}

function parseShape(s) {
  if (s === '') {
    return [];
  }
  return s.split(',').map((d) => Number.parseInt(d, 10));
}

// Embind hands out copies of C++ objects; each must be deleted or it leaks
// in the wasm heap of a long-lived server.
function tensorInfos(vec) {
  const infos = [];
  try {
    for (let i = 0; i < vec.size(); i++) {
      infos.push(vec.get(i));
    }
  } finally {
    vec.delete();
  }
  return infos;
}

function describe(info) {
  const data = info.data();
  return {
    name: info.name,
    dtype: info.dataType,
    shape: parseShape(info.shape),
    bytes: data.byteLength,
  };
}

function asBytes(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

// Model owns one interpreter and the heap copy of its flatbuffer, which must
// outlive the interpreter.
class Model {
  constructor(rt, bytes, numThreads) {
    this.module = rt.module;
    const m = this.module;
    this.ptr = m._malloc(bytes.length);
    if (this.ptr === 0) {
      throw new Error(`cannot allocate ${bytes.length} bytes for the model`);
    }
    m.HEAPU8.set(bytes, this.ptr);
    const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(this.ptr, bytes.length, {
      numThreads,
      enableProfiling: false,
      maxProfilingBufferEntries: 1024,
    });
    try {
      if (!status.ok()) {
        const msg = status.errorMessage();
        m._free(this.ptr);
        this.ptr = 0;
        throw new Error(`create interpreter: ${msg}`);
      }
      this.runner = status.value();
    } finally {
      status.delete();
    }
    this.inputs = tensorInfos(this.runner.GetInputs());
    this.outputs = tensorInfos(this.runner.GetOutputs());
  }

  close() {
    for (const t of [...(this.inputs ?? []), ...(this.outputs ?? [])]) {
      t.delete();
    }
    this.inputs = this.outputs = null;
    if (this.runner) {
      this.runner.delete();
      this.runner = null;
    }
    if (this.ptr) {
      this.module._free(this.ptr);
      this.ptr = 0;
    }
  }

  setInput(i, bytes) {
    // data() is fetched anew each time: heap growth detaches older views.
    const dst = asBytes(this.inputs[i].data());
    if (bytes.length !== dst.length) {
      const d = describe(this.inputs[i]);
      throw new Error(
        `input ${i} (${d.name}, ${d.dtype}[${d.shape}]) wants ${dst.length} bytes, got ${bytes.length}`,
      );
    }
    dst.set(bytes);
  }

  infer() {
    if (!this.runner.Infer()) {
      throw new Error('Infer() failed');
    }
  }

  output(i) {
    return asBytes(this.outputs[i].data());
  }
}

// Runtime errors from inside the wasm (aborts, traps) leave the module in an
// unknown state, so the server drops it and loads a fresh one.
function isWasmFault(e) {
  return e instanceof WebAssembly.RuntimeError || e instanceof RangeError;
}

async function handleInspect(state, req) {
  if (typeof req.model !== 'string' || req.model === '') {
    throw new Error('request lacks "model" path');
  }
  const modelBytes = await readFile(req.model);
  const rt = await state.runtime();
  rt.recent.length = 0;
  let model;
  try {
    model = new Model(rt, modelBytes, 1);
    return {
      ok: true,
      variant: rt.variant,
      inputs: model.inputs.map(describe),
      outputs: model.outputs.map(describe),
    };
  } catch (e) {
    throw withLog(state, rt, e);
  } finally {
    closeModel(state, model);
  }
}

// withLog marks the runtime for reloading after a wasm fault and quotes the
// runtime's own complaints in the error.
function withLog(state, rt, e) {
  if (isWasmFault(e)) {
    state.drop();
  }
  const detail = rt.recent.filter((l) => l.trim() !== '' && !l.startsWith('INFO:'));
  if (detail.length > 0) {
    return new Error(`${e?.message ?? e}: ${detail.join('; ')}`);
  }
  return e;
}

function closeModel(state, model) {
  if (!model) {
    return;
  }
  try {
    model.close();
  } catch {
    state.drop();
  }
}

async function handleRun(state, req) {
  if (typeof req.model !== 'string' || req.model === '') {
    throw new Error('request lacks "model" path');
  }
  const inputs = req.inputs ?? [];
  if (!Array.isArray(inputs)) {
    throw new Error('"inputs" must be a list of paths');
  }
  if (typeof req.output_dir !== 'string' || req.output_dir === '') {
    throw new Error('request lacks "output_dir"');
  }
  const modelBytes = await readFile(req.model);
  const inputBytes = await Promise.all(inputs.map((p) => readFile(p)));
  const rt = await state.runtime();
  rt.recent.length = 0;
  let model;
  try {
    // A fresh interpreter per request: stateful models (LSTM variable
    // tensors) must not carry state from one request to the next.
    model = new Model(rt, modelBytes, 1);
    if (inputBytes.length !== model.inputs.length) {
      throw new Error(`model has ${model.inputs.length} inputs, request gives ${inputBytes.length}`);
    }
    inputBytes.forEach((b, i) => model.setInput(i, b));
    model.infer();
    await mkdir(req.output_dir, { recursive: true });
    const outputs = [];
    for (let i = 0; i < model.outputs.length; i++) {
      const file = join(req.output_dir, `output_${i}.bin`);
      // Copy out of the heap before any await lets anything else touch it.
      const bytes = Buffer.from(model.output(i));
      await writeFile(file, bytes);
      outputs.push({ ...describe(model.outputs[i]), file });
    }
    return {
      ok: true,
      variant: rt.variant,
      inputs: model.inputs.map(describe),
      outputs,
    };
  } catch (e) {
    throw withLog(state, rt, e);
  } finally {
    closeModel(state, model);
  }
}

function newState(variant) {
  let pending = null;
  return {
    runtime() {
      if (pending === null) {
        pending = loadRuntime(variant);
        pending.catch(() => {
          pending = null;
        });
      }
      return pending;
    },
    drop() {
      pending = null;
    },
  };
}

async function answer(state, req) {
  const id = req?.id ?? null;
  try {
    switch (req?.op ?? 'run') {
      case 'ping':
        return { id, ok: true };
      case 'run':
        return { id, ...(await handleRun(state, req)) };
      case 'inspect':
        return { id, ...(await handleInspect(state, req)) };
      default:
        throw new Error(`unknown op ${JSON.stringify(req.op)}`);
    }
  } catch (e) {
    return { id, ok: false, error: String(e?.message ?? e) };
  }
}

async function serve(variant) {
  const state = newState(variant);
  try {
    const rt = await state.runtime();
    emit({ ready: true, variant: rt.variant, version: packageVersion() });
  } catch (e) {
    emit({ ready: false, error: String(e?.message ?? e) });
    process.exitCode = 1;
    return;
  }
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') {
      continue;
    }
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      emit({ id: null, ok: false, error: `bad request: ${e.message}` });
      continue;
    }
    emit(await answer(state, req));
  }
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) {
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function runOnce(variant, opts) {
  let req;
  if (opts.model) {
    req = { op: 'run', model: opts.model, inputs: opts.input, output_dir: opts.out };
  } else {
    req = JSON.parse(await readStdin());
  }
  const res = await answer(newState(variant), req);
  emit(res);
  if (!res.ok) {
    process.exitCode = 1;
  }
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i];
}

function fillRandom(view) {
  if (view instanceof Float32Array || view instanceof Float64Array) {
    // Random bit patterns would be full of NaNs and denormals, whose timing
    // says nothing about real inputs.
    for (let i = 0; i < view.length; i++) {
      view[i] = Math.random();
    }
    return;
  }
  randomFillSync(asBytes(view));
}

async function bench(variant, opts) {
  if (!opts.model) {
    throw new Error('bench needs --model');
  }
  const iterations = Number.parseInt(opts.iterations ?? '100', 10);
  const warmup = Number.parseInt(opts.warmup ?? '10', 10);
  if (!(iterations > 0) || !(warmup >= 0)) {
    throw new Error('bench needs --iterations > 0 and --warmup >= 0');
  }
  const rt = await loadRuntime(variant);
  const model = new Model(rt, readFileSync(opts.model), 1);
  try {
    for (const t of model.inputs) {
      fillRandom(t.data());
    }
    for (let i = 0; i < warmup; i++) {
      model.infer();
    }
    const times = [];
    for (let i = 0; i < iterations; i++) {
      const start = performance.now();
      model.infer();
      times.push(performance.now() - start);
    }
    const total = times.reduce((a, b) => a + b, 0);
    times.sort((a, b) => a - b);
    emit({
      median_ms: percentile(times, 0.5),
      p90_ms: percentile(times, 0.9),
      min_ms: times[0],
      mean_ms: total / times.length,
      iterations,
      warmup,
      threads: 1,
      variant: rt.variant,
    });
  } finally {
    model.close();
  }
}

function parseArgs(argv) {
  const opts = { input: [] };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      rest.push(a);
      continue;
    }
    let key = a.slice(2);
    let val;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      val = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else {
      val = argv[++i];
      if (val === undefined) {
        throw new Error(`flag --${key} needs a value`);
      }
    }
    if (key === 'input') {
      opts.input.push(val);
    } else {
      opts[key] = val;
    }
  }
  return { opts, rest };
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  const { opts } = parseArgs(args);
  const variant = opts.variant ?? process.env.OOD_ORACLE_VARIANT ?? 'auto';
  switch (mode) {
    case 'serve':
      return serve(variant);
    case 'run':
      return runOnce(variant, opts);
    case 'bench':
      return bench(variant, opts);
    default:
      throw new Error(`usage: oracle.mjs serve|run|bench [flags] (got ${JSON.stringify(mode)})`);
  }
}

main().catch((e) => {
  emit({ ok: false, error: String(e?.message ?? e) });
  process.exitCode = 1;
});

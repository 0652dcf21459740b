// benchmark.js (used by bench/lib.ts) in a bundled page: it needs lodash as the global `_` before it
// loads, and the functions it compiles for each cycle refer to the global `Benchmark`. Imported
// first by web/main.ts, before the bench modules.
import './lodash_global.js';
import Benchmark from 'benchmark';

Object.assign(globalThis, { Benchmark });

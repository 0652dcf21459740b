// Collectives check, run under `mpiexec -n N` (no GPU): every rank prints one JSON line with the
// results of sumInPlace (odd, padded lengths), sumOrdered and allgatherStrings, for the test to compare.
import { Mpi, paddedLength } from '../../../src/train/dist/mpi.js';

const mpi = Mpi.init();
const r = mpi.rank;
// rank-dependent values whose float32 sums are inexact, so the reduction order would show
const n = 1001;
const data = new Float32Array(paddedLength(n, mpi.size));
for (let i = 0; i < n; i++) data[i] = Math.fround(Math.sin(i * 0.37 + r) * 10 ** ((i % 7) - 3));
await mpi.sumInPlace(data);
const small = await mpi.sumOrdered(Float64Array.from({ length: 5 }, (_, i) => 0.1 * (r + 1) + i));
const names = await mpi.allgatherStrings(`rank-${r}-é`);
let hash = 0;
for (const v of new Uint32Array(data.buffer)) hash = (Math.imul(hash, 31) + v) >>> 0;
console.log(JSON.stringify({ rank: r, size: mpi.size, localRank: mpi.localRank, localSize: mpi.localSize, hash, first: Array.from(data.subarray(0, 4)), small: Array.from(small), names }));
await mpi.finalize();

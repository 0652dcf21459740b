// Matrix multiply: matmul(a, b, {transA, transB, bias, residual, activation}) = act(op(a)·op(b) (+ bias) (+ residual)), batched.
//
// Shapes: a (..., M, K), or (..., K, M) with transA; b (K, N) or (..., K, N), or (N, K) /
// (..., N, K) with transB; bias (N); out (..., M, N). A batched b has a's leading dims; an
// unbatched b is shared over the batch (a weight): then, without transA, the batch folds into M.
//
// Gradients, with A = op(a), B = op(b), C = A·B + bias and dC its gradient:
//   dA = dC·Bᵀ   (stored a of transA: dAᵀ = B·dCᵀ)
//   dB = Aᵀ·dC   (stored b of transB: dBᵀ = dCᵀ·A), summed over the batch when b is shared
//   dbias = column sums of dC: written by the dB product itself (kernels/matmul.wgsl DB), whose
//           A (transB: dCᵀ) or B (dC) it reads anyway; a separate sumLeading pass only when the
//           product is batched (b not shared, or shared under transA) or b needs no gradient
//   dresidual = dC (the same values: a view, no kernel)
// With activation 'gelu' the kernel's epilogue applies GELU and keeps the pre-activation Z for the
// backward, which first forms dZ = dY ⊙ gelu'(Z) (activationBackward) and goes on as above. The
// fused MLP (ops/mlp.ts) also folds that dZ into the next matmul's epilogue (EPILOGUE 2).
// Each is the same kernel with other transpose flags (kernels/matmul.wgsl); nothing is transposed
// in memory. A shared b under transA cannot fold the batch into the contraction, so its gradient is
// computed per batch item and summed with sumLeading.
//
// Kernels (kernels/matmul.wgsl), named as candidates "entry:KEYvalue:…":
//   naive                       one output per invocation (baseline, oracle; never tuned)
//   tiled:W64:N8                registers only, no subgroups: WG invocations, WG_N along N
//   wgmem:M8:N8:K16:C1          var<workgroup> tiles: TM × TN invocations, BK, CN vec4 columns each
//   subgroup:R16:W64[:L4]       ROWS rows per subgroup, WG invocations, L broadcast lanes (default min(SG, 8))
// Any of them with ':D0' (units with a bias gradient only): the kernel without the fused sums, then
// a separate column-sum pass; the tuner keeps it if the fusion does not pay for a shape.
// A bare family name ('tiled', 'wgmem', 'subgroup') means that family's default shape here.
// Which kernel runs is the Runtime's choice (runtime/tuner.ts): a pin (`rt.tuner.pin('matmul',
// name)`) or the `variant` option force one, forward and backward alike; else the tuned winner
// of the unit (transposes, bias, vec4 alignment, M/N/K/batch size buckets); else the adapter's
// default (`matmulDefault`).
import type { AdapterFacts } from '../adapter.js';
import type { KernelDecl } from '../kernel.js';
import type { Runtime } from '../runtime.js';
import { shapeStr, type Tensor } from '../tensor.js';
import { sizeBucket, type TuneUnit } from '../tuner.js';
import { activationBackward } from './activation.js';
import { sumLastDim, sumLeading } from './reduce.js';
import { assertSameRuntime, builds, floatDtype, type FloatDType } from './util.js';

export type MatmulVariant = 'naive' | 'tiled' | 'wgmem' | 'subgroup';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** (N), added to every row of the output in the kernel's epilogue. */
  bias?: Tensor | undefined;
  /** Of the output's shape, added in the epilogue (a fused skip connection: out = x + f(x)). */
  residual?: Tensor | undefined;
  /** GELU of the sum, in the kernel's epilogue (not with a residual). */
  activation?: 'gelu' | undefined;
  /** Kernel: a family ('subgroup') or a full candidate name ('subgroup:R8:W64:L4'). Default: the runtime's choice. */
  variant?: MatmulVariant | (string & {});
}

// ---- kernels and candidates ----------------------------------------------------------------------

/** A parsed candidate: entry point, override constants and the output tile one workgroup covers. */
export interface MatmulKernel {
  name: string;
  variant: MatmulVariant;
  constants: Record<string, number>;
  tileM: number;
  tileN: number;
  /** Whether a gemm's sums (`Gemm.sums`, a bias gradient) are formed in the kernel (false: ':D0'). */
  fuseSums: boolean;
}

const FAMILY_DEFAULTS: Record<MatmulVariant, (f: AdapterFacts) => string> = {
  naive: () => 'naive',
  tiled: () => 'tiled:W64:N8',
  wgmem: () => 'wgmem:M8:N8:K16:C1',
  subgroup: (f) => (f.software ? 'subgroup:R16:W64' : `subgroup:R8:W${Math.min(4 * f.fixedSubgroupSize, Math.max(f.fixedSubgroupSize, 256))}`),
};

/**
 * The kernel an adapter runs without tuning. Lavapipe (8-lane subgroups, software): subgroup with
 * 16 rows (64 vec4 accumulators, half spilled) loads 6 vec4 per 64 fma chains against 5 per 32
 * with 8 rows: 22–25 GFLOP/s against 17–19 at 1024–2048. A GPU with one fixed subgroup size of 4 to
 * 128 lanes: 8 rows × 4·SG columns per subgroup, four subgroups per workgroup (not yet measured on
 * such hardware). Otherwise (no subgroups, or of varying size) the register-tiled kernel.
 */
export function matmulDefault(f: AdapterFacts): string {
  return subgroupUsable(f) ? FAMILY_DEFAULTS.subgroup(f) : FAMILY_DEFAULTS.tiled(f);
}

const subgroupUsable = (f: AdapterFacts): boolean => f.fixedSubgroupSize >= 4 && f.fixedSubgroupSize <= 128;

/** Every candidate the tuner times on this adapter; the first is `matmulDefault`. */
export function matmulCandidates(f: AdapterFacts): string[] {
  const out = [matmulDefault(f)];
  if (subgroupUsable(f)) {
    const sg = f.fixedSubgroupSize;
    const wg = f.software ? 64 : Math.min(4 * sg, Math.max(sg, 256));
    out.push(`subgroup:R16:W${wg}`, `subgroup:R8:W${wg}`);
  }
  out.push('tiled:W64:N8', 'wgmem:M16:N16:K16:C1');
  // On a CPU adapter workgroup memory and barriers cost more than they save (bench/README.md):
  // one workgroup-memory shape stays in the list as a check; GPUs get the others too.
  if (!f.software) out.push('wgmem:M8:N8:K16:C1', 'wgmem:M8:N16:K16:C2', 'tiled:W128:N16');
  return [...new Set(out)];
}

/** Parses a candidate name (or a bare family) for this adapter; throws a one-line reason when it cannot run here. */
export function matmulKernel(name: string, f: AdapterFacts): MatmulKernel {
  const full = name in FAMILY_DEFAULTS ? FAMILY_DEFAULTS[name as MatmulVariant](f) : name;
  const [variant, ...parts] = full.split(':') as [MatmulVariant, ...string[]];
  const kv: Record<string, number> = {};
  for (const part of parts) {
    const m = /^([A-Z]+)(\d+)$/.exec(part);
    if (!m) throw new Error(`matmul: bad kernel name ${JSON.stringify(name)} (part ${JSON.stringify(part)})`);
    kv[m[1]!] = Number(m[2]);
  }
  const fuseSums = kv.D !== 0;
  if (kv.D !== undefined && kv.D !== 0) throw new Error(`matmul: bad kernel name ${JSON.stringify(name)} (D takes only 0: sums not fused)`);
  delete kv.D;
  const maxWg = f.limits.maxComputeInvocationsPerWorkgroup;
  const fail = (why: string): never => { throw new Error(`matmul: kernel ${full} cannot run on this adapter: ${why}`); };
  switch (variant) {
    case 'naive':
      return { name: full, variant, constants: {}, tileM: 8, tileN: 8, fuseSums };
    case 'tiled': {
      const WG = kv.W ?? 64;
      const WG_N = kv.N ?? 8;
      if (WG % WG_N !== 0 || WG > maxWg) fail(`workgroup ${WG} with ${WG_N} along N`);
      return { name: full, variant, constants: { WG, WG_N }, tileM: 4 * (WG / WG_N), tileN: 8 * WG_N, fuseSums };
    }
    case 'wgmem': {
      const TM = kv.M ?? 8;
      const TN = kv.N ?? 8;
      const BK = kv.K ?? 16;
      const CN = kv.C ?? 1;
      const bytes = 16 * (TM * BK + BK * TN * CN);
      if (TM * TN > maxWg || BK % 4 !== 0 || (CN !== 1 && CN !== 2) || bytes > f.limits.maxComputeWorkgroupStorageSize) {
        fail(`${TM}×${TN} invocations, BK ${BK}, CN ${CN}, ${bytes} bytes of workgroup memory`);
      }
      return { name: full, variant, constants: { TM, TN, BK, CN, WGT: TM * TN }, tileM: 4 * TM, tileN: 4 * TN * CN, fuseSums };
    }
    case 'subgroup': {
      const SG = f.fixedSubgroupSize;
      if (!subgroupUsable(f)) fail(f.subgroups ? 'its subgroups have no single fixed size from 4 to 128 lanes' : 'no subgroups');
      const ROWS = kv.R ?? 8;
      const WG = kv.W ?? 4 * SG;
      const L = kv.L ?? Math.min(SG, 8);
      if ((ROWS !== 8 && ROWS !== 16) || (L !== 4 && L !== 8) || L > SG || WG % SG !== 0 || WG > maxWg) {
        fail(`ROWS ${ROWS}, ${L} broadcast lanes, workgroup ${WG}, subgroups of ${SG}`);
      }
      return { name: full, variant, constants: { SG, ROWS, WG, L }, tileM: ROWS * (WG / SG), tileN: 4 * SG, fuseSums };
    }
    default:
      return fail('unknown kernel family');
  }
}

// ---- one kernel dispatch -------------------------------------------------------------------------

const STORAGE_FAST: KernelDecl['storage'] = { c: 'read_write', a: 'read', a4: 'read', b: 'read', b4: 'read', bias: 'read', res: 'read', side: 'read_write' };
const DECLS: Record<MatmulVariant, Record<FloatDType, KernelDecl>> = {
  naive: builds({ file: 'matmul.wgsl', entry: 'matmul_naive', storage: { c: 'read_write', a: 'read', b: 'read', bias: 'read', res: 'read', side: 'read_write' }, uniform: 'p' }),
  tiled: builds({ file: 'matmul.wgsl', entry: 'matmul_tiled', storage: STORAGE_FAST, uniform: 'p' }),
  wgmem: builds({ file: 'matmul.wgsl', entry: 'matmul_wgmem', storage: STORAGE_FAST, uniform: 'p' }),
  subgroup: builds({ file: 'matmul.wgsl', entry: 'matmul_subgroup', storage: STORAGE_FAST, uniform: 'p', subgroups: true }),
};
const FILES = ['matmul.wgsl'] as const;

/**
 * The kernel's epilogue (kernels/matmul.wgsl EPILOGUE): 'gelu' writes gelu(sum) and, given `side`,
 * the sum itself there; 'gelu_grad' writes sum · gelu'(side). `side` has the output's shape.
 */
export interface GemmEpilogue { kind: 'gelu' | 'gelu_grad'; side?: Tensor | undefined }
const EPILOGUE_CODE = { gelu: 1, gelu_grad: 2 } as const;

/** out[z] = op(a[z])·op(b[z]) (+ bias) for z < batch, with logical (M, K)·(K, N); stride 0 shares. */
export interface Gemm {
  out: Tensor; a: Tensor; b: Tensor; bias?: Tensor | undefined; residual?: Tensor | undefined;
  epilogue?: GemmEpilogue | undefined;
  M: number; N: number; K: number; batch: number;
  strideA: number; strideB: number;
  transA: boolean; transB: boolean;
  /**
   * Also Σ over the contraction: of op(A)'s rows ('a': (M), Σ_k A(m, k)) or op(B)'s columns ('b':
   * (N), Σ_k B(k, n)), returned by `gemm`: a weight-gradient product's bias gradient. One batch
   * item, no epilogue.
   */
  sums?: GemmSums | undefined;
}
export type GemmSums = 'a' | 'b';

// A 16-byte buffer per device for the `side` binding when no epilogue uses it: it is read_write,
// so it may not alias any other binding of the dispatch.
const spareSide = new WeakMap<GPUDevice, GPUBuffer>();
function spareSideBuffer(rt: Runtime): GPUBuffer {
  const gpu = rt.device.gpu;
  let buf = spareSide.get(gpu);
  if (!buf) {
    buf = gpu.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE, label: 'matmul spare side' });
    spareSide.set(gpu, buf);
  }
  return buf;
}

const vecFlags = (g: Pick<Gemm, 'M' | 'N' | 'K' | 'transA' | 'transB'>): { VEC_A: number; VEC_B: number } =>
  ({ VEC_A: Number((g.transA ? g.M : g.K) % 4 === 0), VEC_B: Number((g.transB ? g.K : g.N) % 4 === 0) });

/** The kernel pass; with `sums` (a fused kernel's), the sums go there (the DB side output). */
function dispatchGemm(g: Gemm, k: MatmulKernel, op: string, sums?: Tensor): void {
  const rt = g.out.rt;
  const { M, N, K } = g;
  const epi = g.epilogue;
  if (epi?.kind === 'gelu_grad' && !epi.side) throw new Error(`${op}: the gelu_grad epilogue needs the pre-activation (side)`);
  const flags = {
    TRANS_A: Number(g.transA), TRANS_B: Number(g.transB), HAS_BIAS: Number(g.bias !== undefined), HAS_RES: Number(g.residual !== undefined),
    EPILOGUE: epi ? EPILOGUE_CODE[epi.kind] : 0, SAVE_PRE: Number(epi?.kind === 'gelu' && epi.side !== undefined),
    DB: sums ? (g.sums === 'a' ? 1 : 2) : 0,
  };
  const constants = k.variant === 'naive' ? flags : { ...flags, ...vecFlags(g), ...k.constants };
  const tilesN = Math.ceil(N / k.tileN);
  const tiles = Math.ceil(M / k.tileM) * tilesN;
  const storage: Record<string, { buffer: GPUBuffer }> = {
    c: g.out.binding, a: g.a.binding, b: g.b.binding, bias: (g.bias ?? g.a).binding,
    res: (g.residual ?? g.a).binding, side: sums?.binding ?? epi?.side?.binding ?? { buffer: spareSideBuffer(rt) },
  };
  if (k.variant !== 'naive') { storage.a4 = storage.a!; storage.b4 = storage.b!; }
  rt.dispatch(DECLS[k.variant][floatDtype(op, g.out, g.a, g.b)], {
    op, storage, constants,
    params: { M, N, K, tiles_n: tilesN, tiles, stride_a: g.strideA, stride_b: g.strideB, stride_c: M * N },
    workgroups: [tiles, 1, g.batch],
  });
}

function checkSums(g: Gemm, op: string): void {
  if (g.batch !== 1 || g.epilogue) throw new Error(`${op}: fused sums need one batch item and no epilogue (batch ${g.batch}${g.epilogue ? `, epilogue ${g.epilogue.kind}` : ''})`);
}

/** The sums of a gemm apart from it (the ':D0' candidates, and empty outputs): reduce passes over the stored operand. */
function sumsApart(g: Gemm): Tensor {
  const { M, N, K } = g;
  // op(A) (M, K) is stored (K, M) with transA, op(B) (K, N) stored (N, K) with transB.
  const [t, trans, along, len] = g.sums === 'a' ? [g.a, g.transA, K, M] : [g.b, g.transB, K, N];
  const stored = g.sums === 'a' ? (trans ? [along, len] : [len, along]) : (trans ? [len, along] : [along, len]);
  if (t.size !== along * len) throw new Error(`matmul: the summed operand ${shapeStr(t.shape)} is not one (${stored.join(', ')}) item`);
  const view = t.reshape(stored);
  // Σ over k: down the columns of a (K, ·) layout, along the rows of a (·, K) one.
  const kFirst = g.sums === 'a' ? trans : !trans;
  const out = kFirst ? sumLeading(view, 1) : sumLastDim(view);
  view.release();
  return out;
}

/** A gemm's problem without its tensors: what its tuning unit depends on. */
export interface GemmShape {
  M: number; N: number; K: number; batch: number;
  /** Elements between batch items of a / b; 0 shares the operand over the batch. */
  strideA: number; strideB: number;
  transA: boolean; transB: boolean; hasBias: boolean;
  /** Storage of the operands and the output (f32 default; f16 tiles are tuned on their own). */
  dtype?: FloatDType;
  /** The epilogue beyond bias / residual: 'gelu', or 'gelu_grad' (default none). */
  epilogue?: GemmEpilogue['kind'] | undefined;
  /** Sums over the contraction formed with it (a bias gradient; see Gemm.sums). */
  sums?: GemmSums | undefined;
}

/** The candidates of a unit: with sums, also the default kernel with them apart (':D0'). */
function unitCandidates(f: AdapterFacts, sums: GemmSums | undefined): string[] {
  const all = matmulCandidates(f);
  return sums ? [...all, `${all[0]!}:D0`] : all;
}

/** The tuning unit of a gemm: shape class, candidates, and scratch operands of its first shape. */
function gemmUnit(rt: Runtime, g: GemmShape): TuneUnit {
  const v = vecFlags(g);
  const bucket = `M${sizeBucket(g.M)} N${sizeBucket(g.N)} K${sizeBucket(g.K)} z${sizeBucket(g.batch)}`;
  const dtype = g.dtype ?? 'f32';
  const epi = g.epilogue ? ` ${g.epilogue}` : '';
  const db = g.sums ? ` +sums${g.sums.toUpperCase()}` : '';
  const shapeClass = `${dtype === 'f16' ? 'f16 ' : ''}${g.transA ? 'tA' : 'A'} ${g.transB ? 'tB' : 'B'}${g.hasBias ? ' +bias' : ''}${epi}${db} v${v.VEC_A}${v.VEC_B} ${bucket}`;
  const { M, N, K, batch, strideA, strideB, transA, transB, hasBias, epilogue, sums } = g;
  return {
    family: 'matmul',
    shapeClass,
    shape: `M=${M} N=${N} K=${K} batch=${batch}`,
    candidates: unitCandidates(rt.device.facts, sums),
    prepare: () => {
      const make = (n: number): Tensor => rt.untracked(() => rt.full([Math.max(1, n)], 0.5, dtype));
      const a = make(strideA === 0 ? M * K : batch * strideA);
      const b = make(strideB === 0 ? K * N : batch * strideB);
      const bias = hasBias ? make(N) : undefined;
      const out = rt.untracked(() => rt.empty([batch * M * N], dtype, 'tuning scratch'));
      const side = epilogue ? make(batch * M * N) : undefined;
      const summed = sums ? make(sums === 'a' ? M : N) : undefined;
      const scratch: Gemm = { out, a, b, bias, M, N, K, batch, strideA, strideB, transA, transB, epilogue: epilogue ? { kind: epilogue, side } : undefined, sums };
      return {
        run: (c: string) => {
          const before = rt.counters.dispatches;
          const k = matmulKernel(c, rt.device.facts);
          dispatchGemm(scratch, k, 'matmul_tune', k.fuseSums ? summed : undefined);
          if (sums && !k.fuseSums) sumsApart(scratch).release();
          return rt.counters.dispatches - before;
        },
        dispose: () => { for (const t of [a, b, bias, out, side, summed]) t?.release(); },
      };
    },
  };
}

/**
 * The gemm problem of a recorded matmul dispatch (its uniform parameters, override constants and
 * grid, as the batch profiler reports them): what `gemmScratch` needs to run it again alone.
 */
export function gemmShapeOfDispatch(params: Record<string, number | readonly number[]>, constants: Record<string, number>, grid: readonly number[], dtype: FloatDType): GemmShape {
  const num = (k: string): number => Number(params[k]);
  return {
    M: num('M'), N: num('N'), K: num('K'), batch: grid[2]!, strideA: num('stride_a'), strideB: num('stride_b'),
    transA: constants.TRANS_A === 1, transB: constants.TRANS_B === 1, hasBias: constants.HAS_BIAS === 1, dtype,
    epilogue: constants.EPILOGUE === 1 ? 'gelu' : constants.EPILOGUE === 2 ? 'gelu_grad' : undefined,
    sums: constants.DB === 1 ? 'a' : constants.DB === 2 ? 'b' : undefined,
  };
}

/** Scratch operands of a gemm shape: `run(kernel)` records it once (and its sums); returns the dispatches made. */
export function gemmScratch(rt: Runtime, g: GemmShape): { run(kernel: string): number; dispose(): void } {
  const s = gemmUnit(rt, g).prepare();
  return { run: (k) => s.run(k) ?? 1, dispose: () => s.dispose() };
}

/** The kernel this runtime runs for a gemm of this shape (pin, tuned winner, or default); queues its unit for tuning. */
export function matmulChoice(rt: Runtime, g: GemmShape): string {
  return rt.tuner.choose(gemmUnit(rt, g), FILES);
}

/**
 * Runs one gemm with the forced kernel, or the runtime's choice for its unit. With `g.sums` it
 * returns them (in the kernel unless the kernel is a ':D0' one, or the output is empty).
 */
export function gemm(g: Gemm & { sums: GemmSums }, forced: string | undefined, op: string): Tensor;
export function gemm(g: Gemm, forced: string | undefined, op: string): Tensor | undefined;
export function gemm(g: Gemm, forced: string | undefined, op: string): Tensor | undefined {
  const rt = g.out.rt;
  if (g.sums) checkSums(g, op);
  const name = forced ?? matmulChoice(rt, { ...g, hasBias: g.bias !== undefined, dtype: g.out.dtype as FloatDType, epilogue: g.epilogue?.kind });
  const k = matmulKernel(name, rt.device.facts);
  // An empty output launches no workgroup, so the kernel cannot write the sums.
  const fused = g.sums !== undefined && k.fuseSums && g.M > 0 && g.N > 0;
  const sums = fused ? rt.empty([g.sums === 'a' ? g.M : g.N], g.out.dtype, `${op} sums`) : undefined;
  dispatchGemm(g, k, op, sums);
  return g.sums && !fused ? sumsApart(g) : sums;
}

// ---- the op --------------------------------------------------------------------------------------

const describeOperand = (name: string, t: Tensor, trans: boolean, dims: string): string =>
  `${name} ${shapeStr(t.shape)} as ${trans ? `(..., ${dims.split(', ').reverse().join(', ')}) with trans${name.toUpperCase()}` : `(..., ${dims})`}`;

/** op(a)·op(b) (+ bias); see the file header for shapes and gradients. */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const bias = opts.bias;
  const residual = opts.residual;
  const activation = opts.activation;
  if (activation !== undefined && activation !== 'gelu') throw new Error(`matmul: activation must be 'gelu', not ${JSON.stringify(activation)}`);
  if (activation && residual) throw new Error('matmul: activation and residual together are ambiguous (GELU before or after the skip?); add the residual separately');
  assertSameRuntime('matmul', a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : []));
  const dtype = floatDtype('matmul', a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : []));
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} must both have rank 2 or more`);
  const [M, K] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [Kb, N] = transB ? [b.shape[b.rank - 1]!, b.shape[b.rank - 2]!] : [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: ${describeOperand('a', a, transA, 'M, K')} has K = ${K}, ${describeOperand('b', b, transB, 'K, N')} has K = ${Kb}`);
  }
  const lead = a.shape.slice(0, -2);
  const bLead = b.shape.slice(0, -2);
  const shared = bLead.length === 0;
  if (!shared && (bLead.length !== lead.length || bLead.some((d, i) => d !== lead[i]))) {
    throw new Error(`matmul: batch dims of a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)} differ (b needs a's leading dims ${shapeStr(lead)}, or none)`);
  }
  if (bias) {
    if (bias.rank !== 1 || bias.shape[0] !== N) throw new Error(`matmul: bias ${shapeStr(bias.shape)} must be (N) = [${N}] for a ${shapeStr(a.shape)} and b ${shapeStr(b.shape)}`);
  }
  if (residual) {
    const outShape = [...lead, M, N];
    if (residual.rank !== outShape.length || residual.shape.some((d, i) => d !== outShape[i])) {
      throw new Error(`matmul: residual ${shapeStr(residual.shape)} must have the output's shape ${shapeStr(outShape)}`);
    }
  }
  const rt = a.rt;
  const variant = opts.variant;
  if (variant !== undefined) matmulKernel(variant, rt.device.facts);   // fails here, naming the op, if it cannot run
  const batch = lead.reduce((x, y) => x * y, 1);
  // A shared b and row-major a: the batch is just more rows.
  const fold = shared && !transA;
  const out = rt.empty([...lead, M, N], dtype, 'matmul');
  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  // The pre-activation, kept for the backward only when one will run.
  const pre = activation && rt.gradEnabled && inputs.some((t) => t.requiresGrad) ? rt.empty([...lead, M, N], dtype, 'matmul pre-activation') : undefined;
  gemm({
    out, a, b, bias, residual, M: fold ? batch * M : M, N, K, batch: fold ? 1 : batch,
    strideA: M * K, strideB: shared ? 0 : K * N, transA, transB,
    epilogue: activation ? { kind: activation, side: pre } : undefined,
  }, variant, 'matmul');

  rt.tape.record('matmul', inputs, out, [a, b, ...(pre ? [pre] : [])], (dOut) => {
    const dC = pre ? activationBackward('gelu', pre, dOut) : dOut;
    const rows = fold ? batch * M : M;
    const nb = fold ? 1 : batch;
    const sB = shared ? 0 : K * N;
    let dA: Tensor | null = null;
    let dB: Tensor | null = null;
    let dBias: Tensor | null = null;
    const wantBias = bias !== undefined && bias.requiresGrad;
    if (a.requiresGrad) {
      dA = rt.empty(a.shape, dtype, 'matmul dA');
      if (!transA) {
        // dA (rows, K) = dC (rows, N) · Bᵀ
        gemm({ out: dA, a: dC, b, M: rows, N: K, K: N, batch: nb, strideA: rows * N, strideB: sB, transA: false, transB: !transB }, variant, 'matmul_bwd_a');
      } else {
        // stored dA (K, M) = B (K, N) · dCᵀ
        gemm({ out: dA, a: b, b: dC, M: K, N: M, K: N, batch, strideA: sB, strideB: M * N, transA: transB, transB: true }, variant, 'matmul_bwd_a');
      }
    }
    if (b.requiresGrad) {
      // A shared b under transA: per-item products, summed below.
      const perItem = shared && transA;
      const target = perItem ? rt.empty([batch, ...b.shape], dtype, 'matmul dB per item') : rt.empty(b.shape, dtype, 'matmul dB');
      // One product over all rows: it also forms dbias, the sums of dC over those rows.
      const fuseBias = wantBias && nb === 1;
      if (!transB) {
        // dB (K, N) = Aᵀ (K, rows) · dC (rows, N); dbias = Σ_k of its B (dC) columns
        dBias = gemm({ out: target, a, b: dC, M: K, N, K: rows, batch: nb, strideA: rows * K, strideB: rows * N, transA: !transA, transB: false, sums: fuseBias ? 'b' : undefined }, variant, 'matmul_bwd_b') ?? null;
      } else {
        // stored dB (N, K) = dCᵀ (N, rows) · A (rows, K); dbias = Σ_k of its A (dCᵀ) rows
        dBias = gemm({ out: target, a: dC, b: a, M: N, N: K, K: rows, batch: nb, strideA: rows * N, strideB: rows * K, transA: true, transB: transA, sums: fuseBias ? 'a' : undefined }, variant, 'matmul_bwd_b') ?? null;
      }
      if (perItem) {
        dB = sumLeading(target, 2);
        target.release();
      } else dB = target;
    }
    if (wantBias && !dBias) dBias = sumLeading(dC, 1);
    const dResidual = residual && residual.requiresGrad ? dC.reshape(residual.shape) : null;
    if (dC !== dOut) dC.release();
    return [dA, dB, ...(bias ? [dBias] : []), ...(residual ? [dResidual] : [])];
  });
  pre?.release();   // the tape's pin keeps it for the backward
  return out;
}

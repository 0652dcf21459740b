// float64 references for matmul (independent of the WGSL and of the op's backward composition):
// direct loops over the definition C[z](m, n) = Σ_k A[z](m, k)·B[z](k, n) + bias[n].

export interface MatmulShape {
  /** Batch items (product of a's leading dims; 1 for plain 2-D). */
  batch: number;
  M: number;
  N: number;
  K: number;
  /** b has the batch dims too; otherwise one b is shared by every item. */
  batchedB: boolean;
  transA: boolean;
  transB: boolean;
}

/** Flat index of A[z](m, k) in a's storage ((batch, M, K) or, transposed, (batch, K, M)). */
export function aIndex(s: MatmulShape, z: number, m: number, k: number): number {
  return z * s.M * s.K + (s.transA ? k * s.M + m : m * s.K + k);
}

/** Flat index of B[z](k, n) in b's storage ((K, N) / (N, K), per item when batched). */
export function bIndex(s: MatmulShape, z: number, k: number, n: number): number {
  return (s.batchedB ? z * s.K * s.N : 0) + (s.transB ? n * s.K + k : k * s.N + n);
}

/** (batch, M, N). */
export function matmulRef(s: MatmulShape, a: Float64Array, b: Float64Array, bias?: Float64Array): Float64Array {
  const out = new Float64Array(s.batch * s.M * s.N);
  for (let z = 0; z < s.batch; z++) {
    for (let m = 0; m < s.M; m++) {
      for (let n = 0; n < s.N; n++) {
        let acc = bias ? bias[n]! : 0;
        for (let k = 0; k < s.K; k++) acc += a[aIndex(s, z, m, k)]! * b[bIndex(s, z, k, n)]!;
        out[(z * s.M + m) * s.N + n] = acc;
      }
    }
  }
  return out;
}

/**
 * Gradients for dOut (batch, M, N): dA(m, k) = Σ_n dC(m, n)·B(k, n), dB(k, n) = Σ_{z,m} A(m, k)·dC(m, n),
 * dbias(n) = Σ_{z,m} dC(m, n), each written at the element's place in its input's storage.
 */
export function matmulRefBackward(s: MatmulShape, a: Float64Array, b: Float64Array, dOut: Float64Array, withBias: boolean): Float64Array[] {
  const da = new Float64Array(a.length);
  const db = new Float64Array(b.length);
  const dbias = new Float64Array(s.N);
  for (let z = 0; z < s.batch; z++) {
    for (let m = 0; m < s.M; m++) {
      for (let n = 0; n < s.N; n++) {
        const g = dOut[(z * s.M + m) * s.N + n]!;
        dbias[n] += g;
        for (let k = 0; k < s.K; k++) {
          da[aIndex(s, z, m, k)] += g * b[bIndex(s, z, k, n)]!;
          db[bIndex(s, z, k, n)] += g * a[aIndex(s, z, m, k)]!;
        }
      }
    }
  }
  return withBias ? [da, db, dbias] : [da, db];
}

/**
 * C = A·B for large row-major float32 inputs (batch 1, no transposes), accumulated in float64, and
 * the largest Σ_k |A(m, k)·B(k, n)| (for the tolerance): the oracle for the 1024³ case (i-k-j order).
 */
export function matmulRefLarge(M: number, N: number, K: number, a: Float32Array, b: Float32Array): { out: Float64Array; maxAbsSum: number } {
  const out = new Float64Array(M * N);
  const absRow = new Float64Array(N);
  let maxAbsSum = 0;
  for (let m = 0; m < M; m++) {
    const row = out.subarray(m * N, (m + 1) * N);
    absRow.fill(0);
    for (let k = 0; k < K; k++) {
      const x = a[m * K + k]!;
      const ax = Math.abs(x);
      const bo = k * N;
      for (let n = 0; n < N; n++) {
        const y = b[bo + n]!;
        row[n] += x * y;
        absRow[n] += ax * Math.abs(y);
      }
    }
    for (let n = 0; n < N; n++) maxAbsSum = Math.max(maxAbsSum, absRow[n]!);
  }
  return { out, maxAbsSum };
}

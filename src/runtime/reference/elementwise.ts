// float64 references for elementwise ops and sum reductions (independent of the WGSL).

/** a OP b where the smaller operand repeats over the larger's leading dims. */
export function binaryRef(kind: 'add' | 'sub' | 'mul', a: Float64Array, b: Float64Array): Float64Array {
  const n = Math.max(a.length, b.length);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = a[i % a.length]!;
    const y = b[i % b.length]!;
    out[i] = kind === 'add' ? x + y : kind === 'sub' ? x - y : x * y;
  }
  return out;
}

/** Sums a full-size gradient down to an operand of length m that was broadcast. */
function foldTo(g: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m);
  for (let i = 0; i < g.length; i++) out[i % m] += g[i]!;
  return out;
}

export function binaryRefBackward(kind: 'add' | 'sub' | 'mul', a: Float64Array, b: Float64Array, g: Float64Array): Float64Array[] {
  const n = g.length;
  const ga = new Float64Array(n);
  const gb = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = a[i % a.length]!;
    const y = b[i % b.length]!;
    ga[i] = kind === 'mul' ? g[i]! * y : g[i]!;
    gb[i] = kind === 'mul' ? g[i]! * x : kind === 'sub' ? -g[i]! : g[i]!;
  }
  return [foldTo(ga, a.length), foldTo(gb, b.length)];
}

export function sumRowsRef(x: Float64Array, cols: number): Float64Array {
  const rows = x.length / cols;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r] += x[r * cols + c]!;
  return out;
}

export function sumColsRef(x: Float64Array, cols: number): Float64Array {
  return foldTo(x, cols);
}

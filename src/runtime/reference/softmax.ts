// float64 reference for softmax over the last dim and its backward.

/** y[r, :] = exp(x[r, :] - max) / Σ exp(x[r, :] - max). */
export function softmaxRef(x: Float64Array, cols: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[base + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += (y[base + c] = Math.exp(x[base + c]! - m));
    for (let c = 0; c < cols; c++) y[base + c]! /= s;
  }
  return y;
}

/** dx = J^T dy with J = diag(y) - y yᵀ per row: dx = y ⊙ (dy - Σ dy ⊙ y). */
export function softmaxRefBackward(x: Float64Array, cols: number, dy: Float64Array): Float64Array {
  const y = softmaxRef(x, cols);
  const dx = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += dy[base + c]! * y[base + c]!;
    for (let c = 0; c < cols; c++) dx[base + c] = y[base + c]! * (dy[base + c]! - s);
  }
  return dx;
}

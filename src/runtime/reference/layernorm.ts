// float64 reference for LayerNorm over the last dim (biased variance, as PyTorch) and its backward.

export interface LayerNormRef { y: Float64Array; mean: Float64Array; rstd: Float64Array }

export function layerNormRef(x: Float64Array, w: Float64Array, b: Float64Array, eps: number): LayerNormRef {
  const cols = w.length;
  const rows = x.length / cols;
  const y = new Float64Array(x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * cols, (r + 1) * cols);
    const mu = row.reduce((a, v) => a + v, 0) / cols;
    const variance = row.reduce((a, v) => a + (v - mu) * (v - mu), 0) / cols;
    const rs = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (row[c]! - mu) * rs * w[c]! + b[c]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/**
 * [dx, dw, db]. With x̂ = (x − μ)·σ⁻¹ and g = dy·w, y depends on x through x̂ only, and
 * ∂x̂_j/∂x_i = σ⁻¹ (δ_ij − 1/C − x̂_i x̂_j / C), so dx_i = σ⁻¹ (g_i − mean(g) − x̂_i · mean(g·x̂)).
 */
export function layerNormRefBackward(x: Float64Array, w: Float64Array, eps: number, dy: Float64Array): Float64Array[] {
  const cols = w.length;
  const rows = x.length / cols;
  const { mean, rstd } = layerNormRef(x, w, new Float64Array(cols), eps);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const xhat = (c: number) => (x[r * cols + c]! - mean[r]!) * rstd[r]!;
    let sg = 0;
    let sgx = 0;
    for (let c = 0; c < cols; c++) {
      const g = dy[r * cols + c]! * w[c]!;
      sg += g;
      sgx += g * xhat(c);
      dw[c] += dy[r * cols + c]! * xhat(c);
      db[c] += dy[r * cols + c]!;
    }
    for (let c = 0; c < cols; c++) {
      dx[r * cols + c] = rstd[r]! * (dy[r * cols + c]! * w[c]! - sg / cols - (xhat(c) * sgx) / cols);
    }
  }
  return [dx, dw, db];
}

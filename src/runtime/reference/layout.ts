// float64 references for layout ops (independent of the WGSL and of src/runtime/ops/layout.ts):
// plain loops over multi-indices. Each backward is the adjoint written as a scatter-add, so an
// input used twice (concat([x, x])) gets the sum of its gradients.

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides. */
function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Calls fn(flatOut, flatIn) for every output element of x.permute(perm). */
function forEachPermuted(shape: readonly number[], perm: readonly number[], fn: (o: number, i: number) => void): void {
  const outShape = perm.map((d) => shape[d]!);
  const xStrides = stridesOf(shape);
  const idx = new Array<number>(outShape.length).fill(0);
  const n = numel(outShape);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let j = 0; j < idx.length; j++) src += idx[j]! * xStrides[perm[j]!]!;
    fn(o, src);
    // Increment the output multi-index, last dim fastest.
    for (let j = idx.length - 1; j >= 0; j--) {
      if (++idx[j]! < outShape[j]!) break;
      idx[j] = 0;
    }
  }
}

export function permuteRef(x: Float64Array, shape: readonly number[], perm: readonly number[]): Float64Array {
  const out = new Float64Array(x.length);
  forEachPermuted(shape, perm, (o, i) => { out[o] = x[i]!; });
  return out;
}

export function permuteRefBackward(shape: readonly number[], perm: readonly number[], g: Float64Array): Float64Array {
  const dx = new Float64Array(g.length);
  forEachPermuted(shape, perm, (o, i) => { dx[i] += g[o]!; });
  return dx;
}

/** (outer, axis, inner) sizes of `shape` around `axis`. */
function split(shape: readonly number[], axis: number): [number, number, number] {
  return [numel(shape.slice(0, axis)), shape[axis]!, numel(shape.slice(axis + 1))];
}

/** Calls fn(flatOut, inputIndex, flatIn) for every element of concat(inputs, axis) (axis >= 0). */
function forEachConcat(shapes: readonly (readonly number[])[], axis: number, fn: (o: number, j: number, i: number) => void): void {
  const [outer, , inner] = split(shapes[0]!, axis);
  const lens = shapes.map((s) => s[axis]!);
  const total = lens.reduce((a, b) => a + b, 0);
  for (let b = 0; b < outer; b++) {
    let off = 0;
    for (const [j, len] of lens.entries()) {
      for (let a = 0; a < len; a++) {
        for (let k = 0; k < inner; k++) fn((b * total + off + a) * inner + k, j, (b * len + a) * inner + k);
      }
      off += len;
    }
  }
}

export function concatRef(xs: readonly Float64Array[], shapes: readonly (readonly number[])[], axis: number): Float64Array {
  const out = new Float64Array(xs.reduce((a, x) => a + x.length, 0));
  forEachConcat(shapes, axis, (o, j, i) => { out[o] = xs[j]![i]!; });
  return out;
}

export function concatRefBackward(shapes: readonly (readonly number[])[], axis: number, g: Float64Array): Float64Array[] {
  const dxs = shapes.map((s) => new Float64Array(numel(s)));
  forEachConcat(shapes, axis, (o, j, i) => { dxs[j]![i] += g[o]!; });
  return dxs;
}

/** Calls fn(flatOut, flatIn) for every element of x[.., start:start+length, ..] (axis >= 0). */
function forEachSlice(shape: readonly number[], axis: number, start: number, length: number, fn: (o: number, i: number) => void): void {
  const [outer, dim, inner] = split(shape, axis);
  for (let b = 0; b < outer; b++) {
    for (let a = 0; a < length; a++) {
      for (let k = 0; k < inner; k++) fn((b * length + a) * inner + k, (b * dim + start + a) * inner + k);
    }
  }
}

export function sliceRef(x: Float64Array, shape: readonly number[], axis: number, start: number, length: number): Float64Array {
  const out = new Float64Array((x.length / shape[axis]!) * length);
  forEachSlice(shape, axis, start, length, (o, i) => { out[o] = x[i]!; });
  return out;
}

export function sliceRefBackward(shape: readonly number[], axis: number, start: number, length: number, g: Float64Array): Float64Array {
  const dx = new Float64Array(numel(shape));
  forEachSlice(shape, axis, start, length, (o, i) => { dx[i] += g[o]!; });
  return dx;
}

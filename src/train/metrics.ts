// Face-parsing metrics exactly as the official inference.py: one confusion matrix hist[gt, pred]
// summed over the whole set (pixels with gt 255 dropped), then
//   F1_k       = 2·hist[k,k] / (rowsum_k + colsum_k)        fraction; NaN when k is absent in both
//   meanF1     = mean(F1_1 .. F1_{K−1})                     background excluded; NaN propagates
//   IoU_k      = tp / max(1, pos + res − tp) · 100          mIoU = mean over all K (incl. background)
//   pixel acc. = Σtp / Σpos · 100,  mean acc. = mean(tp / max(1, pos)) · 100
// and Helen's merged F1 over a set S of classes: 2·Σ_{g∈S,p∈S} hist[g,p] / (Σ_{g∈S} rows + Σ_{p∈S} cols)
// (the whole S×S block counts as intersection, so le↔re confusions are hits for "eyes").
// The official code asserts gt and pred lie in [0, K) after dropping 255; so does add().

/** Helen's merged groups (label ids: lb 2, rb 3, le 4, re 5, nose 6, ulip 7, imouth 8, llip 9). */
export const HELEN_MERGES: Readonly<Record<string, readonly number[]>> = {
  eyes: [4, 5],
  brows: [2, 3],
  mouth: [7, 8, 9],
  overall: [2, 3, 4, 5, 6, 7, 8, 9],
};

export const IGNORE_LABEL = 255;

type Labels = ArrayLike<number>;

export interface MetricResults {
  classes: number;
  /** Counted pixels (gt ≠ 255). */
  pixels: number;
  /** Per-class F1 as a fraction (NaN when the class is absent from both gt and prediction). */
  f1: number[];
  /** Mean F1 over classes 1..K−1, fraction (NaN if any of them is NaN). */
  meanF1: number;
  /** Per-class IoU, percent. */
  iou: number[];
  /** Mean IoU over all K classes, percent. */
  mIoU: number;
  /** Percent. */
  pixelAccuracy: number;
  /** Percent. */
  meanAccuracy: number;
  /** Merged-group F1 (fraction), when groups were asked for (HELEN_MERGES); not part of meanF1. */
  merged: Record<string, number>;
}

export class ConfusionMatrix {
  /** (K, K) counts, row = ground truth, column = prediction. */
  readonly hist: Float64Array;

  constructor(readonly classes: number) {
    if (!Number.isInteger(classes) || classes < 1 || classes > 255) throw new Error(`ConfusionMatrix: bad class count ${classes}`);
    this.hist = new Float64Array(classes * classes);
  }

  /** Accumulate a (labels, predictions) pair of equal length, or merge another matrix. */
  add(other: ConfusionMatrix): this;
  add(labels: Labels, pred: Labels): this;
  add(a: ConfusionMatrix | Labels, b?: Labels): this {
    if (a instanceof ConfusionMatrix) return this.merge(a);
    if (b === undefined) throw new Error('ConfusionMatrix.add: predictions missing');
    return this.update(a, b);
  }

  /** hist[gt, pred] += 1 for every pixel whose gt is not 255. */
  update(labels: Labels, pred: Labels): this {
    const K = this.classes, n = labels.length;
    if (pred.length !== n) throw new Error(`ConfusionMatrix: ${n} labels but ${pred.length} predictions`);
    const hist = this.hist;
    for (let i = 0; i < n; i++) {
      const g = labels[i]!;
      if (g === IGNORE_LABEL) continue;
      const p = pred[i]!;
      if (!(g >= 0 && g < K && Number.isInteger(g))) throw new Error(`ConfusionMatrix: label ${g} at ${i} is outside [0, ${K}) and not ${IGNORE_LABEL}`);
      if (!(p >= 0 && p < K && Number.isInteger(p))) throw new Error(`ConfusionMatrix: prediction ${p} at ${i} is outside [0, ${K})`);
      hist[g * K + p]++;
    }
    return this;
  }

  /** Add another matrix's counts (e.g. from another data-parallel worker). */
  merge(other: ConfusionMatrix): this {
    if (other.classes !== this.classes) throw new Error(`ConfusionMatrix: cannot merge ${other.classes} classes into ${this.classes}`);
    for (let i = 0; i < this.hist.length; i++) this.hist[i] += other.hist[i]!;
    return this;
  }

  reset(): void {
    this.hist.fill(0);
  }

  count(gt: number, pred: number): number {
    return this.hist[gt * this.classes + pred]!;
  }

  /** F1 of a set of classes merged into one (Helen's eyes/brows/mouth/overall); one class = its F1. */
  groupF1(group: readonly number[]): number {
    const K = this.classes;
    let rows = 0, cols = 0, inter = 0;
    for (const g of group) {
      if (!(Number.isInteger(g) && g >= 0 && g < K)) throw new Error(`ConfusionMatrix.groupF1: class ${g} outside [0, ${K})`);
      for (let j = 0; j < K; j++) { rows += this.hist[g * K + j]!; cols += this.hist[j * K + g]!; }
      for (const p of group) inter += this.hist[g * K + p]!;
    }
    return (2 * inter) / (rows + cols);
  }

  results(merges: Readonly<Record<string, readonly number[]>> = {}): MetricResults {
    const K = this.classes, hist = this.hist;
    const f1: number[] = [], iou: number[] = [];
    let tpSum = 0, posSum = 0, accSum = 0;
    for (let k = 0; k < K; k++) {
      let pos = 0, res = 0;
      for (let j = 0; j < K; j++) { pos += hist[k * K + j]!; res += hist[j * K + k]!; }
      const tp = hist[k * K + k]!;
      f1.push((2 * tp) / (pos + res));
      iou.push((tp / Math.max(1, pos + res - tp)) * 100);
      tpSum += tp; posSum += pos;
      accSum += tp / Math.max(1, pos);
    }
    const merged: Record<string, number> = {};
    for (const [name, group] of Object.entries(merges)) merged[name] = this.groupF1(group);
    return {
      classes: K,
      pixels: posSum,
      f1,
      meanF1: K > 1 ? f1.slice(1).reduce((a, b) => a + b, 0) / (K - 1) : NaN,
      iou,
      mIoU: iou.reduce((a, b) => a + b, 0) / K,
      pixelAccuracy: (tpSum / posSum) * 100,
      meanAccuracy: (accSum / K) * 100,
      merged,
    };
  }

  /** Lossless counts: { classes, hist } (row-major K×K). */
  toJSON(): { classes: number; hist: number[] } {
    return { classes: this.classes, hist: Array.from(this.hist) };
  }

  static fromJSON(j: { classes: number; hist: readonly number[] }): ConfusionMatrix {
    const cm = new ConfusionMatrix(j.classes);
    if (j.hist.length !== j.classes * j.classes) throw new Error(`ConfusionMatrix.fromJSON: ${j.hist.length} counts for ${j.classes} classes`);
    cm.hist.set(j.hist);
    return cm;
  }

  /** Aligned text table (class, F1 %, IoU %) and the summary lines. */
  formatTable(classNames: readonly string[], merges: Readonly<Record<string, readonly number[]>> = {}): string {
    if (classNames.length !== this.classes) throw new Error(`formatTable: ${classNames.length} names for ${this.classes} classes`);
    const r = this.results(merges);
    const pct = (x: number): string => (Number.isNaN(x) ? 'nan' : x.toFixed(2));
    const w = Math.max(5, ...classNames.map((n) => n.length), ...Object.keys(merges).map((n) => n.length));
    const row = (name: string, f1: string, iou: string): string => `${name.padEnd(w)}  ${f1.padStart(7)}  ${iou.padStart(7)}`.trimEnd();
    const lines = [row('class', 'F1', 'IoU'), '-'.repeat(w + 18)];
    classNames.forEach((n, k) => lines.push(row(n, pct(r.f1[k]! * 100), pct(r.iou[k]!))));
    if (Object.keys(merges).length > 0) {
      lines.push('-'.repeat(w + 18));
      for (const [name, f] of Object.entries(r.merged)) lines.push(row(name, pct(f * 100), ''));
    }
    lines.push('-'.repeat(w + 18),
      `Mean F1 (classes 1..${this.classes - 1}): ${pct(r.meanF1 * 100)}`,
      `Mean IoU (all ${this.classes} classes): ${pct(r.mIoU)}`,
      `Pixel accuracy: ${pct(r.pixelAccuracy)}`,
      `Mean accuracy: ${pct(r.meanAccuracy)}`,
      `Pixels: ${r.pixels}`);
    return lines.join('\n');
  }
}

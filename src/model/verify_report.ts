// Judging a reference-case comparison: tolerances (the targets) and a printable table.
import type { CaseResult, Comparison } from './reference_case.js';

export interface Tolerances {
  /** Relative L2 of each recorded activation (logits included). */
  activation: number;
  /** Relative L2 of each parameter gradient. */
  gradient: number;
  /** Absolute L2 of the gradients that are zero by softmax shift invariance (pure rounding noise). */
  invariantZeroAbs: number;
}

export const DEFAULT_TOLERANCES: Tolerances = { activation: 1e-4, gradient: 1e-3, invariantZeroAbs: 1e-6 };

/** decoder k_proj biases and the last hypernetwork bias: exactly zero gradient in exact arithmetic. */
export const ZERO_BY_INVARIANCE = /k_proj\.bias$|output_hypernetwork_mlps\.layers\.2\.bias$/;

export interface Verdict { name: string; kind: 'activation' | 'gradient'; value: number; limit: number; absolute: boolean; ok: boolean }

export function judge(r: CaseResult, tol: Tolerances = DEFAULT_TOLERANCES): Verdict[] {
  const out: Verdict[] = [];
  const push = (c: Comparison, kind: Verdict['kind']): void => {
    const absolute = kind === 'gradient' && ZERO_BY_INVARIANCE.test(c.name);
    const value = absolute ? c.relL2 * c.norm : c.relL2;
    const limit = absolute ? tol.invariantZeroAbs : kind === 'activation' ? tol.activation : tol.gradient;
    out.push({ name: c.name, kind, value, limit, absolute, ok: value <= limit });
  };
  for (const a of r.activations) push(a, 'activation');
  for (const g of r.gradients) push(g, 'gradient');
  return out;
}

export function formatVerdicts(vs: Verdict[], all = false): string {
  const rows = all ? vs : vs.filter((v) => !v.ok || v.kind === 'activation');
  const w = Math.max(...rows.map((v) => v.name.length), 10);
  const lines = rows.map((v) => `${v.ok ? 'ok  ' : 'FAIL'} ${v.kind.padEnd(10)} ${v.name.padEnd(w)} ${v.absolute ? 'abs L2' : 'rel L2'} ${v.value.toExponential(2)} (limit ${v.limit.toExponential(0)})`);
  const grads = vs.filter((v) => v.kind === 'gradient' && !v.absolute);
  const worst = grads.reduce((m, v) => (v.value > m.value ? v : m), grads[0] ?? { name: '-', value: 0 } as Verdict);
  lines.push(`gradients: ${grads.length} compared relatively, worst ${worst.name} ${worst.value.toExponential(2)}; ` +
    `${vs.filter((v) => v.absolute).length} zero-by-invariance compared absolutely`);
  return lines.join('\n');
}

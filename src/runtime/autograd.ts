// Reverse-mode autograd on a tape.
//
// An op whose inputs require gradients records one GradNode: its inputs, the tensors its backward
// needs (retained until backward has run), and a closure mapping d(output) to d(each input).
// `backward(loss)` walks the tape in reverse. Gradients of intermediates live in a map keyed by
// tensor and are summed in place when a tensor feeds several ops; gradients of leaves (parameters)
// accumulate into `param.grad`, which persists until `zeroGrad`. Backward kernels run with
// recording off, so the tape never grows during backward.
import type { Runtime } from './runtime.js';
import type { FlatGroup } from './flat.js';
import type { Tensor } from './tensor.js';

export interface GradNode {
  op: string;
  inputs: readonly Tensor[];
  output: Tensor;
  /** Tensors the backward reads; pinned by the tape until it is cleared. */
  saved: readonly Tensor[];
  /** d(output) -> d(input) per input (null where an input needs none); results are owned by the caller. */
  backward(dOut: Tensor): (Tensor | null)[];
}

export class Tape {
  private nodes: GradNode[] = [];
  /** Flat groups whose parameters got gradients in this backward (runtime/flat.ts settles them at its end). */
  private groups = new Set<FlatGroup>();

  constructor(private rt: Runtime) {}

  get length(): number { return this.nodes.length; }

  /** Records `output = op(inputs)` if gradients are on and any input needs one. */
  record(op: string, inputs: readonly Tensor[], output: Tensor, saved: readonly Tensor[], backward: GradNode['backward']): void {
    if (!this.rt.gradEnabled || !inputs.some((t) => t.requiresGrad)) return;
    for (const t of saved) t.pin();
    const node: GradNode = { op, inputs, output, saved, backward };
    output.requiresGrad = true;
    output.node = node;
    this.nodes.push(node);
  }

  /**
   * Back-propagates from `root` (seeded with `seed`, or ones) and clears the tape. `onLeafFinal`,
   * if given, is called (during backward, in the order they complete) with each leaf whose
   * `.grad` no later node will change, e.g. to start copying finished gradients out early.
   */
  backward(root: Tensor, seed?: Tensor, onLeafFinal?: (leaf: Tensor) => void): void {
    if (!root.requiresGrad) throw new Error(`backward: ${root.describe()} does not require a gradient (nothing recorded on the tape)`);
    const rt = this.rt;
    const grads = new Map<Tensor, Tensor>();
    // A leaf's gradient is final once the earliest node that reads it has run (nodes run in reverse).
    const finalAt = new Map<number, Tensor[]>();
    if (onLeafFinal) {
      const seen = new Set<Tensor>();
      this.nodes.forEach((node, i) => {
        for (const t of node.inputs) {
          if (t.node !== null || !t.requiresGrad || seen.has(t)) continue;
          seen.add(t);
          finalAt.set(i, [...(finalAt.get(i) ?? []), t]);
        }
      });
    }
    // A leaf of a flat group whose gradients so far are f16 (mixed precision) has its f32 gradient
    // only once the group widens them, when backward ends: it is announced then.
    const late: Tensor[] = [];
    const announce = (i: number): void => {
      for (const t of finalAt.get(i) ?? []) {
        if (t.grad) onLeafFinal!(t);
        else if (t.flat?.role === 'param') late.push(t);
      }
    };
    // Gradients are owned by the tape (and parameters), never by a caller's scope; each node's
    // backward runs in its own scope so temporaries it forgets to release are freed.
    rt.untracked(() => rt.withoutGrad(() => {
      grads.set(root, seed ? rt.copy(seed) : rt.full(root.shape, 1, root.dtype));
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        announce(i + 1);
        const node = this.nodes[i]!;
        const dOut = grads.get(node.output);
        if (!dOut) continue;
        grads.delete(node.output);
        const dIns = rt.scope(() => node.backward(dOut));
        dOut.release();
        node.inputs.forEach((input, j) => {
          const d = dIns[j] ?? null;
          if (!d) return;
          if (!input.requiresGrad) { d.release(); return; }
          this.accumulate(grads, input, d);
        });
      }
      announce(0);
      for (const g of this.groups) g.settleGrads();
      this.groups.clear();
      for (const t of late) if (t.grad) onLeafFinal!(t);
    }));
    for (const g of grads.values()) g.release();
    this.clear();
  }

  private accumulate(grads: Map<Tensor, Tensor>, input: Tensor, d: Tensor): void {
    // a parameter of a flat group may receive f16 gradients through the group's f16 copy (runtime/flat.ts)
    const dtypeOk = d.dtype === input.dtype || (input.node === null && input.flat?.role === 'param' && d.dtype === 'f16');
    if (d.rank !== input.rank || d.shape.some((n, i) => n !== input.shape[i]) || !dtypeOk) {
      throw new Error(`autograd: gradient ${d.describe()} does not match ${input.describe()} (op ${input.node?.op ?? 'leaf'})`);
    }
    if (input.node === null) {
      // A parameter of a flat group keeps its gradient in the group's gradient buffer (runtime/flat.ts).
      if (input.flat?.role === 'param') { input.flat.group.acceptGrad(input, d); this.groups.add(input.flat.group); return; }
      // A leaf's gradient is summed in place, so it must own its buffer exclusively.
      if (!input.grad) input.grad = d.exclusive ? d : this.rt.copy(d);
      else this.rt.accumulate(input.grad, d);
      if (input.grad !== d) d.release();
      return;
    }
    // Intermediate gradients are summed out of place: a backward may return one tensor for two inputs.
    const existing = grads.get(input);
    if (existing) {
      grads.set(input, this.rt.add(existing, d));
      existing.release();
      d.release();
    } else grads.set(input, d);
  }

  /** Drops every node and the tensors it saved (after backward, or to abandon a graph). */
  clear(): void {
    for (const node of this.nodes) {
      for (const t of node.saved) t.unpin();
      node.output.node = null;
      node.output.requiresGrad = false;
    }
    this.nodes = [];
  }
}

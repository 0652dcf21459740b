// The autotuner: measures kernel variants on this device and keeps the fastest, per tuning unit.
//
// A unit is an op family plus a shape class, e.g. matmul with transB and a bias at M ≤ 4096,
// N ≤ 512, K ≤ 128 (see each op for its classes). An op asks `choose()` for its unit and gets, in
// this order: the variant pinned for the family on this Runtime (tests, benchmarks), the cached
// winner, or the op's built-in default. A unit met for the first time with tuning on is queued
// and runs on the default; `tunePending()` then measures it. The runtime calls that after a
// readback (Tensor.read), i.e. when the batch is empty and the step that met the unit has
// finished, so candidates are never timed in the middle of a batched step: the first step that
// meets a unit runs the default, the next ones the winner, and each unit is measured once.
//
// Timing: each candidate runs once to compile, once more as a probe (dropped if far slower than
// the best so far), then a few times in its own compute pass, timed by device timestamps where the adapter
// has 'timestamp-query', else from submit to onSubmittedWorkDone. The median counts.
// Guard against noisy winners (a shared machine's load comes and goes between candidates): the
// best few and the default are then timed again in interleaved rounds, so a burst of load hits
// them alike, and each one's time is the median of all its samples. The default stays unless a
// challenger beats it by MARGIN; a tie between challengers goes to the faster median.
//
// Results persist through a TuneStore (Node: JSON under the user's cache directory,
// tune_store_node.ts; a browser page plugs in localStorage or IndexedDB). One store entry per
// adapter (its identity and driver); every record carries a checksum of its family's kernel
// sources and candidate names, so a changed kernel or candidate list re-tunes that family only.
import type { AdapterFacts } from './adapter.js';

export interface TuneRecord {
  family: string;
  shapeClass: string;
  /** The concrete shape that was measured (the first one met in the class). */
  shape: string;
  /** Median ms per candidate; Infinity for a candidate dropped after its first run. */
  times: Record<string, number>;
  winner: string;
  checksum: string;
}

/** What a store keeps per adapter. */
export interface TuneFile {
  version: 1;
  adapter: string;
  driver: string;
  records: Record<string, TuneRecord>;
}

/** Where tuning results live between processes. `key` names the adapter and driver. */
export interface TuneStore {
  /** Where it keeps them, for messages (a path, "localStorage", ...). */
  readonly where: string;
  load(key: string): Promise<TuneFile | undefined>;
  save(key: string, file: TuneFile): Promise<void>;
}

/** A store that forgets (tests, or a page without storage). */
export class MemoryTuneStore implements TuneStore {
  readonly where = 'memory';
  private files = new Map<string, TuneFile>();
  async load(key: string): Promise<TuneFile | undefined> { return this.files.get(key); }
  async save(key: string, file: TuneFile): Promise<void> { this.files.set(key, structuredClone(file)); }
}

/** A unit to measure: its candidates, and how to run one of them on scratch data. */
export interface TuneUnit {
  family: string;
  shapeClass: string;
  shape: string;
  /** Candidate names; the first is the built-in default. */
  candidates: readonly string[];
  /**
   * Allocates scratch inputs; `run(c)` records one run of candidate c: one dispatch, or as many as
   * it returns (their times add up to the run's); `dispose()` frees them.
   */
  prepare(): { run(candidate: string): number | void; dispose(): void };
}

/** What the tuner needs from the runtime: kept small so tests can drive it with a fake. */
export interface TuneHost {
  facts: AdapterFacts;
  /** Kernel file text, for the checksums. */
  kernelSource(file: string): string;
  /** Device-timed ms of each dispatch recorded by `record` (median-ready list, in order). */
  timeDispatches(record: () => void): Promise<number[]>;
}

export interface TunerOptions {
  /** Measure units at first use (default: on, unless SEGFACE_TUNE=0). Off: built-in defaults. */
  enabled?: boolean;
  store?: TuneStore | undefined;
}

/** FNV-1a over the text, 2 × 32 bits, hex: a stable checksum in Node and browsers alike. */
export function checksum(text: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** Whether the environment asks for tuning (SEGFACE_TUNE=0 / false / off turns it off). */
export function tuningFromEnv(env: Record<string, string | undefined> = typeof process === 'undefined' ? {} : process.env): boolean {
  const v = env.SEGFACE_TUNE;
  return v === undefined || !/^(0|false|off|no)$/i.test(v);
}

const REPS = 5;
/** A candidate whose first (compiling) run is this much slower than the best so far is not timed further. */
const DROP_FACTOR = 4;
/** Challengers re-timed against the default after the first pass, rounds of that, and runs per round. */
const FINALISTS = 2;
const ROUNDS = 3;
const ROUND_REPS = 3;
/** A challenger replaces the default only when its median is this much lower (fraction). */
export const TUNE_MARGIN = 0.05;

export type TuneProgress = (done: number, total: number, rec: TuneRecord) => void;

export class Tuner {
  enabled: boolean;
  /** Progress of measurements started without their own callback (e.g. the one after a readback). */
  onMeasured: TuneProgress | undefined;
  private pins = new Map<string, string>();
  private records = new Map<string, TuneRecord>();
  private pending = new Map<string, { unit: TuneUnit; sum: string }>();
  private families = new Map<string, string>();
  private loaded = false;

  constructor(private host: TuneHost, private options: TunerOptions = {}) {
    this.enabled = options.enabled ?? tuningFromEnv();
  }

  /** The store key: adapter identity and driver. */
  get storeKey(): string { return checksum(`${this.host.facts.identity}\u0000${this.host.facts.driver}`); }

  /** Declares a family's kernel files; their text and the candidate names make its checksum. */
  family(name: string, files: readonly string[], candidates: readonly string[]): string {
    const key = `${name}\u0000${candidates.join(',')}`;
    let sum = this.families.get(key);
    if (sum === undefined) {
      sum = checksum([...files.map((f) => this.host.kernelSource(f)), ...candidates].join('\u0000'));
      this.families.set(key, sum);
    }
    return sum;
  }

  /** Forces one candidate for every unit of a family on this runtime (undefined: unpin). */
  pin(family: string, candidate: string | undefined): void {
    if (candidate === undefined) this.pins.delete(family); else this.pins.set(family, candidate);
  }

  pinned(family: string): string | undefined { return this.pins.get(family); }

  /**
   * The candidate for a unit: the family's pin; with tuning off the default `unit.candidates[0]`;
   * else the cached winner, or the default while the unit waits to be measured.
   */
  choose(unit: TuneUnit, files: readonly string[]): string {
    const pin = this.pins.get(unit.family);
    if (pin !== undefined) return pin;
    if (!this.enabled) return unit.candidates[0]!;   // off: the built-in default, cached winners ignored
    const id = unitId(unit.family, unit.shapeClass);
    const sum = this.family(unit.family, files, unit.candidates);
    const rec = this.records.get(id);
    if (rec && rec.checksum === sum && unit.candidates.includes(rec.winner)) return rec.winner;
    if (unit.candidates.length > 1 && !this.pending.has(id)) this.pending.set(id, { unit, sum });
    return unit.candidates[0]!;
  }

  /** Units met but not measured yet. */
  get pendingCount(): number { return this.pending.size; }

  /** Loads the store's records for this adapter (once). */
  async load(): Promise<void> {
    if (this.loaded || !this.options.store) { this.loaded = true; return; }
    this.loaded = true;
    const file = await this.options.store.load(this.storeKey);
    if (file?.version === 1) for (const [id, rec] of Object.entries(file.records)) this.records.set(id, rec);
  }

  /** Measures every queued unit, saves, and returns the new records. `onUnit` reports progress. */
  async tunePending(onUnit: TuneProgress | undefined = this.onMeasured): Promise<TuneRecord[]> {
    await this.load();
    const units = [...this.pending.values()];
    this.pending.clear();
    const out: TuneRecord[] = [];
    for (const { unit, sum } of units) {
      const rec = await this.measure(unit, sum);
      this.records.set(unitId(unit.family, unit.shapeClass), rec);
      out.push(rec);
      onUnit?.(out.length, units.length, rec);
    }
    if (out.length > 0 && this.options.store) await this.options.store.save(this.storeKey, this.file());
    return out;
  }

  /** Every record this tuner knows (loaded or measured), for reports. */
  list(): TuneRecord[] { return [...this.records.values()]; }

  private file(): TuneFile {
    return { version: 1, adapter: this.host.facts.identity, driver: this.host.facts.driver, records: Object.fromEntries(this.records) };
  }

  private async measure(unit: TuneUnit, sum: string): Promise<TuneRecord> {
    const scratch = unit.prepare();
    const samples: Record<string, number[]> = {};
    const times: Record<string, number> = {};
    // Device time of each of `reps` runs of c (a run's dispatches added up).
    const timeRunsOf = async (c: string, reps: number): Promise<number[]> => {
      const counts: number[] = [];
      const ms = await this.host.timeDispatches(() => { for (let i = 0; i < reps; i++) counts.push(scratch.run(c) ?? 1); });
      let at = 0;
      return counts.map((n) => { let t = 0; for (let i = 0; i < n; i++) t += ms[at++]!; return t; });
    };
    const timeRuns = async (c: string, reps: number): Promise<void> => {
      samples[c]!.push(...await timeRunsOf(c, reps));
      times[c] = median(samples[c]!);
    };
    try {
      // First pass: every candidate, in order.
      let best = Infinity;
      for (const c of unit.candidates) {
        await timeRunsOf(c, 1);   // compiles the pipeline
        const [probe] = await timeRunsOf(c, 1);
        if (probe! > DROP_FACTOR * best) { times[c] = Infinity; continue; }
        samples[c] = [];
        await timeRuns(c, REPS);
        best = Math.min(best, times[c]!);
      }
      // Rounds: the default and the best challengers, interleaved.
      const finalists = [unit.candidates[0]!, ...unit.candidates.slice(1).filter((c) => samples[c]).sort((x, y) => times[x]! - times[y]!).slice(0, FINALISTS)];
      if (finalists.length > 1) {
        for (let r = 0; r < ROUNDS; r++) for (const c of finalists) await timeRuns(c, ROUND_REPS);
      }
    } finally {
      scratch.dispose();
    }
    return { family: unit.family, shapeClass: unit.shapeClass, shape: unit.shape, times, winner: pickWinner(unit.candidates, times), checksum: sum };
  }
}

const unitId = (family: string, shapeClass: string): string => `${family} ${shapeClass}`;

/** The default (candidates[0]) unless the fastest challenger's time is below the default's by TUNE_MARGIN. */
export function pickWinner(candidates: readonly string[], times: Record<string, number>): string {
  const fallback = candidates[0]!;
  const challenger = candidates.slice(1).reduce<string | undefined>((w, c) => (w === undefined || times[c]! < times[w]! ? c : w), undefined);
  if (challenger === undefined || !(times[challenger]! < (1 - TUNE_MARGIN) * times[fallback]!)) return fallback;
  return challenger;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The size bucket of a dimension: the power of two at or above it (1, 2, 4, …). */
export function sizeBucket(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}

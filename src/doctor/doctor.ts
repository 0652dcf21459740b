// `segface doctor`: one command for a machine you have for a few minutes, on any adapter. In order:
// the adapter's facts and limits, its measured roofline, a fast subset of the op checks against the
// float64 references, then per target (swin_base at 224 and 512 px; --quick: the tiny model at 64 px)
// the training step at the largest batch that fits (found by doubling), and the matmul and window
// attention rows at that batch with their roofline ratios.
//
// The doctor sits above train, model and runtime (it times training steps and checks ops) and
// nothing imports it but its command, so it is its own top-level folder rather than part of any
// of those layers.
//
// Time budget: every step gets a share of what is left, and a step stops between measurements when
// its share or the whole budget is spent, or on stop(); the report then says what was not measured.
// `onProgress` receives the report after every step, so a caller can write it as it grows.
import { platform, release } from 'node:os';
import type { AdapterSummary } from '../runtime/device.js';
import { hostGpus, isSoftwareAdapter, nvidiaDriverVersion, type HostGpu } from '../runtime/host_gpu.js';
import { measureRoofline, type Roofline } from '../runtime/roofline.js';
import type { Runtime } from '../runtime/runtime.js';
import { Budget } from './budget.js';
import { doctorCases, runCheck, type CheckResult } from './checks.js';
import type { Precision } from '../runtime/reference/check.js';
import {
  buildForSearch, defaultMemoryCap, hostFacts, measureMatmul, measureWindowAttention, searchTrainingStep, timeWork,
  type AttentionRow, type BuiltModel, type MatmulRow, type StepSearch, type Target,
} from './measure.js';

export interface DoctorOptions {
  minutes: number;
  /** Small shapes (the tiny model at 64 px), for CI on a software adapter: about a minute. */
  quick: boolean;
  /** Largest batch the training-step search tries (default 256; --quick 4). */
  maxBatch?: number;
  /** Memory cap of the batch search (default: half the free host memory on software adapters, none on hardware). */
  memoryCapBytes?: number;
  /** Precisions the op checks run in (default: f32, and f16 where the adapter has shader-f16). */
  checkPrecisions?: Precision[];
}

export interface StepRecord { name: string; status: 'done' | 'partial' | 'failed' | 'not run'; seconds: number; note?: string }

export interface DoctorReport {
  tool: 'segface doctor';
  date: string;
  quick: boolean;
  budgetMinutes: number;
  elapsedSeconds: number;
  /** Every step ran to its end. */
  complete: boolean;
  stoppedBy?: string;
  host: { platform: string; node: string; cpus: number; cpuModel: string; freeMemoryBytes: number; gpus: HostGpu[]; nvidiaDriver: string };
  adapter: AdapterSummary & { software: boolean };
  steps: StepRecord[];
  roofline?: Roofline;
  checks: CheckResult[];
  trainingStep: StepSearch[];
  matmul: MatmulRow[];
  windowAttention: AttentionRow[];
}

export const DOCTOR_TARGETS: Target[] = [{ model: 'swin_base', res: 224 }, { model: 'swin_base', res: 512 }];
export const QUICK_TARGETS: Target[] = [{ model: 'tiny', res: 64 }];

interface Step { name: string; share: number; run: (budget: Budget) => Promise<void> }

export class Doctor {
  readonly report: DoctorReport;
  private readonly budget: Budget;
  private readonly t0 = performance.now();
  /** Batch-1 step time per input pixel of the last target, to estimate the next one's. */
  private msPerPixel: number | undefined;
  /** One synthetic model per backbone, shared by its targets (making swin_base's takes a while). */
  private readonly models = new Map<string, BuiltModel>();

  constructor(private readonly rt: Runtime, private readonly options: DoctorOptions) {
    this.budget = Budget.ofMinutes(options.minutes);
    const adapter = rt.device.adapter;
    this.report = {
      tool: 'segface doctor', date: new Date().toISOString(), quick: options.quick, budgetMinutes: options.minutes,
      elapsedSeconds: 0, complete: false,
      host: { platform: `${platform()} ${release()}`, node: process.version, ...hostFacts(), gpus: hostGpus(), nvidiaDriver: nvidiaDriverVersion() },
      adapter: { ...adapter, software: isSoftwareAdapter(adapter) },
      steps: [], checks: [], trainingStep: [], matmul: [], windowAttention: [],
    };
  }

  /** Asks the running step to stop after its current measurement (Ctrl-C). */
  stop(reason: string): void { this.budget.stop(reason); }

  /**
   * The steps, each with its share of the time left when it starts. The autotuner over SegFace's
   * shapes (issue 17) is one more step here, after the checks and before the model targets, once the
   * runtime has one: its rows then go into the report next to `checks`.
   */
  private steps(): Step[] {
    const { quick } = this.options;
    const targets = quick ? QUICK_TARGETS : DOCTOR_TARGETS;
    return [
      { name: 'roofline', share: 0.1, run: (b) => this.roofline(b) },
      { name: 'op checks', share: 0.25, run: (b) => this.checks(b) },
      ...targets.map((t, i) => ({ name: `${t.model} ${t.res}`, share: 1 / (targets.length - i), run: (b: Budget) => this.target(t, b) })),
    ];
  }

  async run(onProgress: (r: DoctorReport) => void = () => undefined): Promise<DoctorReport> {
    for (const step of this.steps()) {
      const s0 = performance.now();
      if (this.budget.exhausted()) {
        this.report.steps.push({ name: step.name, status: 'not run', seconds: 0, note: this.budget.stoppedBy() });
        continue;
      }
      const share = this.budget.share(step.share);
      let failure: string | undefined;
      try {
        await step.run(share);
      } catch (e) {
        // a WebGPU error or a lost device ends this step, not the doctor: what was measured is kept
        failure = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      }
      const note = failure ?? share.stoppedBy();
      const status = failure ? 'failed' : note ? 'partial' : 'done';
      this.report.steps.push({ name: step.name, status, seconds: (performance.now() - s0) / 1000, ...(note ? { note } : {}) });
      this.report.elapsedSeconds = (performance.now() - this.t0) / 1000;
      onProgress(this.report);
    }
    for (const { m } of this.models.values()) m.release();
    this.models.clear();
    this.report.complete = this.report.steps.every((s) => s.status === 'done');
    const stopped = this.budget.stoppedBy();
    if (stopped) this.report.stoppedBy = stopped;
    this.report.elapsedSeconds = (performance.now() - this.t0) / 1000;
    onProgress(this.report);
    return this.report;
  }

  private async roofline(budget: Budget): Promise<void> {
    const quick = this.options.quick;
    const m = await measureRoofline(this.rt, (record) => timeWork(this.rt, record, { samples: quick ? 2 : 5, maxMs: Math.min(2000, budget.remainingMs() / 3) }));
    this.report.roofline = m.peak;
  }

  private async checks(budget: Budget): Promise<void> {
    const precisions = this.options.checkPrecisions ?? (this.rt.device.hasF16 ? ['f32', 'f16'] : ['f32']);
    for (const precision of precisions) {
      for (const c of doctorCases(this.rt, this.options.quick)) {
        if (budget.exhausted()) return;
        this.report.checks.push(await runCheck(this.rt, c, precision));
      }
    }
  }

  /**
   * The training-step search takes up to 70 % of the target's share left once its model is built
   * (synthetic weights are host work); matmul and attention then run
   * at its batch within the whole budget (seconds of work, even when a slow step overran the share).
   */
  private async target(t: Target, budget: Budget): Promise<void> {
    const { quick } = this.options;
    const cached = this.models.get(t.model);
    const model = cached ? { m: cached.m, buildSeconds: 0 } : buildForSearch(this.rt, t.model);
    this.models.set(t.model, model);
    const search = await searchTrainingStep(this.rt, t, model, budget, {
      share: 0.7,
      maxBatch: this.options.maxBatch ?? (quick ? 4 : 256),
      memoryCapBytes: this.options.memoryCapBytes ?? defaultMemoryCap(this.report.adapter.software),
      samples: quick ? 1 : 2,
      ...(this.msPerPixel ? { estimateMs: this.msPerPixel * t.res * t.res } : {}),
    });
    // the next target's estimate: a timed batch-1 step, else its warm-up (an overestimate: it compiles)
    const first = search.rows.find((r) => r.batch === 1);
    const firstMs = first?.timing?.medianMs ?? first?.warmupMs;
    if (firstMs !== undefined) this.msPerPixel = firstMs / (t.res * t.res);
    this.report.trainingStep.push(search);
    const batch = Math.max(1, search.largestBatch);
    const peak = this.report.roofline;
    this.report.matmul.push(...await measureMatmul(this.rt, t, batch, peak, this.budget, quick));
    this.report.windowAttention.push(...await measureWindowAttention(this.rt, t, batch, peak, this.budget, quick));
  }
}

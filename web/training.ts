// Training in a tab: the default run of `segface train` (tiny model, built-in synthetic faces, 64 px,
// batch 4, AdamW lr 1e-3, weight decay 1e-5) stepped by the page, with pause/resume, validation
// mean F1, sample overlays and the two downloads. Engine code only (no DOM), so the Node test runs
// the very same steps to compare losses.
import { CLASS_NAMES, makeConfig, type SegFaceConfig } from '../src/model/config.js';
import { syntheticParams, type ParamStore } from '../src/model/params.js';
import { AdamW } from '../src/runtime/ops/adamw.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { encodeSafetensors, parseSafetensors, type StTensor, type StWrite } from '../src/runtime/formats/safetensors.js';
import { encodeTorchCheckpoint } from '../src/runtime/formats/torch_checkpoint.js';
import { CHECKPOINT_VERSION, officialCheckpoint, type TrainState } from '../src/train/checkpoint.js';
import { epochBatches, makeBatch } from '../src/train/data/dataset.js';
import { SyntheticDataset } from '../src/train/data/synthetic_dataset.js';
import { overlay, PALETTES, withLegend, type RgbImage } from '../src/train/image/index.js';
import { ConfusionMatrix } from '../src/train/metrics.js';
import { MultiStepLR } from '../src/train/schedule.js';
import { Trainer, type StepResult } from '../src/train/trainer.js';

export const DEFAULT_RUN = { model: 'tiny', dataset: 'celeb' as const, res: 64, batch: 4, lr: 1e-3, weightDecay: 1e-5, seed: 1, trainSize: 384, valSize: 64 };

export class PageTraining {
  readonly cfg: SegFaceConfig;
  readonly params: ParamStore;
  readonly optim: AdamW;
  readonly trainer: Trainer;
  readonly train: SyntheticDataset;
  readonly val: SyntheticDataset;
  epoch = 0;
  batchInEpoch = 0;
  globalStep = 0;
  private order: number[][];

  constructor(readonly rt: Runtime, readonly run = DEFAULT_RUN, stochasticDepth = true) {
    this.cfg = makeConfig(run.model, run.dataset);
    this.params = syntheticParams(rt, this.cfg, run.seed);
    this.optim = new AdamW(this.params.params(), { lr: run.lr, weightDecay: run.weightDecay });
    this.trainer = new Trainer(rt, this.params, this.optim, new MultiStepLR(run.lr, []), run.seed, stochasticDepth);
    this.train = new SyntheticDataset('train', run.trainSize, run.res, run.dataset, run.seed);
    this.val = new SyntheticDataset('val', run.valSize, run.res, run.dataset, run.seed);
    this.order = epochBatches(this.train.length, run.batch, run.seed, 0);
  }

  /** One training step on the next batch of the epoch order. */
  async step(): Promise<StepResult> {
    if (this.batchInEpoch >= this.order.length) {
      this.epoch++;
      this.batchInEpoch = 0;
      this.order = epochBatches(this.train.length, this.run.batch, this.run.seed, this.epoch);
    }
    const batch = makeBatch(this.train, this.order[this.batchInEpoch]!);
    const r = await this.trainer.step(batch, this.run.res, this.epoch, this.globalStep);
    this.batchInEpoch++;
    this.globalStep++;
    return r;
  }

  /** Validation mean F1 (classes present in the ground truth) and overlays of the first samples. */
  async validate(samples = 4): Promise<{ meanF1: number; overlays: RgbImage[] }> {
    const names = CLASS_NAMES[this.run.dataset];
    const palette = PALETTES[this.run.dataset];
    const cm = new ConfusionMatrix(names.length);
    const overlays: RgbImage[] = [];
    const res = this.run.res;
    for await (const { batch, pred } of this.trainer.predictAll(this.val, this.run.batch)) {
      cm.add(batch.labels, pred);
      for (let b = 0; b < batch.size && overlays.length < samples; b++) {
        const s = this.val.get(overlays.length);
        overlays.push(withLegend(overlay(s.image, pred.subarray(b * res * res, (b + 1) * res * res), 0.55, palette), res, res, names, palette));
      }
    }
    return { meanF1: cm.results().meanF1, overlays };
  }

  private state(): TrainState {
    return {
      version: CHECKPOINT_VERSION, epoch: this.epoch, batchInEpoch: this.batchInEpoch, globalStep: this.globalStep,
      optimSteps: [...this.optim.steps], skippedSteps: 0,
      args: { ...this.run, milestones: [], source: 'web page' },
    };
  }

  /** The training checkpoint as `segface train` writes it (weights, AdamW moments, run state). */
  async checkpointSafetensors(): Promise<Uint8Array> {
    const tensors = new Map<string, StWrite>();
    for (const [name, t] of this.params.tensors) tensors.set(name, { shape: t.shape, data: await t.read() });
    for (const [i, p] of this.params.params().entries()) {
      tensors.set(`optim.exp_avg.${p.name}`, { shape: p.shape, data: await this.optim.expAvg[i]!.read() });
      tensors.set(`optim.exp_avg_sq.${p.name}`, { shape: p.shape, data: await this.optim.expAvgSq[i]!.read() });
    }
    return encodeSafetensors(tensors, { segface_train_state: JSON.stringify(this.state()) });
  }

  /** The official release's format (`model_299.pt`: state_dict_backbone, optimizer, scheduler). */
  async officialPt(): Promise<Uint8Array> {
    const st = parseSafetensors(await this.checkpointSafetensors(), 'checkpoint.safetensors');
    const part = (prefix: string) => new Map<string, StTensor>([...st].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    const weights = new Map([...st].filter(([k]) => !k.startsWith('optim.')));
    const { dict } = officialCheckpoint({ state: this.state(), weights, expAvg: part('optim.exp_avg.'), expAvgSq: part('optim.exp_avg_sq.') }, 'web training');
    return encodeTorchCheckpoint(dict);
  }
}

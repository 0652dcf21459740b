// `segface export --checkpoint RUN_DIR|checkpoint.safetensors --out model.pt`: a training
// checkpoint in the official SegFace torch.save format (the layout of the released model_299.pt):
// {epoch, iteration, state_dict_backbone, optimizer, scheduler}. It loads in PyTorch with
//   ck = torch.load('model.pt', map_location='cpu')
//   model.load_state_dict(ck['state_dict_backbone'], strict=True)
//   optimizer.load_state_dict(ck['optimizer']); scheduler.load_state_dict(ck['scheduler'])
// with optimizer = torch.optim.AdamW(model.parameters(), ...) and the run's scheduler: MultiStepLR(optimizer, ...)
// for the official recipe, or for a warm-up + cosine run (the synthetic presets) SequentialLR(optimizer,
// [LinearLR(start_factor=0.01, total_iters=W), CosineAnnealingLR(T_max=TOTAL-W, eta_min)], milestones=[W])
// stepped once per optimizer step (CosineAnnealingLR alone when W = 0),
// and in this project with every command that takes --checkpoint / --init-from. No GPU is used.
import { existsSync, statSync } from 'node:fs';
import type { Command } from '../args.js';
import { loadCheckpoint, officialCheckpoint, saveFailure } from '../../train/checkpoint.js';
import { writeTorchCheckpoint } from '../../runtime/formats/torch_checkpoint.js';

export const command: Command = {
  name: 'export',
  summary: 'writes a training checkpoint in the official torch.save layout (model_299.pt)',
  usage: ['--checkpoint RUN_DIR|checkpoint.safetensors --out model.pt'],
  flags: {
    checkpoint: { type: 'string', value: 'RUN|FILE', exists: 'any', help: 'a run directory (its checkpoint.safetensors) or a training checkpoint file' },
    out: { type: 'string', value: 'FILE', help: 'the .pt file to write (atomically; an existing file is replaced)' },
  },
  notes: 'The file holds epoch (last completed epoch, 0-based), iteration (steps taken), state_dict_backbone\n' +
    '(official names, float32), optimizer (torch AdamW state_dict) and scheduler (the run\'s: MultiStepLR, or for\n' +
    'warm-up + cosine SequentialLR(LinearLR, CosineAnnealingLR) stepped per optimizer step; see src/cli/commands/export.ts).',
  async run(args) {
    const checkpoint = args.need<string>('checkpoint');
    const out = args.need<string>('out');
    if (existsSync(out) && statSync(out).isDirectory()) args.fail(`--out ${out} is a directory; give a file name such as ${out}/model.pt`);
    const ck = loadCheckpoint(checkpoint);
    const { dict, cfg } = officialCheckpoint(ck, checkpoint);
    try {
      writeTorchCheckpoint(out, dict);
    } catch (e) {
      throw new Error(saveFailure(e, out));
    }
    const s = ck.state;
    console.log(`${out}: ${cfg.backbone}/${cfg.dataset}, ${s.epoch} epoch(s) completed${s.batchInEpoch ? ` + ${s.batchInEpoch} step(s) of the next` : ''}, ` +
      `${s.globalStep} step(s); ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
  },
};

// `npm run export -- --checkpoint RUN_DIR|checkpoint.safetensors --out model.pt`: a training
// checkpoint in the official SegFace torch.save format (the layout of the released model_299.pt):
// {epoch, iteration, state_dict_backbone, optimizer, scheduler}. It loads in PyTorch with
//   ck = torch.load('model.pt', map_location='cpu')
//   model.load_state_dict(ck['state_dict_backbone'], strict=True)
//   optimizer.load_state_dict(ck['optimizer']); scheduler.load_state_dict(ck['scheduler'])
// with optimizer = torch.optim.AdamW(model.parameters(), ...) and scheduler = MultiStepLR(optimizer, ...),
// and in this project with every command that takes --checkpoint / --init-from. No GPU is used.
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadCheckpoint, officialCheckpoint, saveFailure } from '../checkpoint.js';
import { writeTorchCheckpoint } from '../../runtime/formats/torch_checkpoint.js';

const USAGE = `usage: npm run export -- --checkpoint RUN_DIR|checkpoint.safetensors --out model.pt
  --checkpoint  a run directory (its checkpoint.safetensors) or a training checkpoint file
  --out         the .pt file to write (atomically; an existing file is replaced)
The file holds epoch (last completed epoch, 0-based), iteration (steps taken), state_dict_backbone
(official names, float32), optimizer (torch AdamW state_dict) and scheduler (MultiStepLR state_dict).`;

function fail(msg: string): never {
  console.error(`error: ${msg}\n${USAGE}`);
  process.exit(2);
}

let v: { checkpoint?: string; out?: string; help?: boolean };
try {
  ({ values: v } = parseArgs({ options: { checkpoint: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
} catch (e) {
  fail((e as Error).message);
}
if (v.help) { console.log(USAGE); process.exit(0); }
if (!v.checkpoint) fail('--checkpoint is required');
if (!v.out) fail('--out is required');
if (!existsSync(v.checkpoint)) fail(`--checkpoint ${v.checkpoint}: no such file or directory`);
if (existsSync(v.out) && statSync(v.out).isDirectory()) fail(`--out ${v.out} is a directory; give a file name such as ${v.out}/model.pt`);

let ck: ReturnType<typeof loadCheckpoint>;
let dict: ReturnType<typeof officialCheckpoint>['dict'];
let cfg: ReturnType<typeof officialCheckpoint>['cfg'];
try {
  ck = loadCheckpoint(v.checkpoint);
  ({ dict, cfg } = officialCheckpoint(ck, v.checkpoint));
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
try {
  writeTorchCheckpoint(v.out, dict);
} catch (e) {
  console.error(`error: ${saveFailure(e, v.out)}`);
  process.exit(1);
}
const s = ck.state;
console.log(`${v.out}: ${cfg.backbone}/${cfg.dataset}, ${s.epoch} epoch(s) completed${s.batchInEpoch ? ` + ${s.batchInEpoch} step(s) of the next` : ''}, ` +
  `${s.globalStep} step(s); ${(statSync(v.out).size / 2 ** 20).toFixed(1)} MiB`);

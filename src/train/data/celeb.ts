// CelebAMask-HQ (root/CelebAMask-HQ). As the official loader:
//   * split: CelebA-HQ-to-CelebA-mapping.txt maps HQ index → original CelebA file (lines holding
//     ".jpg": `idx orig_idx orig_file`); list_eval_partition.txt gives each original file a group
//     (0 train, 1 val, 2 test); samples in the partition file's order, files not in the mapping
//     skipped; sample name = the HQ index;
//   * image CelebA-HQ-img/{i}.jpg (1024²), resized BICUBIC to res;
//   * label: a 512×512 zero map; for each part in the official order (value = position + 1), if
//     CelebAMask-HQ-mask-anno/{i // 2000}/{i:05d}_{part}.png exists, every pixel where the mask
//     (read as cv2.imread(..., IMREAD_GRAYSCALE) reads a PNG: libpng's rgb_to_gray, see maskGrey)
//     is > 0 takes the value: later parts overwrite earlier ones; resized NEAREST to res.
// Missing part files are normal; a sample with NO part file at all is reported as a missing mask
// (the official code would silently train on an all-background label).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES } from '../../model/config.js';
import { readImage, resizeBicubicPIL, resizeNearestPIL } from '../image/index.js';
import type { Sample } from './dataset.js';
import { FileDataset, type FileDatasetOptions, type Split } from './file_dataset.js';

/** Mask file suffixes in the official order; label value = index + 1. */
export const CELEB_PARTS = ['neck', 'skin', 'cloth', 'l_ear', 'r_ear', 'l_brow', 'r_brow', 'l_eye', 'r_eye', 'nose', 'mouth',
  'l_lip', 'u_lip', 'hair', 'eye_g', 'hat', 'ear_r', 'neck_l'] as const;

export const CELEB_MASK_SIZE = 512;
const GROUPS: Record<Split, number> = { train: 0, val: 1, test: 2 };

function readLines(path: string, what: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch (e) {
    throw new Error(`CelebAMask-HQ: cannot read the ${what} ${path}: ${(e as Error).message}`);
  }
}

/** HQ indices of a split, in list_eval_partition.txt order. */
export function celebSplit(root: string, split: Split): number[] {
  const mappingFile = join(root, 'CelebA-HQ-to-CelebA-mapping.txt');
  const partitionFile = join(root, 'list_eval_partition.txt');
  const hqOf = new Map<string, number>();
  readLines(mappingFile, 'mapping').forEach((line, i) => {
    if (!line.includes('.jpg')) return;
    const tok = line.trim().split(/\s+/);
    if (tok.length !== 3 || !/^\d+$/.test(tok[0]!)) throw new Error(`${mappingFile}:${i + 1}: expected "idx orig_idx orig_file", found ${JSON.stringify(line.trim())}`);
    hqOf.set(tok[2]!, Number(tok[0]));
  });
  const out: number[] = [];
  readLines(partitionFile, 'partition list').forEach((line, i) => {
    if (!line.includes('.jpg')) return;
    const tok = line.trim().split(/\s+/);
    if (tok.length !== 2 || !/^\d+$/.test(tok[1]!)) throw new Error(`${partitionFile}:${i + 1}: expected "file group", found ${JSON.stringify(line.trim())}`);
    const hq = hqOf.get(tok[0]!);
    if (hq !== undefined && Number(tok[1]) === GROUPS[split]) out.push(hq);
  });
  return out;
}

/**
 * A mask PNG as cv2.imread(path, IMREAD_GRAYSCALE) reads it. OpenCV decodes PNGs through libpng
 * and asks it for grey (png_set_rgb_to_gray with 0.299/0.587, palette expanded to RGB, alpha
 * stripped, not composited), and libpng's 8-bit rule truncates in 15-bit fixed point:
 * (9797·R + 19234·G + 3737·B) >> 15, the three weights summing to 2^15 so that R = G = B stays
 * itself. (cv2.cvtColor's rounded 14-bit weights differ on a few hundred pixels of a coloured
 * mask: e.g. (0, 0, 3) is 0 here and 1 there, which decides "> 0".)
 */
export function maskGrey(path: string): { width: number; height: number; grey: Uint8Array } {
  const m = readImage(path);
  const grey = new Uint8Array(m.width * m.height);
  const rgb = m.rgb;
  for (let p = 0; p < grey.length; p++) grey[p] = (9797 * rgb[3 * p]! + 19234 * rgb[3 * p + 1]! + 3737 * rgb[3 * p + 2]!) >> 15;
  return { width: m.width, height: m.height, grey };
}

/** The merged 512×512 label map of HQ index `id`; throws naming the file for a bad mask. */
export function celebLabel(root: string, id: number): Uint8Array {
  const label = new Uint8Array(CELEB_MASK_SIZE * CELEB_MASK_SIZE);
  const dir = join(root, 'CelebAMask-HQ-mask-anno', String(Math.floor(id / 2000)));
  const stem = String(id).padStart(5, '0');
  let found = 0;
  CELEB_PARTS.forEach((part, i) => {
    const file = join(dir, `${stem}_${part}.png`);
    if (!existsSync(file)) return;
    found++;
    const m = maskGrey(file);
    if (m.width !== CELEB_MASK_SIZE || m.height !== CELEB_MASK_SIZE) throw new Error(`${file}: mask is ${m.width}×${m.height}, expected ${CELEB_MASK_SIZE}×${CELEB_MASK_SIZE}`);
    for (let p = 0; p < label.length; p++) if (m.grey[p]! > 0) label[p] = i + 1;
  });
  if (found === 0) throw new Error(`${join(dir, `${stem}_*.png`)}: no part mask for sample ${id} (missing mask; expected at least ${stem}_skin.png)`);
  return label;
}

export class CelebDataset extends FileDataset {
  readonly name: string;
  readonly classes = CLASS_NAMES.celeb.length;
  private readonly ids: number[] = [];

  constructor(root: string, split: Split, res: number, opts: FileDatasetOptions = {}) {
    super(root, split, res, opts);
    this.name = `celeb-${split}`;
    for (const id of celebSplit(root, split)) {
      if (this.requireFile(String(id), this.imagePath(id), 'image')) this.ids.push(id);
    }
    if (this.ids.length === 0) throw new Error(`CelebAMask-HQ: no usable ${split} samples under ${root}`);
  }

  private imagePath(id: number): string {
    return join(this.root, 'CelebA-HQ-img', `${id}.jpg`);
  }

  get length(): number {
    return this.ids.length;
  }

  sampleName(index: number): string {
    return String(this.ids[index]);
  }

  protected load(index: number): Sample {
    const id = this.ids[index]!;
    const img = readImage(this.imagePath(id));
    const label = celebLabel(this.root, id);
    const res = this.res;
    return {
      image: resizeBicubicPIL(img.rgb, img.width, img.height, res, res),
      labels: resizeNearestPIL(label, CELEB_MASK_SIZE, CELEB_MASK_SIZE, res, res),
      name: String(id),
    };
  }
}

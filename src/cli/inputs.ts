// Model inputs from files for the CLIs, pre-processed as the official code does: an image already
// at the model resolution is used pixel for pixel; others are resized with PIL's bicubic filter
// (images) or nearest neighbour (label maps); LaPa landmarks are scaled by (res/w, res/h). Errors
// name the file.
import { readFileSync } from 'node:fs';
import { landmarksAtResolution, parseLandmarkSets } from '../train/data/landmarks.js';
import { readImage, readLabelMap, resizeBicubicPIL, resizeNearestPIL } from '../train/image/index.js';

export interface LoadedImage {
  path: string;
  /** (res, res, 3) RGB bytes. */
  rgb: Uint8Array;
  /** The file's own size. */
  width: number;
  height: number;
}

export function loadImage(path: string, res: number): LoadedImage {
  const img = readImage(path);
  const rgb = img.width === res && img.height === res ? img.rgb : resizeBicubicPIL(img.rgb, img.width, img.height, res, res);
  return { path, rgb, width: img.width, height: img.height };
}

/** (res, res) class ids of a label PNG, each checked against the class count. */
export function labelsAtRes(path: string, res: number, classes: number): Uint8Array {
  const map = readLabelMap(path);
  const ids = map.width === res && map.height === res ? map.data : resizeNearestPIL(map.data, map.width, map.height, res, res);
  const bad = ids.findIndex((v) => v >= classes);
  if (bad >= 0) throw new Error(`${path}: label ${ids[bad]} at pixel (${bad % res}, ${Math.floor(bad / res)}) after resizing to ${res} px is outside [0, ${classes})`);
  return ids;
}

/**
 * The (B, 5, 2) landmarks at the model resolution from --landmarks files (see USAGE), each point
 * scaled by (res/w, res/h) of its image as the official loader does. Errors name the file.
 */
export function readLandmarks(files: string[], imgs: { path: string; width: number; height: number }[], size: number): Float32Array {
  let sets: number[][];
  if (files.length === 1) {
    sets = readLandmarkFile(files[0]!, imgs.length === 1);
    if (sets.length !== imgs.length) throw new Error(`${files[0]}: ${sets.length} landmark sets for ${imgs.length} images (give one set of 5 points per --image, in order)`);
  } else if (files.length === imgs.length) {
    sets = files.map((f) => {
      const one = readLandmarkFile(f, true);
      if (one.length !== 1) throw new Error(`${f}: ${one.length} landmark sets; with one --landmarks file per --image each holds the 5 points of its image`);
      return one[0]!;
    });
  } else {
    throw new Error(`${files.length} --landmarks files for ${imgs.length} images: give one file for all images or one per --image`);
  }
  return landmarksAtResolution(sets, imgs, size);
}

/** One file's landmark sets, each 10 numbers (5 (x, y) points), in original-image pixels. */
function readLandmarkFile(file: string, bareAllowed: boolean): number[][] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--landmarks ${file}: ${(e as Error).message}`);
  }
  return parseLandmarkSets(text, file, bareAllowed);
}

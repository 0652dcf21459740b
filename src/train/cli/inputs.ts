// Model inputs from files, pre-processed as the official code does: an image already at the model
// resolution is used pixel for pixel; others are resized with PIL's bicubic filter (images) or
// nearest neighbour (label maps). Errors name the file.
import { readImage, readLabelMap, resizeBicubicPIL, resizeNearestPIL } from '../image/index.js';

/** (res, res, 3) RGB bytes of an image file. */
export function imageAtRes(path: string, res: number): Uint8Array {
  const img = readImage(path);
  return img.width === res && img.height === res ? img.rgb : resizeBicubicPIL(img.rgb, img.width, img.height, res, res);
}

/** (res, res) class ids of a label PNG, each checked against the class count. */
export function labelsAtRes(path: string, res: number, classes: number): Uint8Array {
  const map = readLabelMap(path);
  const ids = map.width === res && map.height === res ? map.data : resizeNearestPIL(map.data, map.width, map.height, res, res);
  const bad = ids.findIndex((v) => v >= classes);
  if (bad >= 0) throw new Error(`${path}: label ${ids[bad]} at pixel (${bad % res}, ${Math.floor(bad / res)}) after resizing to ${res} px is outside [0, ${classes})`);
  return ids;
}

// Landmark files for predict and verify (the CLI and the web page): a JSON [[x, y] x5] per image
// (or one array of them), or a LaPa 106-point .txt, in original-image pixels; and their scaling to
// the model's resolution by (res/w, res/h) of each image, as the official loader does. No file
// access here: callers read the text. Errors name the file.
import { lapaFivePoints } from '../../model/warp.js';
import { parseLapaLandmarks } from './lapa.js';

/**
 * One file's landmark sets, each 10 numbers (5 (x, y) points). `bareAllowed`: a bare set of 5
 * points (not wrapped in a list) is accepted, for a file that serves one image.
 */
export function parseLandmarkSets(text: string, file: string, bareAllowed: boolean): number[][] {
  if (file.toLowerCase().endsWith('.txt')) {
    return [Array.from(lapaFivePoints(parseLapaLandmarks(text, file)))];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message}); expected [[x, y] x5] or an array of them`);
  }
  const isPoint = (p: unknown): boolean => Array.isArray(p) && p.length === 2 && p.every((x) => typeof x === 'number' && Number.isFinite(x));
  const asSet = (set: unknown, where: string): number[] => {
    if (!Array.isArray(set) || !set.every(isPoint)) throw new Error(`${file}: ${where} must be a list of [x, y] number pairs`);
    if (set.length !== 5) throw new Error(`${file}: ${where} has ${set.length} points, expected 5 (left eye, right eye, nose tip, left and right mouth corner)`);
    return (set as number[][]).flat();
  };
  if (!Array.isArray(json) || json.length === 0) throw new Error(`${file}: expected a JSON array: [[x, y] x5] or an array of them`);
  if (isPoint(json[0])) {
    if (!bareAllowed) throw new Error(`${file}: holds a single set of 5 points, but there are several images: give an array with one set per --image`);
    return [asSet(json, 'the landmark list')];
  }
  return json.map((set, i) => asSet(set, `set ${i}`));
}

/** (B, 5, 2) points at the model resolution from each image's sets in its own pixels. */
export function landmarksAtResolution(sets: readonly number[][], imgs: readonly { width: number; height: number }[], res: number): Float32Array {
  const out = new Float32Array(imgs.length * 10);
  imgs.forEach((im, b) => {
    for (let k = 0; k < 5; k++) {
      out[b * 10 + 2 * k] = (sets[b]![2 * k]! * res) / im.width;
      out[b * 10 + 2 * k + 1] = (sets[b]![2 * k + 1]! * res) / im.height;
    }
  });
  return out;
}

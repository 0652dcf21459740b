export interface FakeImage {
    width: number;
    height: number;
    rgb: Uint8Array;
}
export declare function fakeImage(width: number, height: number, seed: number): FakeImage;
/** Nested rectangles with class ids 1..classes−1 on background 0. */
export declare function fakeLabels(width: number, height: number, classes: number, seed: number): Uint8Array;
/** n (x, y) points inside a w × h image. */
export declare function fakePoints(n: number, w: number, h: number, seed: number): number[];
export declare function jpegBytes(img: FakeImage, quality?: number): Uint8Array;
export interface FakeOptions {
    width?: number;
    height?: number;
    seed?: number;
    /** LaPa/Helen label maps: class count (11). */
    classes?: number;
    /**
     * Store images as PNG bytes under the official .jpg names (every decoder sniffs the content):
     * lossless, so comparisons with another decoder (Pillow's libjpeg) are not blurred by IDCT rounding.
     */
    lossless?: boolean;
}
/** root/LaPa/<split>/{images,labels,landmarks}; returns the stems written. */
export declare function writeFakeLapa(root: string, split: string, count: number, o?: FakeOptions): string[];
/** root/helen/{train,test}/NAME_{image.jpg,label.png} and root/helen/landmarks.txt (appended). */
export declare function writeFakeHelen(root: string, splits: Record<string, number>, o?: FakeOptions): string[];
/**
 * root/CelebAMask-HQ with `count` HQ images (ids 0..count−1, 64×64 images, 512×512 part masks),
 * the mapping and partition files; groups cycle train, val, test, train, … Only parts in
 * `parts(id)` get a mask file (default: skin, nose and hair).
 */
export declare function writeFakeCeleb(root: string, count: number, o?: FakeOptions & {
    parts?: (id: number) => readonly string[];
}): void;

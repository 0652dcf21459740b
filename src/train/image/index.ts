// Image I/O for training and prediction: decoding (decode.ts, jpeg.ts), Pillow-exact resizing and
// normalisation (resize.ts), colour overlays and legends (overlay.ts, font.ts), .npy files (npy.ts).
export { crc32, decodeImage, decodeLabelMap, encodePng, readImage, readLabelMap, writePng, type LabelMap, type PngImage, type RgbImage } from './decode.js';
export { decodeJpeg, JPEG_WASM_SPECIFIER, loadJpegDecoder, useJpegWasm } from './jpeg.js';
export { IMAGENET_MEAN, IMAGENET_STD, resizeBicubicPIL, resizeNearestPIL, toNormalizedCHW } from './resize.js';
export { comparisonPanel, legendLayout, maskToColor, overlay, PALETTES, paletteFor, upscaleNearest, withLegend, type LegendLayout, type Rgb } from './overlay.js';
export { decodeNpy, encodeNpy, readNpy, writeNpy, type NpyArray } from '../../runtime/formats/npy.js';

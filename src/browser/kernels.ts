// The kernels, embedded: vite reads kernels/*.wgsl when it builds the bundle (the package's
// dist/browser, or the demo page) and this module hands their text to the runtime before any op
// runs. Nothing is read from a file system or fetched at run time.
import { embedKernels } from '../runtime/kernel_source.js';

embedKernels(import.meta.glob('../../kernels/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

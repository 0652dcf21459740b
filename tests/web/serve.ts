// A static HTTP server for the browser tests: the built page (web/dist) at /, extra files at
// /fixtures/, with HTTP Range support (the page reads checkpoints lazily) and the MIME types module
// scripts and WebAssembly need.
import { createServer, type Server } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.jpg': 'image/jpeg', '.png': 'image/png',
};

/** Serves `root` at /, `fixtures` at /fixtures/ and, when given, `images` at /images/. */
export async function serve(root: string, fixtures: string, images?: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.startsWith('/fixtures/') ? join(fixtures, normalize(path.slice(10)))
      : images && path.startsWith('/images/') ? join(images, normalize(path.slice(8)))
      : join(root, path === '/' ? 'index.html' : normalize(path));
    let bytes: Uint8Array;
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
      bytes = readFileSync(file);
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (m) {
      const b = Number(m[1]);
      const e = Math.min(Number(m[2]), bytes.byteLength - 1);
      res.writeHead(206, { 'Content-Type': type, 'Content-Range': `bytes ${b}-${e}/${bytes.byteLength}`, 'Content-Length': e - b + 1 }).end(bytes.subarray(b, e + 1));
      return;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': bytes.byteLength }).end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

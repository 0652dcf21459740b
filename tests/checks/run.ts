// One op case through the library's op check (src/runtime/reference/check.ts), reporting each failed
// comparison to `fail`: expect.fail in the Node suites (tests/harness.ts), a list in the web page.
import { runOpCheck, type OpCase } from '../../src/runtime/reference/check.js';
import type { Runtime } from '../../src/runtime/runtime.js';
import { randn } from '../inputs.js';

export async function checkCase(rt: Runtime, c: OpCase, fail: (message: string) => void): Promise<void> {
  // the upstream gradient: seeded from the case, like every suite's
  const results = await runOpCheck(rt, c, (n) => randn(n, (c.seed ?? 1) + 1000));
  for (const r of results) if (!r.ok) fail(r.message ?? `${r.what}: failed`);
}

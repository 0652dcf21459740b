// The segface argument layer (src/cli/args.ts) and entry point (src/cli/segface.ts): flags parsed
// and checked from their declarations, one-line usage errors (exit 2), --help texts, one-line
// runtime failures (exit 1, the stack only with --debug), and Dawn's limit warnings filtered.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helpText, parseCommand, UsageError, type Command } from '../../src/cli/args.js';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const segface = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/segface.ts'), ...args], { cwd: root, encoding: 'utf8' });

const CMD: Command = {
  name: 'demo',
  summary: 'a demo command',
  usage: ['--file F [options]'],
  flags: {
    file: { type: 'string', exists: 'file', help: 'an input file' },
    n: { type: 'int', default: 3, help: 'a count' },
    rate: { type: 'number', help: 'a rate' },
    steps: { type: 'ints', help: 'epochs' },
    mode: { type: 'string', choices: ['a', 'b'], default: 'a', help: 'a mode' },
    tag: { type: 'string', multiple: true, help: 'tags' },
    fast: { type: 'boolean', help: 'go fast' },
  },
  run: async () => 0,
};

const usage = (argv: string[]): string => {
  try { parseCommand(CMD, argv); } catch (e) { expect(e).toBeInstanceOf(UsageError); return (e as Error).message; }
  throw new Error(`no usage error for ${argv.join(' ')}`);
};

describe('parseCommand', () => {
  it('parses typed values, defaults, repeats and what was given', () => {
    const a = parseCommand(CMD, ['--n', '7', '--rate=0.5', '--steps', '3,9', '--tag', 'x', '--tag', 'y', '--fast']);
    expect([a.int('n'), a.num('rate'), a.ints('steps'), a.list('tag'), a.bool('fast'), a.str('mode')]).toEqual([7, 0.5, [3, 9], ['x', 'y'], true, 'a']);
    expect([...a.given].sort()).toEqual(['fast', 'n', 'rate', 'steps', 'tag']);
    expect(parseCommand(CMD, []).int('n')).toBe(3);
  });

  it('names the flag of every mistake', () => {
    expect(usage(['--bogus'])).toBe('unknown flag --bogus');
    expect(usage(['--n'])).toBe('--n needs a value');
    expect(usage(['--fast=1'])).toBe('--fast takes no value');
    expect(usage(['--n', '1.5'])).toBe('--n 1.5: expected an integer >= 1');
    expect(usage(['--n', '0'])).toBe('--n 0: expected an integer >= 1');
    expect(usage(['--rate', 'x'])).toBe('--rate x: expected a non-negative number');
    expect(usage(['--steps', '3,x'])).toBe('--steps x: expected an integer >= 0');
    expect(usage(['--mode', 'c'])).toBe('--mode c: expected a or b');
    expect(usage(['--file', join(dir, 'none')])).toMatch(/^--file .*none: no such file$/);
    expect(usage(['--file', dir])).toMatch(/is a directory, not a file$/);
    expect(usage(['extra'])).toMatch(/unexpected argument 'extra'/);
    expect(() => parseCommand(CMD, []).need('file')).toThrow('--file is required');
  });

  it('writes --help from the declarations', () => {
    const text = helpText(CMD);
    expect(text).toMatch(/^usage: segface demo --file F \[options\]/);
    expect(text).toMatch(/--n N +a count \(default 3\)/);
    expect(text).toMatch(/--mode a\|b +a mode \(default a\)/);
    expect(text).toMatch(/--tag VALUE +tags; may repeat/);
    expect(text).toMatch(/-h, --help/);
  });
});

describe('segface', () => {
  it('lists its commands; a usage mistake is one line and exit 2', () => {
    const help = segface('--help');
    expect(help.status).toBe(0);
    for (const c of ['train', 'eval', 'predict', 'verify', 'export', 'devices', 'bench']) expect(help.stdout).toMatch(new RegExp(`\\n  ${c} `));
    const bad = segface('eval', '--checkpoint');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('error: --checkpoint needs a value (segface eval --help lists the flags)\n');
    const unknown = segface('frob');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a runtime failure is one line naming the file (exit 1); --debug adds the stack', () => {
    const junk = join(dir, 'junk.pt');
    writeFileSync(junk, 'not a checkpoint');
    const args = ['predict', '--checkpoint', junk, '--image', join(root, 'tests/fixtures/images/fmt_rgba.png'), '--res', '32', '--out', join(dir, 'out')];
    const r = segface(...args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: .*junk\.pt: not a zip archive/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const d = segface(...args, '--debug');
    expect(d.status).toBe(1);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('devices: no Dawn limit warnings', () => {
    const r = segface('devices');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\[0\] /);
    expect(r.stderr).not.toMatch(/artificially reduced/);
  });
});

// The one argument layer of the `segface` command: every subcommand declares its flags as data
// (type, bounds, choices, help), and this module parses and checks them, writes `--help`, and turns
// every mistake into one line naming the flag (a UsageError, exit code 2) before any file is read
// or the GPU is opened.
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';

export interface FlagSpec {
  /** string, boolean, int (integer >= min, default 1), number (finite >= min, default 0), ints (comma-separated integers >= min, default 0). */
  type: 'string' | 'boolean' | 'int' | 'number' | 'ints';
  help: string;
  /** Placeholder in the help text (default N, X, or VALUE). */
  value?: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  min?: number;
  multiple?: boolean;
  short?: string;
  /** The value names a path that must exist (checked while parsing, before any work). */
  exists?: 'file' | 'dir' | 'any';
}

export interface Command {
  name: string;
  /** One line for `segface --help`. */
  summary: string;
  /** Synopsis lines after `segface NAME` (e.g. `--checkpoint FILE --image IMG [options]`). */
  usage: readonly string[];
  flags: Record<string, FlagSpec>;
  /** Name of the positional arguments in the help text (none accepted when absent). */
  positionals?: string;
  /** Free text after the flag list in `--help`. */
  notes?: string;
  /** Runs the command; the result is the exit code (default 0). */
  run(args: Args): Promise<number | void>;
}

/** A mistake in how the command was called: one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Flags every command takes. */
const COMMON: Record<string, FlagSpec> = {
  help: { type: 'boolean', short: 'h', help: 'this help' },
  debug: { type: 'boolean', help: 'on failure, print the stack trace too (also: ENGINE_DEBUG=1)' },
};

/** The WebGPU adapter flag, shared by the commands that open a device. */
export const ADAPTER_FLAG: FlagSpec = { type: 'string', value: 'I|NAME', help: 'WebGPU adapter: index or name substring (segface devices lists them)' };

/** The autotuner switch, shared by the commands that run kernels. */
export const NO_TUNE_FLAG: FlagSpec = { type: 'boolean', help: 'use every op\'s built-in default kernel, not the autotuned ones (also: SEGFACE_TUNE=0)' };

/** Storage precision of activations, shared by the commands that run the model's forward. */
export const PRECISION_FLAG: FlagSpec = {
  type: 'string', choices: ['f32', 'f16'], default: 'f32',
  help: 'activation storage: f32, or f16 mixed precision (f32 maths; needs the adapter feature shader-f16)',
};

type Value = string | number | boolean | number[] | string[] | undefined;

/** Parsed and checked flags of one command. */
export class Args {
  constructor(
    readonly command: Command,
    private readonly values: Record<string, Value>,
    readonly positionals: string[],
    /** Flags given on the command line (not defaulted). */
    readonly given: ReadonlySet<string>,
  ) {}

  str(flag: string): string | undefined { return this.values[flag] as string | undefined; }
  int(flag: string): number | undefined { return this.values[flag] as number | undefined; }
  num(flag: string): number | undefined { return this.values[flag] as number | undefined; }
  bool(flag: string): boolean { return this.values[flag] === true; }
  ints(flag: string): number[] | undefined { return this.values[flag] as number[] | undefined; }
  list(flag: string): string[] { return (this.values[flag] as string[] | undefined) ?? []; }
  has(flag: string): boolean { return this.given.has(flag); }

  /** The value of a flag that must be given. */
  need<T extends Value>(flag: string): Exclude<T, undefined> {
    const v = this.values[flag];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) throw new UsageError(`--${flag} is required`);
    return v as Exclude<T, undefined>;
  }

  /** `--adapter` as Runtime options: a number is an index, anything else a name substring. */
  adapter(): { adapter?: number | string } {
    const a = this.str('adapter');
    return a === undefined ? {} : { adapter: /^\d+$/.test(a) ? Number(a) : a };
  }

  /** `--precision` (f32 unless given). */
  precision(): 'f32' | 'f16' { return this.str('precision') === 'f16' ? 'f16' : 'f32'; }

  /** A usage error naming this command's help. */
  fail(message: string): never { throw new UsageError(message); }
}

function placeholder(f: FlagSpec): string {
  if (f.type === 'boolean') return '';
  if (f.value) return f.value;
  if (f.choices) return f.choices.join('|');
  return f.type === 'int' ? 'N' : f.type === 'number' ? 'X' : f.type === 'ints' ? 'A,B' : 'VALUE';
}

/** `segface NAME --help`. */
export function helpText(cmd: Command): string {
  const flags = { ...cmd.flags, ...COMMON };
  const heads = Object.entries(flags).map(([name, f]) => `  ${f.short ? `-${f.short}, ` : ''}--${name}${placeholder(f) ? ` ${placeholder(f)}` : ''}`);
  const width = Math.min(34, Math.max(...heads.map((h) => h.length)) + 2);
  const lines = Object.values(flags).map((f, i) => {
    const help = f.help + (f.default !== undefined && f.type !== 'boolean' ? ` (default ${f.default})` : '') + (f.multiple ? '; may repeat' : '');
    const head = heads[i]!;
    const pad = head.length >= width ? `${head}\n${' '.repeat(width)}` : head.padEnd(width);
    return pad + help.split('\n').join(`\n${' '.repeat(width)}`);
  });
  const usage = cmd.usage.map((u, i) => `${i === 0 ? 'usage: ' : '       '}segface ${cmd.name} ${u}`);
  return [...usage, '', cmd.summary, '', ...lines, ...(cmd.notes ? ['', cmd.notes] : [])].join('\n');
}

function choiceList(choices: readonly string[]): string {
  return choices.length <= 4 ? `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}` : `one of ${choices.join(', ')}`;
}

function checkValue(name: string, f: FlagSpec, raw: string): Value {
  if (f.choices && !f.choices.includes(raw)) throw new UsageError(`--${name} ${raw}: expected ${choiceList(f.choices)}`);
  if (f.type === 'int' || f.type === 'ints') {
    const min = f.min ?? (f.type === 'int' ? 1 : 0);
    const parts = f.type === 'int' ? [raw] : raw.split(',').filter((s) => s.length > 0);
    const out = parts.map((s) => {
      const n = Number(s);
      if (s.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${s}: expected an integer >= ${min}`);
      return n;
    });
    return f.type === 'int' ? out[0]! : out;
  }
  if (f.type === 'number') {
    const n = Number(raw);
    const min = f.min ?? 0;
    if (raw.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`--${name} ${raw}: expected a ${min === 0 ? 'non-negative' : `>= ${min}`} number`);
    return n;
  }
  if (f.exists) checkPath(name, raw, f.exists);
  return raw;
}

function checkPath(name: string, path: string, kind: 'file' | 'dir' | 'any'): void {
  if (!existsSync(path)) throw new UsageError(`--${name} ${path}: no such ${kind === 'dir' ? 'directory' : kind === 'file' ? 'file' : 'file or directory'}`);
  const dir = statSync(path).isDirectory();
  if (kind === 'file' && dir) throw new UsageError(`--${name} ${path} is a directory, not a file`);
  if (kind === 'dir' && !dir) throw new UsageError(`--${name} ${path} is a file, not a directory`);
}

/** The option name in one of node:util parseArgs' messages. */
function parseArgsMessage(e: Error): string {
  const code = (e as { code?: string }).code;
  const name = /'(-[^' ]*)/.exec(e.message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${name ?? e.message}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument '${/'([^']*)'/.exec(e.message)?.[1]}' (this command takes flags only)`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    return /argument missing/.test(e.message) ? `${name} needs a value` : `${name} takes no value`;
  }
  return e.message.split('\n')[0]!;
}

/** Parses `argv` against the command's flags; throws a UsageError on the first problem. */
export function parseCommand(cmd: Command, argv: readonly string[]): Args {
  const flags = { ...cmd.flags, ...COMMON };
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {};
  for (const [name, f] of Object.entries(flags)) {
    options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string', ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: cmd.positionals !== undefined, strict: true, tokens: true });
  } catch (e) {
    throw new UsageError(parseArgsMessage(e as Error));
  }
  const given = new Set(parsed.tokens!.flatMap((t) => (t.kind === 'option' ? [t.name] : [])));
  const values: Record<string, Value> = {};
  if (parsed.values.help) return new Args(cmd, { help: true }, parsed.positionals, given);
  for (const [name, f] of Object.entries(flags)) {
    const raw = parsed.values[name] as string | boolean | string[] | undefined;
    if (f.type === 'boolean') values[name] = raw === true || (raw === undefined && f.default === true);
    else if (f.multiple) values[name] = ((raw as string[] | undefined) ?? []).map((r) => checkValue(name, f, r) as string);
    else if (raw !== undefined) values[name] = checkValue(name, f, raw as string);
    else if (f.default !== undefined) values[name] = f.type === 'ints' ? checkValue(name, f, String(f.default)) : f.default as Value;
  }
  return new Args(cmd, values, parsed.positionals, given);
}

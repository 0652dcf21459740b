#!/usr/bin/env node
// `segface <command> [flags]`: the command-line entry point. Subcommands live in ./commands/, one
// module each, and are registered below with one line; their flags are parsed by ./args.ts.
//
// Exit codes: 0 done, 1 a runtime failure (unreadable or foreign file, shape mismatch, no adapter,
// device lost, out of memory, disk full), 2 a usage mistake, 130 interrupted. A failure prints one
// line; `--debug` or ENGINE_DEBUG adds the stack trace.
import { helpText, parseCommand, UsageError, type Command } from './args.js';

/** Every subcommand, loaded on use. Adding one is one line here. */
const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  train: () => import('./commands/train.js'),
  eval: () => import('./commands/eval.js'),
  predict: () => import('./commands/predict.js'),
  verify: () => import('./commands/verify.js'),
  export: () => import('./commands/export.js'),
  devices: () => import('./commands/devices.js'),
  bench: () => import('./commands/bench.js'),
  doctor: () => import('./commands/doctor.js'),
  tune: () => import('./commands/tune.js'),
};

const envDebug = process.env.ENGINE_DEBUG;
let debug = (envDebug !== undefined && envDebug !== '' && envDebug !== '0') || process.argv.includes('--debug');

/** One line for a failure (the stack too when debugging); returns the exit code. */
function report(e: unknown, cmd: string | undefined): number {
  if (e instanceof UsageError) {
    console.error(`error: ${e.message} (${cmd ? `segface ${cmd} --help` : 'segface --help'} lists the ${cmd ? 'flags' : 'commands'})`);
    return 2;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  console.error(`error: ${err.message.split('\n').map((l) => l.trim()).filter(Boolean).join('; ')}`);
  if (debug && err.stack) console.error(err.stack);
  return 1;
}

async function overview(): Promise<string> {
  const rows = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => `  ${name.padEnd(9)}${(await load()).command.summary}`));
  return ['usage: segface <command> [flags]', '', 'commands:', ...rows, '',
    'segface <command> --help lists its flags. --debug (or ENGINE_DEBUG=1) shows stack traces.'].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(await overview());
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const { command } = await load();
  const args = parseCommand(command, rest);
  if (args.bool('help')) {
    console.log(helpText(command));
    return 0;
  }
  debug ||= args.bool('debug');
  return (await command.run(args)) ?? 0;
}

const cmdName = process.argv[2] && process.argv[2] in COMMANDS ? process.argv[2] : undefined;
// Failures in callbacks (worker threads, timers) end the same way as those of the command itself.
process.on('uncaughtException', (e) => process.exit(report(e, cmdName)));
process.on('unhandledRejection', (e) => process.exit(report(e, cmdName)));
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  process.exit(report(e, cmdName));
}

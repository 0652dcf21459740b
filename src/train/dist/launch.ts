// The training world: one process per GPU. `npm run train -- --devices N` re-runs the same entry
// point under `mpiexec -n N` on this machine; under any MPI launcher (mpiexec/mpirun, srun, a
// Kubernetes MPIJob) each process finds its rank in the environment, initialises MPI, binds its
// GPU from its local rank and reports faults so that the job stops naming the rank and the cause.
// World size 1 never loads MPI.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { listAdapters } from '../../runtime/device.js';
import type { Runtime } from '../../runtime/runtime.js';
import { chooseBinding, isSoftwareAdapter, listPciGpus, sharedGpus, type Binding, type RankDevice } from './gpu_binding.js';
import { checkMpiLibrary, Mpi, MPI_INSTALL_HINT } from './mpi.js';

export interface LauncherEnv { rank: number; size: number; localRank?: number; launcher: string }

/** Rank and size as set by a launcher (MPICH/Intel MPI PMI, Open MPI, Slurm srun); null outside one. */
export function launcherEnv(env: NodeJS.ProcessEnv = process.env): LauncherEnv | null {
  const n = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  const local = n(env.MPI_LOCALRANKID) ?? n(env.OMPI_COMM_WORLD_LOCAL_RANK) ?? n(env.SLURM_LOCALID);
  const pick = (launcher: string, rank?: number, size?: number): LauncherEnv | null =>
    (rank !== undefined && size !== undefined ? { rank, size, launcher, ...(local !== undefined ? { localRank: local } : {}) } : null);
  return pick('PMI', n(env.PMI_RANK), n(env.PMI_SIZE))
    ?? pick('Open MPI', n(env.OMPI_COMM_WORLD_RANK), n(env.OMPI_COMM_WORLD_SIZE))
    ?? (env.SLURM_STEP_ID !== undefined ? pick('srun', n(env.SLURM_PROCID), n(env.SLURM_NTASKS)) : null);
}

export class World {
  /** Seconds the last `finish` took; set by rank 0's summary. */
  constructor(
    readonly rank: number,
    readonly size: number,
    readonly localRank: number,
    readonly localSize: number,
    readonly host: string,
    readonly mpi: Mpi | undefined,
    readonly binding: Binding,
  ) {}

  get isRoot(): boolean { return this.rank === 0; }
  get label(): string { return this.size > 1 ? `rank ${this.rank}/${this.size}` : 'single device'; }

  /** Options for Runtime.create that select this rank's GPU. */
  async adapterOption(): Promise<number | string | undefined> {
    const b = this.binding;
    if (!b.adapterIsHardwareIndex) return b.adapter;
    const hardware = (await listAdapters()).filter((a) => !isSoftwareAdapter(a));
    const a = hardware[(b.adapter as number) % Math.max(1, hardware.length)];
    return a?.name;
  }

  /**
   * Gathers every rank's adapter; rank 0 logs them, and every rank warns when two ranks share one
   * hardware GPU. Returns the per-rank list.
   */
  async reportDevices(rt: Runtime): Promise<RankDevice[]> {
    const a = rt.device.adapter;
    const mine: RankDevice = { rank: this.rank, host: this.host, adapter: a.name, pci: this.binding.pci, software: isSoftwareAdapter(a) };
    const all = this.mpi ? (await this.mpi.allgatherStrings(JSON.stringify(mine))).map((s) => JSON.parse(s) as RankDevice) : [mine];
    if (this.isRoot && this.size > 1) {
      for (const d of all) {
        console.log(`rank ${d.rank} on ${d.host}: adapter ${d.adapter}${d.pci ? ` [pci ${d.pci}]` : ''}${d.software ? ' (software: its own device)' : ''}`);
      }
      if (this.binding.warning) console.warn(`warning: ${this.binding.warning}`);
      for (const s of sharedGpus(all)) {
        console.warn(`warning: ranks ${s.ranks.join(', ')} share one GPU (${s.what}): they will run at a fraction of the speed. ` +
          'Give each rank its own GPU (one GPU per container, or Mesa\'s device-select layer for DRI_PRIME binding).');
      }
    }
    return all;
  }

  /** Waits for MPI, finalizes it and marks this rank done. */
  async finish(): Promise<void> {
    writeStatus(this.rank, { state: 'done' });
    await this.mpi?.finalize();
  }
}

// ---- per-rank status files: the local launcher names the rank that failed ---------------------

const STATUS_ENV = 'SEGFACE_DIST_STATUS';
interface Status { rank: number; pid: number; host: string; state: 'running' | 'done' | 'failed'; error?: string }
let statusBase: Omit<Status, 'state'> | undefined;

function writeStatus(rank: number, s: { state: Status['state']; error?: string }): void {
  const dir = process.env[STATUS_ENV];
  if (!dir || !statusBase) return;
  try { writeFileSync(join(dir, `rank-${rank}.json`), JSON.stringify({ ...statusBase, ...s })); } catch { /* best effort */ }
}

function installFaultHandlers(world: { rank: number; size: number; host: string }, mpi: Mpi): void {
  let dying = false;
  const fatal = (cause: unknown): void => {
    if (dying) return;
    dying = true;
    const message = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    console.error(`error: rank ${world.rank} of ${world.size} (pid ${process.pid} on ${world.host}) failed: ${message}\n` +
      'stopping every rank; the last checkpoint written is intact (resume with --resume, any number of devices)');
    writeStatus(world.rank, { state: 'failed', error: cause instanceof Error ? cause.message : String(cause) });
    mpi.abort(1);
    process.exit(1);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  process.on('exit', (code) => { if (code !== 0 && !dying) writeStatus(world.rank, { state: 'failed', error: `exited with code ${code}` }); });
}

// ---- start-up ----------------------------------------------------------------------------------

export interface WorldOptions {
  /** --devices (undefined: whatever the launcher started, else 1). */
  devices?: number;
  /** --adapter: the same adapter choice on every rank. */
  adapter?: number | string;
}

/**
 * Sets up this process's place in the job, BEFORE Runtime.create (GPU binding may set DRI_PRIME).
 * With --devices N > 1 outside a launcher, runs this script under `mpiexec -n N` and exits with its
 * status (never returns).
 */
export async function setupWorld(opts: WorldOptions): Promise<World> {
  const host = hostname();
  const env = launcherEnv();
  if (!env || env.size === 1) {
    if (opts.devices !== undefined && opts.devices > 1 && !env) return relaunch(opts.devices);
    return new World(0, 1, 0, 1, host, undefined, chooseBinding(0, 1, listPciGpus(), { adapter: opts.adapter }));
  }
  if (opts.devices !== undefined && opts.devices !== env.size) {
    throw new Error(`--devices ${opts.devices}, but the launcher (${env.launcher}) started ${env.size} processes; drop --devices or make them agree`);
  }
  let mpi: Mpi;
  try {
    mpi = Mpi.init();
  } catch (e) {
    throw new Error(`rank ${env.rank} of ${env.size}: cannot start MPI: ${(e as Error).message}`);
  }
  if (mpi.size !== env.size) {
    throw new Error(`the launcher says ${env.size} ranks but MPI (${mpi.library}) sees ${mpi.size}: ` +
      'is the launcher from another MPI than the library (e.g. Open MPI\'s mpirun with MPICH)?');
  }
  statusBase = { rank: mpi.rank, pid: process.pid, host };
  writeStatus(mpi.rank, { state: 'running' });
  installFaultHandlers({ rank: mpi.rank, size: mpi.size, host }, mpi);
  const localRank = env.localRank ?? mpi.localRank;
  const binding = chooseBinding(localRank, mpi.localSize, listPciGpus(), { adapter: opts.adapter });
  Object.assign(process.env, binding.env);
  return new World(mpi.rank, mpi.size, localRank, mpi.localSize, mpi.processorName || host, mpi, binding);
}

/** Path of an executable on PATH, or undefined. */
function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    try { accessSync(join(d, cmd), constants.X_OK); return join(d, cmd); } catch { /* next */ }
  }
  return undefined;
}

/** The launcher for --devices N on this machine, or an error with the install command. */
export function findMpiexec(): string {
  const found = which('mpiexec.hydra') ?? which('mpiexec') ?? which('mpirun');
  if (!found) throw new Error(`no MPI launcher (mpiexec) found; --devices > 1 needs MPI: ${MPI_INSTALL_HINT}`);
  return found;
}

/** Runs this very command under `mpiexec -n N` and exits with its status, naming a failed rank. */
async function relaunch(n: number): Promise<never> {
  const mpiexec = findMpiexec();
  checkMpiLibrary();
  const statusDir = mkdtempSync(join(tmpdir(), 'segface-dist-'));
  const args = ['-n', String(n), process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
  console.log(`starting ${n} ranks: ${mpiexec} -n ${n} ...`);
  // Ctrl-C reaches the ranks directly (same process group); they agree to stop after a step, save
  // and exit 0, and we return 130 for the interrupted run.
  let interrupted = false;
  process.on('SIGINT', () => { interrupted = true; });
  // stdout passes through us so that mpiexec's "BAD TERMINATION ... PID n ... EXIT STRING" report can
  // be matched to a rank; stderr (progress bar, errors) goes straight to the terminal.
  const child = spawn(mpiexec, args, { stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, [STATUS_ENV]: statusDir } });
  let tail = '';
  child.stdout!.on('data', (d: Buffer) => { process.stdout.write(d); tail = (tail + d.toString()).slice(-8192); });
  const code: number = await new Promise((resolve) => {
    child.on('error', (e) => { console.error(`error: cannot run ${mpiexec}: ${e.message}`); resolve(127); });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) {
    const lines = failureSummary(statusDir, n, tail);
    if (lines.length) console.error(`error: the ${n}-rank job stopped:\n  ${lines.join('\n  ')}`);
  }
  rmSync(statusDir, { recursive: true, force: true });
  process.exit(code === 0 && interrupted ? 130 : code);
}

function failureSummary(dir: string, n: number, launcherOutput: string): string[] {
  // Hydra: "PID 123 RUNNING AT host" ... "EXIT STRING: Killed (signal 9)" or "EXIT CODE: 9"
  const deadPid = Number(/PID (\d+) RUNNING AT/.exec(launcherOutput)?.[1] ?? NaN);
  const how = /EXIT STRING: ([^\n]+)/.exec(launcherOutput)?.[1]?.trim() ?? (/EXIT CODE: (\d+)/.exec(launcherOutput) ? `exit code ${/EXIT CODE: (\d+)/.exec(launcherOutput)![1]}` : undefined);
  const seen = new Map<number, Status>();
  for (const f of readdirSync(dir)) {
    try {
      const s = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Status;
      seen.set(s.rank, s);
    } catch { /* a half-written file */ }
  }
  const out: string[] = [];
  for (let r = 0; r < n; r++) {
    const s = seen.get(r);
    if (!s) out.push(`rank ${r}: never started (failed before MPI came up; see the messages above)`);
    else if (s.state === 'failed') out.push(`rank ${r} (pid ${s.pid} on ${s.host}) failed: ${s.error}`);
    else if (s.state === 'running' && s.pid === deadPid) out.unshift(`rank ${r} (pid ${s.pid} on ${s.host}) died: ${how ?? 'no message'} (a signal 9 is often the out-of-memory killer)`);
    else if (s.state === 'running') out.push(`rank ${r} (pid ${s.pid} on ${s.host}) was stopped${Number.isFinite(deadPid) ? ' by mpiexec after that' : ' or died without a message'}`);
  }
  return out;
}

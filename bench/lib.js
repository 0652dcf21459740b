// Shared pieces of the benchmarks: timing GPU work with benchmark.js and the row format.
//
// A timed sample records `reps` repetitions of the work into the command batch and waits for the
// GPU once (`rt.sync()`), so the figure is device time plus the batched-dispatch overhead a
// training step also pays, never a per-op submit/await round trip.
import Benchmark from 'benchmark';
function median(xs) {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
/**
 * Times `run` (which resolves when its work is done) with benchmark.js: one call per cycle, at
 * least `minSamples` cycles, then more while under `maxTime` seconds. Returns milliseconds per
 * call divided by `perCall` (the repetitions one call does). No warm-up: callers do their own.
 */
export async function timeAsync(run, opts = {}) {
    const perCall = opts.perCall ?? 1;
    let failure;
    const bench = new Benchmark({
        defer: true,
        minSamples: opts.minSamples ?? 5,
        maxTime: opts.maxTime ?? 2,
        initCount: 1,
        minTime: 0,
        fn: (deferred) => {
            run().then(() => deferred.resolve(), (e) => { failure ??= e; deferred.resolve(); });
        },
    });
    await new Promise((resolve, reject) => {
        bench.on('complete', () => resolve());
        bench.on('error', () => reject(bench.error));
        bench.run({ async: true });
    });
    if (failure)
        throw failure;
    const per = bench.stats.sample.map((s) => (s * 1000) / perCall);
    return { medianMs: median(per), minMs: Math.min(...per), maxMs: Math.max(...per), samples: per.length };
}
/**
 * Times `record` (which only records GPU work) with benchmark.js: each cycle records it `reps`
 * times and waits for the GPU once. Returns milliseconds per repetition.
 */
export async function timeGpu(rt, record, opts = {}) {
    const reps = opts.reps ?? 1;
    // Warm up: compile pipelines and fill the pool outside the timed region.
    rt.scope(() => { record(); });
    await rt.sync();
    return timeAsync(() => {
        rt.scope(() => { for (let i = 0; i < reps; i++)
            record(); });
        return rt.sync();
    }, { perCall: reps, minSamples: opts.minSamples, maxTime: opts.maxTime });
}
/** A row for a measurement that could not run: no timings, and `unavailable` says why. */
export function unavailableRow(ctx, r) {
    return {
        suite: r.suite, name: r.name, sizes: r.sizes, dtype: r.dtype ?? 'f32', adapter: ctx.rt.device.name,
        medianMs: NaN, minMs: NaN, maxMs: NaN, samples: 0, ratios: {}, unavailable: r.why,
    };
}
/** Formats a possibly missing number (NaN becomes null in the JSON files). */
export function fmt(x, digits = 2) {
    return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}
export function row(ctx, r) {
    return { ...r, adapter: ctx.rt.device.name, ratios: r.ratios ?? {} };
}
//# sourceMappingURL=lib.js.map
/**
 * The Node.js (V8) flags a long-running hotshard process runs with, and the
 * check the launcher (bin/hotshard.js) makes before it starts one.
 *
 * Why a young generation of 32 MB per semi-space (V8's default on 64-bit is
 * 16 MB): a busy proxy allocates about 100 MB/s of short-lived objects
 * (request arguments, reply buffers, callbacks), so with 16 MB V8 scavenges
 * about 20 times a second. Whatever is in flight at two scavenges in a row is
 * promoted, the old generation fills at about 1 MB/s, and V8 marks the whole
 * heap every 0.4–2 s (`node --trace-gc`: "GC in old space requested"). With
 * 32 MB the scavenges halve and major GCs nearly stop. Telemetry's share of
 * that: each detector tick keeps its snapshot until the next one (about
 * 100 KB promoted a tick), and with 16 MB a telemetry-on proxy ran a major
 * GC about every 0.4 s in every run, a `--no-telemetry` one every 0.4–3 s;
 * that gap was most of what `bench:proxy` read as telemetry's cost.
 *
 * Measured under redis-benchmark GET -P 16, side by side in one run
 * (`bench/proxy/perf-pair.sh get 16 2000000 on off v8young16 v8young16-off`,
 * three rounds): CPU per request 3.0–4.2 µs with this flag against 3.8–4.4
 * µs with V8's default, 6–22 % less. 64 and 128 MB measured the same as
 * 32 within the noise (`perf-pair.sh get 16 2000000 on v8young64
 * v8young128 v8young16 v8young128 v8young64 on v8young16`: 2.9–3.9 µs for
 * each of 32, 64 and 128 against 3.3–4.0 for 16): V8 grows the semi-space
 * only as far as survival asks (a one-off harness counted about 71
 * scavenges per 2 M requests for each of them, about 140 for 16).
 * Memory: up to 32 MB more resident at peak, plus about 44 MB for the idle
 * launcher when it restarts node.
 *
 * The young generation is fixed at that size (`--min-semi-space-size` too),
 * not grown to it by V8 as survival asks. A grown one made the old
 * generation's collector run back to back: V8 starts marking the old
 * generation once the room left under its limit is less than the young
 * generation could promote at once, and after each full GC it left 16 MB of
 * room while the young generation had grown to 32 MB
 * (`--trace-incremental-marking`: "Start (allocation limit): 29MB / 45MB /
 * slack 16MB", every time). In a long-lived proxy, after a burst had grown
 * the young generation, redis-benchmark
 * LRANGE_100 -P 1 saw a full GC every 70-130 ms for as long as it ran, with
 * the heap flat at 30 MB, and 25-30k requests/s against 37-40k in a fresh
 * process; with the size fixed, one full GC in the same sequence (two
 * `redis-benchmark -t lrange_100 -P 1 -n 150000` runs 45 s apart through one
 * hotshard on 4 redis-servers, `node --trace-gc`). The cost: the young
 * generation holds its 64 MB (two semi-spaces) from the start, where it grew
 * to it under load before.
 *
 * V8 reads these flags once, when the heap is set up: `v8.setFlagsFromString`
 * at run time does not resize it (checked), hence a launcher that restarts
 * node with the flags rather than a call in main.
 */

import v8 from 'node:v8';

/**
 * Flags the server commands run with: the young generation above, and no
 * full GC below 160 MB of old generation (`--initial-old-space-size`,
 * which V8 also keeps as the floor of every later limit: "allow V8 to skip
 * full GCs below that threshold", heap.cc): V8 counts the ArrayBuffer bytes
 * allocated since the last full GC against the old generation's room, and
 * starts marking once that room is less than the young generation (32 MB).
 * A proxy allocates an ArrayBuffer for the bytes of every read (node replies,
 * src/backend/redis-connection.ts), so under LRANGE_100 (7 KB replies) it
 * allocated about 250 MB/s of them, and V8 scavenged for "external memory
 * pressure" every 32 MB of them. With the heap at 30 MB, V8's own limit was
 * about 30 × 1.3 + 32 = 69 MB (it grows the limit little when marking is fast
 * against promotion), so the room dropped under 32 MB once 8 MB of buffers
 * were held, and in about half the processes V8 then marked every
 * 100–200 ms for as long as the load lasted, the heap flat at 30 MB
 * (`--trace-incremental-marking`: "Start (task): 29MB / 69MB / 40MB").
 * Which half depended on where in the 32 MB cycle a full GC had fallen.
 * Measured side by side, a fresh process per leg (`node <flags> --trace-gc
 * bin/hotshard.js start --backend redis` on 4 redis-servers, 500k SETs -P 16,
 * then `redis-benchmark -t lrange_100 -c 50 -r 100000 -d 64`, full GCs
 * counted in the trace): -P 1, 4 of 9 default legs marked 35–45 times in
 * 200k requests (38–52 µs of CPU per request against 30–41 in the others);
 * with this flag 0 of 4 legs did (one full GC each, 33–36 µs). -P 16: 1 of 4 default legs (15.9 µs
 * against 12.6–13.5) and 0 of 4 with the flag (11.9–12.9 µs). A live heap
 * of 30–50 MB leaves 110 MB of room, more than the 32 + 32 MB the young
 * generation and a scavenge's worth of buffers take. The cost, at worst:
 * garbage may fill the old generation to 160 MB before a full GC, where V8
 * stopped near 70 MB. Measured, peak resident size moved little (LRANGE_100
 * -P 1 after the fill: 235–238 MB against 228–231; GET -P 16, 2M requests:
 * 208 against 202): a proxy promotes little, and V8's external-memory limit
 * still starts a full GC every 20 s or so under LRANGE_100. A heap that
 * lives above about 100 MB is not helped: V8's limit is its own there, and
 * the marking can come back until the heap is large enough that V8's growth
 * step alone passes 64 MB.
 */
export const SERVER_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=32',
  '--min-semi-space-size=32',
  '--initial-old-space-size=160',
];

/** Commands that run for long and allocate per request: they get SERVER_NODE_FLAGS. */
export const SERVER_COMMANDS: ReadonlySet<string> = new Set(['start', 'demo', 'scenario', 'load', 'replay']);

/**
 * Flags the traffic lab's commands run with besides: no full (mark-compact)
 * GC until the old generation holds 256 MB. A lab run keeps what it measures
 * (a ledger entry per key written, every latency of a noisy-tenant run's
 * other tenants) and, in a scenario, the embedded nodes' data, so its old
 * generation grows all run, and V8 marked it every 2-20 s (2-3 s while the
 * generator shared the router's thread); each mark
 * stopped the thread for 10-35 ms, and that second's p99 read over the
 * 20 ms SLO (`node --trace-gc dist/cli/main.js scenario noisy-tenant`: the
 * seconds over it were the marks' seconds). A latency measurement must not
 * measure its own collector; 256 MB is more than a 60 s scenario reaches.
 * It takes the place of SERVER_NODE_FLAGS' 160 for these commands.
 */
export const LAB_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];

/** The traffic lab's commands: they also get LAB_NODE_FLAGS. */
export const LAB_COMMANDS: ReadonlySet<string> = new Set(['demo', 'scenario', 'load', 'replay']);

/**
 * Set at run time (`v8.setFlagsFromString`) by the server commands: no
 * allocation-site pretenuring. V8 watches how many objects from each
 * allocation site survive a scavenge, and once a site's survival is high it
 * allocates that site's objects straight in the old generation until a full
 * GC. A proxy's request objects live for milliseconds, but a burst that
 * queues them (a hot key's onset, a stall) makes them survive one scavenge;
 * from then on every request's arguments went to the old generation. Seen in
 * `hotshard scenario viral-counter --seed 2` (4 runs of 4): after the onset
 * the old generation grew 5-10 MB/s instead of 0.2, scavenges took 12-16 ms
 * instead of 2, the heap was marked within 20 s, and p99 missed its restore
 * target; with the flag (3 runs of 3) it grew 0.2 MB/s and the target was met.
 * CPU per request under redis-benchmark GET -P 16 and SET -P 1 read the same
 * with and without it, within the noise (3 rounds each). Unlike the young
 * generation's size, V8 reads this flag as it collects, so setting it at
 * start-up works (checked) and needs neither the launcher nor a command-line
 * flag, which NODE_OPTIONS could not carry anyway.
 */
export const RUNTIME_V8_FLAG = '--no-allocation-site-pretenuring';

/**
 * Sets RUNTIME_V8_FLAG for a server command unless the operator asked for
 * pretenuring (`--allocation-site-pretenuring` on node's command line);
 * returns whether it was set.
 */
export function applyRuntimeFlags(command: string | undefined, execArgv: readonly string[]): boolean {
  if (command === undefined || !SERVER_COMMANDS.has(command)) return false;
  if (execArgv.some((a) => flagName(a) === flagName(RUNTIME_V8_FLAG))) return false;
  v8.setFlagsFromString(RUNTIME_V8_FLAG);
  return true;
}

/** The flags `command` runs with (none for commands that are not servers). */
export function nodeFlagsFor(command: string | undefined): readonly string[] {
  if (command === undefined || !SERVER_COMMANDS.has(command)) return [];
  if (!LAB_COMMANDS.has(command)) return SERVER_NODE_FLAGS;
  const lab = new Set(LAB_NODE_FLAGS.map(flagName));
  return [...SERVER_NODE_FLAGS.filter((f) => !lab.has(flagName(f))), ...LAB_NODE_FLAGS];
}

/** Set by the launcher in the environment of the server it restarts. */
export const LAUNCHED_ENV = 'HOTSHARD_LAUNCHED';

/**
 * Flags that size one thing together: an operator who gives one of them sizes
 * it, and gets none of the others added. The heap's sizes are one decision: a
 * service that sets the young generation in NODE_OPTIONS (as the README said
 * before the old generation's floor was added) still runs in one process.
 */
const FLAG_GROUPS: readonly (readonly string[])[] = [
  ['--max-semi-space-size', '--min-semi-space-size', '--initial-old-space-size'],
];

/**
 * The `wanted` flags (SERVER_NODE_FLAGS unless given) not already given,
 * neither on node's command line (`execArgv`) nor in NODE_OPTIONS, in either
 * spelling V8 accepts (`--max-semi-space-size=N` or `--max_semi_space_size=N`).
 * A flag the operator set, to any value, is theirs: it is never added a
 * second time, nor the others of its group (FLAG_GROUPS): a young generation
 * sized `--max-semi-space-size=16` does not get our minimum of 32, nor our
 * old generation's floor.
 *
 * @example
 * missingNodeFlags([], '') // ['--max-semi-space-size=32', '--min-semi-space-size=32', '--initial-old-space-size=160']
 * missingNodeFlags(['--max_semi_space_size=16'], '') // []
 * missingNodeFlags([], '', nodeFlagsFor('scenario')) // [..., '--initial-old-space-size=256']
 */
export function missingNodeFlags(
  execArgv: readonly string[],
  nodeOptions = '',
  wanted: readonly string[] = SERVER_NODE_FLAGS,
): string[] {
  const given = new Set(
    [...execArgv, ...nodeOptions.split(/\s+/)].filter((a) => a.startsWith('--')).map((a) => flagName(a)),
  );
  for (const group of FLAG_GROUPS) {
    if (group.some((f) => given.has(f))) for (const f of group) given.add(f);
  }
  return wanted.filter((f) => !given.has(flagName(f)));
}

/** Whether node runs under a debugger or profiler, which would attach to a launcher rather than the server it restarts. */
export function profiling(execArgv: readonly string[]): boolean {
  return execArgv.some((a) => /^--(inspect|debug|cpu-prof|heap-prof|prof)/.test(a));
}

/** A flag's name whatever its spelling: `--max_semi_space_size=8` and `--no-x` / `--x` compare equal. */
function flagName(arg: string): string {
  return arg
    .split('=', 1)[0]!
    .replaceAll('_', '-')
    .replace(/^--no-/, '--');
}

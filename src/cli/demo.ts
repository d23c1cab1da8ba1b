/**
 * `hotshard demo` (what `npm start` runs): an embedded cluster, a skewed
 * workload through a real Redis client, and a live per-node view in the
 * terminal, ending with a summary table; then the cluster and its dashboard
 * stay up until Ctrl-C (`--exit` ends it after the summary instead), so the
 * URLs it printed keep answering.
 *
 * Detection and mitigation run live (their verdicts are printed as they
 * happen): when one key turns celebrity its node saturates, requests queue
 * and p99 climbs, until the planner caches the key.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { Redis } from 'ioredis';
import type { Hotspot } from '../detect/hotspot.js';
import { incidentLine, type Incident } from '../control/incident.js';
import { MemoryBackend } from '../backend/memory.js';
import type { ActionRecord } from '../mitigate/action.js';
import { loadConfig, type Config } from '../config.js';
import { startHotshard, type Hotshard } from '../hotshard.js';
import { addServerFlags, dashboardUrl, fail, flagsToConfig, warnConfig } from './server-flags.js';
import { stopOnSignals } from './start.js';

interface Phase {
  readonly name: string;
  readonly seconds: number;
  /** Share of requests that go to the one celebrity key. */
  readonly hotShare: number;
}

interface PhaseStats {
  ops: number;
  errors: number;
  latencies: number[];
  perNode: Map<string, number>;
}

const KEYS = 10_000;
const CELEBRITY = 'user:celebrity';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function bar(value: number, max: number, width = 18): string {
  const n = max === 0 ? 0 : Math.round((value / max) * width);
  return '█'.repeat(n).padEnd(width, '·');
}

async function startWithFallback(config: Config): Promise<Hotshard> {
  try {
    return await startHotshard(config);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
    console.log(`ports ${config.respPort}/${config.httpPort} are taken; using free ports instead`);
    return startHotshard({ ...config, respPort: 0, httpPort: 0 });
  }
}

async function runDemo(hs: Hotshard, rate: number, phases: Phase[]): Promise<void> {
  const clients = Array.from(
    { length: 4 },
    () => new Redis({ port: hs.respPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 }),
  );
  await Promise.all(clients.map((c) => c.connect()));
  const value = 'x'.repeat(64);
  const nodeOf = (key: string): string => hs.router.table.shardFor(Buffer.from(key)).node;
  const nodes = [...hs.router.backends.keys()].map(String);
  // Load as the nodes saw it (commands they ran), so a key served from the
  // router's cache no longer lights its node up; demand where nodes do not count (Redis).
  const embedded = [...hs.router.backends.values()].every((b) => b instanceof MemoryBackend);
  const served = (): Map<string, number> =>
    new Map([...hs.router.backends].map(([n, b]) => [String(n), (b as MemoryBackend).commandsProcessed]));

  // Preload so GETs hit.
  for (let i = 0; i < KEYS; i += 500) {
    const p = clients[0]!.pipeline();
    for (let k = i; k < i + 500; k++) p.set(`user:${k}`, value);
    await p.exec();
  }
  await clients[0]!.set(CELEBRITY, value);

  // The detector's verdicts, printed as they happen.
  let phaseStarted = Date.now();
  const printed = new Set<string>();
  const unsubscribe = hs.events.subscribe((e) => {
    if (e.type.startsWith('action.')) {
      // What the planner did about it: applied, judged, reverted.
      const a = e.data as ActionRecord;
      const what = `${a.state}${a.outcome === 'pending' ? '' : ` (${a.outcome})`}`;
      if (a.state === 'pending' || a.state === 'running' || printed.has(`${a.id} ${what}`)) return;
      printed.add(`${a.id} ${what}`);
      console.log(
        `      ● ${a.id} ${a.kind} ${a.subject.name} ${what} ${((e.at - phaseStarted) / 1000).toFixed(2)} s into the phase: ${a.detail ?? a.reason}`,
      );
      return;
    }
    if (e.type === 'incident.opened' || e.type === 'incident.resolved') {
      console.log(`      ⚑ ${incidentLine(e.type, e.data as Incident)}`);
      return;
    }
    if (!e.type.startsWith('hotspot.')) return;
    const h = e.data as Hotspot;
    if (h.severity === 'info' && e.type !== 'hotspot.cleared') return;
    const verb =
      e.type === 'hotspot.raised' ? '▲ detected' : e.type === 'hotspot.cleared' ? '▼ cleared ' : '◆ updated ';
    console.log(
      `      ${verb} ${h.kind} ${h.subject} (${h.heat}, ${h.severity}) ${((e.at - phaseStarted) / 1000).toFixed(2)} s into the phase: ${h.summary}`,
    );
  });

  const summary: Array<{ phase: Phase; stats: PhaseStats }> = [];
  let rnd = 42;
  const random = (): number => {
    // xorshift: the demo is the same every run
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    return (rnd >>> 0) / 4294967296;
  };
  const tickMs = 10;
  let second = 0;
  for (const phase of phases) {
    phaseStarted = Date.now();
    const stats: PhaseStats = {
      ops: 0,
      errors: 0,
      latencies: [],
      perNode: new Map(nodes.map((n) => [n, 0])),
    };
    summary.push({ phase, stats });
    for (let s = 0; s < phase.seconds; s++, second++) {
      const secNode = new Map(nodes.map((n) => [n, 0]));
      const secLat: number[] = [];
      let secErr = 0;
      const inflight: Promise<void>[] = [];
      const servedBefore = embedded ? served() : undefined;
      const start = performance.now();
      for (let t = 0; t < 1000 / tickMs; t++) {
        const intended = start + t * tickMs;
        const wait = intended - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        for (let i = 0; i < (rate * tickMs) / 1000; i++) {
          const key = random() < phase.hotShare ? CELEBRITY : `user:${Math.floor(random() * KEYS)}`;
          const client = clients[i % clients.length]!;
          const node = nodeOf(key);
          secNode.set(node, secNode.get(node)! + 1);
          const op = random() < 0.9 ? client.get(key) : client.set(key, value);
          inflight.push(
            op.then(
              () => {
                // Latency from the intended send time: queueing is not hidden.
                secLat.push(performance.now() - intended);
              },
              () => {
                secErr++;
              },
            ),
          );
        }
      }
      await Promise.all(inflight);
      if (servedBefore !== undefined) {
        const now = served();
        for (const n of nodes) secNode.set(n, now.get(n)! - servedBefore.get(n)!);
      }
      stats.ops += inflight.length;
      stats.errors += secErr;
      stats.latencies.push(...secLat);
      for (const [n, c] of secNode) stats.perNode.set(n, stats.perNode.get(n)! + c);
      secLat.sort((a, b) => a - b);
      const max = Math.max(...secNode.values());
      const cols = nodes
        .map((n) => `${n} ${bar(secNode.get(n)!, max, 10)} ${String(secNode.get(n)).padStart(5)}`)
        .join('  ');
      console.log(
        `t=${String(second).padStart(2)}s ${phase.name.padEnd(15)} ops=${String(inflight.length).padStart(6)} p99=${percentile(secLat, 99).toFixed(1).padStart(7)}ms err=${String(secErr).padStart(4)}  ${cols}`,
      );
    }
  }
  await Promise.all(clients.map((c) => c.quit()));

  console.log('\nsummary');
  console.log(
    'phase            ops/s     p50 ms   p99 ms   errors   hottest node share   max/mean node load',
  );
  for (const { phase, stats } of summary) {
    const sorted = stats.latencies.sort((a, b) => a - b);
    const loads = [...stats.perNode.values()];
    const mean = loads.reduce((a, b) => a + b, 0) / loads.length;
    const max = Math.max(...loads);
    console.log(
      `${phase.name.padEnd(15)} ${String(Math.round(stats.ops / phase.seconds)).padStart(6)} ${percentile(sorted, 50).toFixed(2).padStart(10)} ${percentile(sorted, 99).toFixed(2).padStart(8)} ${String(stats.errors).padStart(8)} ${((100 * max) / (mean * loads.length)).toFixed(0).padStart(16)} % ${(max / mean).toFixed(2).padStart(16)}`,
    );
  }
  unsubscribe();
  const found = hs.monitor?.history().filter((h) => h.severity !== 'info') ?? [];
  console.log(
    `\ndetected: ${found.length === 0 ? 'nothing' : found.map((h) => `${h.kind} ${h.subject}`).join(', ')}`,
  );
  const actions = hs.executor.list().filter((a) => a.by === 'planner');
  console.log(
    `mitigated: ${actions.length === 0 ? 'nothing' : actions.map((a) => `${a.kind} ${a.subject.name} (${a.outcome}${a.revertedAt === null ? '' : ', reverted once cold'})`).join(', ')}`,
  );
  console.log(
    `node load is ${embedded ? 'what the nodes ran: reads served from the cache never reach them' : 'what clients asked of each node'}`,
  );
}

/** Registers `demo`. */
export function addDemoCommand(program: Command): void {
  addServerFlags(
    program
      .command('demo')
      .description('run an embedded cluster under a skewed workload and show the heat live'),
  )
    .option('--rate <ops>', 'requests per second the workload sends', '12000')
    .option('--duration <seconds>', 'total seconds over three phases', '21')
    .option('--exit', 'stop after the summary instead of serving until Ctrl-C')
    .action(async (opts: Record<string, unknown>) => {
      const { rate, duration, exit, ...serverOpts } = opts;
      let hs: Hotshard;
      try {
        const config = loadConfig({
          file: serverOpts.config as string | undefined,
          env: process.env,
          warn: warnConfig,
          // A per-node capacity is what makes a hot node queue, as a real one would. A fresh
          // admin token (printed below) lets the operator try the policy API without setting one up.
          flags: {
            logLevel: 'warn',
            capacity: 5000,
            ...(process.env.HOTSHARD_ADMIN_TOKEN ? {} : { adminToken: randomBytes(16).toString('hex') }),
            ...flagsToConfig(serverOpts),
          },
        });
        hs = await startWithFallback(config);
      } catch (err) {
        fail(err);
      }
      const third = Math.max(1, Math.round(Number(duration) / 3));
      console.log(
        `hotshard demo: ${hs.router.backends.size} embedded nodes, ${hs.router.table.shards.length} shards, ${hs.config.capacity ?? 'unlimited'} ops/s per node`,
      );
      const http = `http://127.0.0.1:${hs.httpPort}`;
      console.log(`dashboard: ${dashboardUrl(hs)}`);
      console.log(`RESP: redis-cli -p ${hs.respPort}`);
      console.log(
        `HTTP: ${http}/hotspots  ${http}/hotkeys  ${http}/shards/stats  ${http}/skew  ${http}/metrics  ${http}/events`,
      );
      console.log(
        `admin token: ${hs.config.adminToken ?? '(none)'}  try: hotshard policies set ${CELEBRITY} --cache --reason demo --url ${http} --token ${hs.config.adminToken ?? 'T'}`,
      );
      console.log(
        `workload: ${rate} ops/s, 90% GET / 10% SET over ${KEYS} keys; then 50% of requests on '${CELEBRITY}'\n`,
      );
      try {
        await runDemo(hs, Number(rate), [
          { name: 'uniform', seconds: third, hotShare: 0 },
          { name: 'celebrity key', seconds: third, hotShare: 0.5 },
          { name: 'uniform again', seconds: third, hotShare: 0 },
        ]);
      } catch (err) {
        console.error('demo failed:', err);
        await hs.close();
        process.exit(1);
      }
      if (exit === true) {
        await hs.close();
        return;
      }
      console.log(
        `\nstill serving: dashboard ${dashboardUrl(hs)}  RESP redis-cli -p ${hs.respPort}; Ctrl-C to stop`,
      );
      stopOnSignals(hs);
    });
}

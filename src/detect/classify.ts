/**
 * One tick's classification: which subjects pass which rule right now, with
 * their evidence and impact. The detector adds time (hysteresis) on top.
 *
 * Rules run in the order of the seeds' decision tree (seed 003, "Determine
 * hotspot type": one key dominates -> hot key; many keys of one partition ->
 * range; node hot -> placement), and each later rule sees only the load the
 * earlier ones did not explain: a hot key's ops are taken out of its shard
 * before the hot-range rule looks at the shard, and hot ranges and hot keys
 * are taken out of their node before the hot-node rule looks at it. So a hot
 * key never also raises a hot range for its shard, yet a shard that stays hot
 * without its hot key is still reported.
 *
 * A subject with an active hotspot is judged against the rules' `clear`
 * thresholds, any other against `raise` (hysteresis).
 *
 * Longer than most files because the rules share that chain of explained
 * load; each rule is one function below, and the impact assessment could
 * move to its own file if it grows.
 */
import { type Heat, type Hotspot, type HotspotKind, ImpactSignal, Severity } from './hotspot.js';
import { QUEUE_RISE_SPANS, type DetectorRules, type Threshold } from './rules.js';
import { skew, type SkewMeasures } from './skew.js';
import type { EntityLoad, KeyLoad, ShardLoad, TickSnapshot } from './snapshot.js';
import { OTHER_TENANT } from '../telemetry/tenant-table.js';

/** A subject that passes its rule this tick: a hotspot before the detector gives it an id and times. */
export type Candidate = Omit<Hotspot, 'id' | 'onset' | 'detectedAt' | 'clearedAt'>;

/** What classification needs to know about earlier ticks. */
export interface ClassifyState {
  /** True when a hotspot of this kind and subject is active, so it is held at the `clear` thresholds. */
  isActive(kind: HotspotKind, subject: string): boolean;
  /**
   * The queue depths an entity (`shard:<id>`, `node:<id>`, `tenant:<id>`) had
   * at the last ticks (up to QUEUE_MEMORY × queueRiseTicks, rules.ts), oldest first.
   */
  queueDepths(entity: string): readonly number[] | undefined;
}

type Level = keyof Threshold;
type Rw = { readonly reads: number; readonly writes: number };

const opsOf = (e: Rw): number => e.reads + e.writes;
const heatOf = (e: Rw): Heat => (e.writes > e.reads ? 'write-hot' : 'read-hot');
/**
 * A key's rate as it is now, for the reading (the rules judge the window's
 * average): its recent rate when that is clearly above the average, a spike
 * that began within the window, which the average dilutes with the time
 * before it; else the average, steadier under sampling. Not the larger of
 * the two, which sampling noise would bias up on a steady key.
 */
const RISING = 1.25;
const rateNow = (k: KeyLoad): number =>
  k.recent !== undefined && k.recent > RISING * opsOf(k) ? k.recent : opsOf(k);
const readShare = (e: Rw): number => (opsOf(e) > 0 ? e.reads / opsOf(e) : 0);
/**
 * A key's reads and writes as they are now, for its heat: its recent split
 * when known, else the window's. A key written and then read by everyone (a
 * list filled, then served) shows its new heat here within a tick; the
 * window's split lags by most of the window (up to 2 s with the current
 * partial second), and the remedy for the new heat with it: redis-benchmark's
 * LRANGE after its LPUSH fill waited 1.2-1.65 s for its cache.
 */
const splitNow = (k: KeyLoad): Rw =>
  k.recent !== undefined && k.recentReads !== undefined && k.recent > 0
    ? { reads: k.recentReads, writes: Math.max(0, k.recent - k.recentReads) }
    : k;
const meanOf = (xs: readonly number[]): number =>
  xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
/** x / base, with x / 0 = Infinity (any load over none is unboundedly over). */
const over = (x: number, base: number): number => (base > 0 ? x / base : x > 0 ? Infinity : 0);
/** Six significant digits: evidence is for reading, and float noise (0.30000000000000004) is not. */
const round = (x: number): number => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x);
const fmt = (x: number): string => (Number.isFinite(x) ? String(Math.round(x)) : '∞');
const pct = (x: number): string => `${Math.round(x * 100)}%`;

/**
 * The median key rate, estimated from what the sketches give: the top-K keys
 * and the distinct count. When the top keys are at most half of the distinct
 * keys the median key is in the tail, and we use the tail's mean,
 * (totalKeyOps - top keys' ops) / (distinctKeys - K): the tail of a skewed
 * key distribution is long, its mean is at or above its median, so the
 * estimate errs towards a higher bar, i.e. towards not raising. The overall
 * mean (total / distinct) would include the hot key itself and rise with it.
 * When the top keys are most of the keyspace (small tests, tiny keyspaces)
 * the median is read off the top keys directly.
 *
 * Fewer keys touched than there are shards count as that many, the missing
 * ones at rate 0: the cluster's keyspace is spread over every shard, and
 * keys it did not touch sat idle. Without this, one key carrying the whole
 * load (redis-benchmark's LRANGE on `mylist`) was its own median and never a
 * hot key, only a hot range, raised four times slower.
 * @example estimateMedianKeyRate(snapshot) // ops/s of a typical key
 */
export function estimateMedianKeyRate(s: TickSnapshot): number {
  const k = s.topKeys.length;
  const d = Math.max(s.distinctKeys, k, k === 0 ? 0 : s.shards.length);
  if (d === 0) return 0;
  const tail = d - k;
  if (tail >= d / 2) {
    const topOps = s.topKeys.reduce((a, key) => a + opsOf(key), 0);
    return tail > 0 ? Math.max(0, s.totalKeyOps - topOps) / tail : 0;
  }
  const rates = s.topKeys.map(opsOf).sort((a, b) => b - a);
  if (tail === 0) return skew(rates).median;
  return rates[Math.floor(d / 2)] ?? 0;
}

interface Role {
  readonly role: string;
  readonly entity: EntityLoad;
  readonly queueKey: string;
}

interface Impact {
  readonly severity: Severity;
  readonly signals: ImpactSignal[];
  readonly evidence: Record<string, number | null>;
}

/**
 * A queue that grows: no shallower at any of the last QUEUE_RISE_SPANS spans
 * of `queueRiseTicks` ticks (3 s by default), deeper by `queueDepthMin` at the
 * end of each span than at its start, and deeper now by `queueDepthMin` than
 * at any tick remembered before those spans. Growth that lasts is what an
 * arrival rate above the node's service rate makes.
 *
 * What it must not take for growth:
 * - A closed-loop client population (50 clients each waiting for its reply)
 *   keeps a queue that wanders within a bound. Compared with one tick long
 *   ago it read as rising half the time, and the planner throttled a healthy
 *   key.
 * - The step a pipelined workload makes when it starts (0 to 800 in flight
 *   for redis-benchmark -P 16) and then holds. With one span, the step read as
 *   rising for a second and the planner throttled redis-benchmark's LPUSH key
 *   at a p99 of 2 ms. A step grows in one span only.
 */
function queueRising(before: readonly number[] | undefined, now: number, r: DetectorRules): boolean {
  const span = r.queueRiseTicks;
  const ticks = span * QUEUE_RISE_SPANS;
  if (before === undefined || before.length < ticks) return false;
  const from = before.length - ticks;
  const depth = (i: number): number => (i === before.length ? now : before[i]!);
  for (let i = from + 1; i <= before.length; i++) if (depth(i) < depth(i - 1)) return false;
  for (let start = from; start < before.length; start += span) {
    if (depth(start + span) - depth(start) < r.queueDepthMin) return false;
  }
  if (from === 0) return true;
  return now - Math.max(...before.slice(0, from)) >= r.queueDepthMin;
}

/** Impact of a subject: the worst of the entities it lives on (its shard and node, its tenant and the nodes). */
function assessImpact(
  roles: readonly Role[],
  s: TickSnapshot,
  r: DetectorRules,
  state: ClassifyState,
): Impact {
  const on = new Set(r.impactSignals);
  const signals = new Set<ImpactSignal>();
  const evidence: Record<string, number | null> = { sloP99Ms: s.sloP99Ms };
  let critical = false;
  let utilization: number | null = null;
  let shedRatio = 0;
  for (const { role, entity: e, queueKey } of roles) {
    const p99Key = `${role}P99Ms`;
    const queueKeyName = `${role}QueueDepth`;
    evidence[p99Key] = Math.max(evidence[p99Key] ?? 0, e.p99Ms);
    evidence[queueKeyName] = Math.max(evidence[queueKeyName] ?? 0, e.queueDepth);
    if (e.utilization !== null) utilization = Math.max(utilization ?? 0, e.utilization);
    const shed = e.shed > 0 ? e.shed / (opsOf(e) + e.shed) : 0;
    shedRatio = Math.max(shedRatio, shed);
    // An SLO of 0 or less means "none configured": latency cannot be judged.
    if (on.has(ImpactSignal.P99OverSlo) && s.sloP99Ms > 0) {
      if (e.p99Ms > r.p99OverSlo * s.sloP99Ms) signals.add(ImpactSignal.P99OverSlo);
      if (e.p99Ms >= r.criticalP99OverSlo * s.sloP99Ms) critical = true;
    }
    if (on.has(ImpactSignal.QueueRising) && e.queueDepth >= r.queueDepthMin) {
      if (queueRising(state.queueDepths(queueKey), e.queueDepth, r)) signals.add(ImpactSignal.QueueRising);
    }
    if (on.has(ImpactSignal.NearCapacity) && e.utilization !== null && e.utilization >= r.nearCapacity) {
      signals.add(ImpactSignal.NearCapacity);
    }
    if (on.has(ImpactSignal.Shedding) && e.shed > 0 && shed >= r.criticalShedRatio) {
      signals.add(ImpactSignal.Shedding);
      critical = true;
    }
  }
  evidence.utilization = utilization === null ? null : round(utilization);
  evidence.shedRatio = round(shedRatio);
  const severity = critical ? Severity.Critical : signals.size > 0 ? Severity.Warning : Severity.Info;
  return { severity, signals: [...signals], evidence };
}

const shardRole = (sh: ShardLoad): Role => ({ role: 'shard', entity: sh, queueKey: `shard:${sh.id}` });
const nodeRole = (n: EntityLoad): Role => ({ role: 'node', entity: n, queueKey: `node:${n.id}` });

function candidate(
  base: Omit<Candidate, 'severity' | 'impact' | 'evidence'>,
  numbers: Record<string, number>,
  impact: Impact | null,
): Candidate {
  const evidence: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(numbers)) evidence[k] = round(v);
  if (impact !== null) Object.assign(evidence, impact.evidence);
  return Object.freeze({
    ...base,
    severity: impact?.severity ?? Severity.Info,
    impact: Object.freeze(impact?.signals ?? []),
    evidence: Object.freeze(evidence),
  });
}

/** What every rule reads: the snapshot, the rules, earlier ticks, and lookups built once per tick. */
interface Ctx {
  readonly s: TickSnapshot;
  readonly r: DetectorRules;
  readonly state: ClassifyState;
  readonly nodeById: ReadonlyMap<string, EntityLoad>;
  readonly shardStats: SkewMeasures;
}

const ZERO: Rw = { reads: 0, writes: 0 };
const levelOf = (c: Ctx, kind: HotspotKind, subject: string): Level =>
  c.state.isActive(kind, subject) ? 'clear' : 'raise';
const impactOf = (c: Ctx, roles: readonly Role[]): Impact => assessImpact(roles, c.s, c.r, c.state);
function rolesOf(c: Ctx, sh: ShardLoad): Role[] {
  const node = c.nodeById.get(sh.node);
  return node === undefined ? [shardRole(sh)] : [shardRole(sh), nodeRole(node)];
}
/** Hot-shard rule (seed 002: > 2x mean; seed 003: > 10x median) on a load against a population's stats. */
const shardRule = (c: Ctx, ops: number, stats: SkewMeasures, lv: Level): boolean =>
  ops >= c.r.minRate[lv] &&
  (ops > c.r.shardLoadOverMean[lv] * stats.mean || ops > c.r.shardLoadOverMedian[lv] * stats.median);

interface KeyVerdict {
  readonly candidates: Candidate[];
  /** Per shard id, the reads and writes its hot keys explain. */
  readonly explained: ReadonlyMap<string, Rw>;
  /** Per shard id, the largest share any known key carries of it. */
  readonly topShare: ReadonlyMap<string, number>;
}

/**
 * Hot keys: rate > max(10 × median key rate, floor) and most of the shard (seed 001, seed 002,
 * issue 4), or, in a shard that passes the hot-shard rule, a large share of it (seed 003: "one
 * key dominates"), which needs no floor because the shard's own rule already proved it matters.
 */
function hotKeys(c: Ctx): KeyVerdict {
  const { s, r } = c;
  const shardById = new Map(s.shards.map((sh) => [sh.id, sh]));
  const medianKeyRate = estimateMedianKeyRate(s);
  const candidates: Candidate[] = [];
  const explained = new Map<string, Rw>();
  const topShare = new Map<string, number>();
  for (const key of s.topKeys) {
    const shard = shardById.get(key.shard);
    const shardOps = shard === undefined ? 0 : opsOf(shard);
    if (shard === undefined || shardOps <= 0) continue;
    topShare.set(shard.id, Math.max(topShare.get(shard.id) ?? 0, Math.min(1, opsOf(key) / shardOps)));
    const lv = levelOf(c, 'hot-key', key.key);
    // The sketch overcounts by at most `error`: judge the lower bound, so an overestimate never raises alone.
    const rate = Math.max(0, opsOf(key) - key.error);
    const share = Math.min(1, rate / shardOps);
    const overMedian = rate > r.keyRateOverMedian[lv] * medianKeyRate;
    const threshold = Math.max(r.keyRateOverMedian[lv] * medianKeyRate, r.keyRateFloor[lv]);
    const byRate = rate > threshold && share >= r.keyShareOfShard[lv];
    const byDominance =
      !byRate && overMedian && share >= r.keyShareOfHotShard[lv] && shardRule(c, shardOps, c.shardStats, lv);
    if (!byRate && !byDominance) continue;
    const ex = explained.get(shard.id) ?? ZERO;
    explained.set(shard.id, { reads: ex.reads + key.reads, writes: ex.writes + key.writes });
    const now = splitNow(key);
    const heat = heatOf(now);
    const shardOverMean = over(shardOps, c.shardStats.mean);
    const why = byRate
      ? `over ${fmt(threshold)} ops/s`
      : `dominating a shard at ${shardOverMean.toFixed(1)}x the mean`;
    const base = {
      kind: 'hot-key' as const,
      subject: key.key,
      shard: shard.id,
      node: key.node,
      heat,
      summary: `key ${JSON.stringify(key.key)} is ${heat}: ${fmt(rateNow(key))} ops/s, ${pct(share)} of shard ${shard.id}, ${why} (median key ${medianKeyRate.toFixed(2)} ops/s)`,
    };
    const numbers = {
      rate: rateNow(key),
      reads: key.reads,
      writes: key.writes,
      bytes: key.bytes,
      error: key.error,
      medianKeyRate,
      overMedian: over(rate, medianKeyRate),
      threshold,
      shareOfShard: share,
      shardRate: shardOps,
      shardLoadOverMean: shardOverMean,
      readShare: readShare(now),
    };
    candidates.push(candidate(base, numbers, impactOf(c, rolesOf(c, shard))));
  }
  return { candidates, explained, topShare };
}

interface RangeVerdict {
  readonly candidates: Candidate[];
  /** Each shard's reads and writes once its hot keys are taken out, in snapshot order. */
  readonly residual: readonly Rw[];
  /** Shards raised (or held) as hot ranges. */
  readonly hot: ReadonlySet<string>;
}

/** Hot ranges: the hot-shard rule on what the hot keys leave of every shard. */
function hotRanges(c: Ctx, keys: KeyVerdict): RangeVerdict {
  const residual = c.s.shards.map((sh) => {
    const ex = keys.explained.get(sh.id) ?? ZERO;
    return { reads: Math.max(0, sh.reads - ex.reads), writes: Math.max(0, sh.writes - ex.writes) };
  });
  const stats = skew(residual.map(opsOf));
  const candidates: Candidate[] = [];
  const hot = new Set<string>();
  c.s.shards.forEach((sh, i) => {
    const res = residual[i] ?? ZERO;
    const o = opsOf(res);
    if (!shardRule(c, o, stats, levelOf(c, 'hot-range', sh.id))) return;
    hot.add(sh.id);
    const heat = heatOf(res);
    const topKeyShare = keys.topShare.get(sh.id) ?? 0;
    const base = {
      kind: 'hot-range' as const,
      subject: sh.id,
      shard: sh.id,
      node: sh.node,
      heat,
      summary: `shard ${sh.id} [${sh.range[0]}, ${sh.range[1] ?? '∞'}) is ${heat}: ${fmt(o)} ops/s, ${over(o, stats.mean).toFixed(1)}x the mean shard, largest known key ${pct(topKeyShare)} of it`,
    };
    const numbers = {
      rate: o,
      shardRate: opsOf(sh),
      explainedRate: opsOf(sh) - o,
      meanShardRate: stats.mean,
      medianShardRate: stats.median,
      loadOverMean: over(o, stats.mean),
      loadOverMedian: over(o, stats.median),
      topKeyShare,
      readShare: readShare(res),
    };
    candidates.push(candidate(base, numbers, impactOf(c, rolesOf(c, sh))));
  });
  return { candidates, residual, hot };
}

/**
 * Hot nodes: at least `minWarmShards` warm shards on one node and the node over the mean node,
 * both on the load that hot keys and hot ranges leave (seed 003: "node hot" is a placement problem).
 */
function hotNodes(c: Ctx, ranges: RangeVerdict): Candidate[] {
  const { s, r } = c;
  const shards = s.shards.map((sh, i) => ({ sh, res: ranges.residual[i] ?? ZERO }));
  const unexplained = shards.filter(({ sh }) => !ranges.hot.has(sh.id));
  const meanShard = meanOf(unexplained.map(({ res }) => opsOf(res)));
  const residual = s.nodes.map((n) => {
    let { reads, writes } = n;
    for (const { sh, res } of shards) {
      if (sh.node !== n.id) continue;
      // A hot range leaves its node entirely; a hot key leaves what it explained.
      reads -= ranges.hot.has(sh.id) ? sh.reads : sh.reads - res.reads;
      writes -= ranges.hot.has(sh.id) ? sh.writes : sh.writes - res.writes;
    }
    return { reads: Math.max(0, reads), writes: Math.max(0, writes) };
  });
  const meanNode = meanOf(residual.map(opsOf));
  const candidates: Candidate[] = [];
  s.nodes.forEach((n, i) => {
    const res = residual[i] ?? ZERO;
    const o = opsOf(res);
    const lv = levelOf(c, 'hot-node', n.id);
    const warm = unexplained.filter(
      ({ sh, res: shr }) => sh.node === n.id && opsOf(shr) > r.warmShardOverMean[lv] * meanShard,
    );
    if (warm.length < r.minWarmShards || o < r.minRate[lv] || !(o > r.nodeLoadOverMean[lv] * meanNode))
      return;
    const heat = heatOf(res);
    const base = {
      kind: 'hot-node' as const,
      subject: n.id,
      shard: null,
      node: n.id,
      heat,
      summary: `node ${n.id} is ${heat}: ${fmt(o)} ops/s, ${over(o, meanNode).toFixed(2)}x the mean node, with ${warm.length} warm shards (${warm.map(({ sh }) => sh.id).join(', ')})`,
    };
    const numbers = {
      rate: o,
      nodeRate: opsOf(n),
      meanNodeRate: meanNode,
      loadOverMean: over(o, meanNode),
      warmShards: warm.length,
      meanShardRate: meanShard,
      warmestShardOverMean: Math.max(...warm.map(({ res: shr }) => over(opsOf(shr), meanShard))),
      readShare: readShare(res),
    };
    candidates.push(candidate(base, numbers, impactOf(c, [nodeRole(n)])));
  });
  return candidates;
}

/**
 * Noisy tenants: at least half of all ops (seed 003's example tenant takes 60 %) and twice the
 * next tenant (seed 002's 2x). Impact is the tenant's own and that of every node it shares.
 */
function noisyTenants(c: Ctx, keys: KeyVerdict): Candidate[] {
  const { s, r } = c;
  // A tenant's hot key already explains that part of its load (keys named
  // `<tenant>:...`): judge tenants on what is left, and only where at least two
  // tenants still carry real load, so a tenant that merely stays at its usual
  // rate while another's hot key appears is not called noisy.
  const hotKeyOps = new Map<string, number>();
  for (const cand of keys.candidates) {
    const colon = cand.subject.indexOf(':');
    if (colon <= 0) continue;
    const tenant = cand.subject.slice(0, colon);
    const key = s.topKeys.find((k) => k.key === cand.subject);
    if (key !== undefined) hotKeyOps.set(tenant, (hotKeyOps.get(tenant) ?? 0) + opsOf(key));
  }
  // A tenant its hot keys explain at least half of is judged by them alone:
  // what they leave is then mostly the keys' sampling error (the counter of
  // viral-counter, the likes tenant's whole load, left a few hundred ops/s
  // either way, enough for the steady app tenant to read as twice the
  // runner-up and "noisy").
  const ops = s.tenants.map((tn) => {
    const explained = hotKeyOps.get(tn.id) ?? 0;
    return explained >= opsOf(tn) / 2 ? 0 : opsOf(tn) - explained;
  });
  const total = ops.reduce((a, b) => a + b, 0);
  // `other` sums the tenants telemetry does not track by name (tenant-table.ts):
  // its load counts in the total, but it is no tenant, so it is never raised
  // and never the runner-up (each of its tenants is lighter than the tracked ones).
  const single = s.tenants.map((tn) => tn.id !== OTHER_TENANT);
  const loaded = ops.filter((o, i) => single[i] && o >= r.minRate.raise).length;
  if (loaded < 2 || total <= 0) return [];
  const candidates: Candidate[] = [];
  s.tenants.forEach((tn, i) => {
    if (!single[i]) return;
    const o = ops[i] ?? 0;
    const runnerUp = Math.max(0, ...ops.filter((_, j) => j !== i && single[j]));
    const share = o / total;
    const lv = levelOf(c, 'noisy-tenant', tn.id);
    if (o < r.minRate[lv] || share < r.tenantShare[lv] || !(o > r.tenantOverRunnerUp[lv] * runnerUp)) return;
    const heat = heatOf(tn);
    const base = {
      kind: 'noisy-tenant' as const,
      subject: tn.id,
      shard: null,
      node: null,
      heat,
      summary: `tenant ${JSON.stringify(tn.id)} is ${heat}: ${pct(share)} of all ops (${fmt(o)} ops/s), ${over(o, runnerUp).toFixed(1)}x the next tenant`,
    };
    const numbers = {
      rate: o,
      share,
      totalRate: total,
      runnerUpRate: runnerUp,
      overRunnerUp: over(o, runnerUp),
      tenants: s.tenants.length,
      readShare: readShare(tn),
    };
    const roles = [{ role: 'tenant', entity: tn, queueKey: `tenant:${tn.id}` }, ...s.nodes.map(nodeRole)];
    candidates.push(candidate(base, numbers, impactOf(c, roles)));
  });
  return candidates;
}

/**
 * Structural skew (seed 001: Gini > 0.8), on the raw shard loads: it describes how the
 * partitioning spreads load whatever explains it, so it is not deduplicated, and it is always
 * info. Seed 001 states the rule for the key distribution; over keys, any Zipf-like workload
 * sits above 0.8 for good, so it would be permanent noise there.
 */
function skewWarning(c: Ctx): Candidate[] {
  const { s, r, shardStats: st } = c;
  const lv = levelOf(c, 'skew-warning', 'shards');
  if (s.shards.length < 2 || st.total < r.minRate[lv] || !(st.gini > r.giniWarning[lv])) return [];
  const totals = s.shards.reduce(
    (a, sh) => ({ reads: a.reads + sh.reads, writes: a.writes + sh.writes }),
    ZERO,
  );
  const base = {
    kind: 'skew-warning' as const,
    subject: 'shards',
    shard: null,
    node: null,
    heat: heatOf(totals),
    summary: `load across ${s.shards.length} shards is structurally skewed: Gini ${st.gini.toFixed(2)}, max/median ${st.maxOverMedian.toFixed(1)}`,
  };
  const numbers = {
    gini: st.gini,
    cv: st.cv,
    entropy: st.entropy,
    maxOverMedian: st.maxOverMedian,
    maxOverMean: st.maxOverMean,
    p95OverP50: st.p95OverP50,
    shards: s.shards.length,
    totalRate: st.total,
    readShare: readShare(totals),
  };
  return [candidate(base, numbers, null)];
}

/**
 * Every subject that passes a rule in this snapshot: hot keys first, then hot ranges, hot
 * nodes, noisy tenants and the skew warning.
 * @example classify(snapshot, resolveRules(), { isActive: () => false, queueDepths: () => undefined })
 */
export function classify(s: TickSnapshot, r: DetectorRules, state: ClassifyState): Candidate[] {
  const c: Ctx = {
    s,
    r,
    state,
    nodeById: new Map(s.nodes.map((n) => [n.id, n])),
    shardStats: skew(s.shards.map(opsOf)),
  };
  const keys = hotKeys(c);
  const ranges = hotRanges(c, keys);
  return [
    ...keys.candidates,
    ...ranges.candidates,
    ...hotNodes(c, ranges),
    ...noisyTenants(c, keys),
    ...skewWarning(c),
  ];
}

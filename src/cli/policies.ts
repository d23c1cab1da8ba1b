/**
 * `hotshard policies`: read and set key policies on a running hotshard
 * (GET/PUT/DELETE /policies). Changes need the admin token.
 *
 *   hotshard policies [list]
 *   hotshard policies get KEY
 *   hotshard policies set KEY --cache --max-stale-ms 500 --reason "launch"
 *   hotshard policies delete KEY --reason "over"
 */
import type { Command } from 'commander';
import {
  callApi,
  CliFailure,
  Exit,
  intFlag,
  keyPath,
  runCli,
  table,
  when,
  withApiFlags,
  type ApiFlags,
} from './api-client.js';

interface PolicyJson {
  key: string;
  policy: Record<string, unknown> & { consistency: string };
  since: number;
  status: Record<string, Record<string, unknown>>;
  actions?: string[];
}

interface ActionJson {
  id: string;
  state: string;
  detail: string | null;
}

const REMEDIES = ['throttle', 'aggregate', 'salt', 'replicas', 'cache'] as const;

/** One remedy's settings in a short form: `cache(maxStaleMs=500)`. */
function remedies(policy: Record<string, unknown>): string {
  const parts = REMEDIES.filter((r) => policy[r] !== undefined).map((r) => {
    const s = policy[r] as Record<string, unknown>;
    return `${r}(${Object.entries(s)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',')})`;
  });
  if (policy.coalesce === false) parts.push('no-coalesce');
  return parts.join(' ');
}

interface SetFlags extends ApiFlags {
  reason: string;
  strong?: boolean;
  cache?: boolean;
  maxStaleMs?: string;
  staleWhileRevalidate?: boolean;
  coalesce?: boolean;
  throttleOps?: string;
  throttleBurst?: string;
  aggregate?: boolean;
  flushMs?: string;
  async?: boolean;
  salt?: string;
  replicas?: string;
  json?: boolean;
}

/** The PUT body the flags describe. */
export function policyFromFlags(f: SetFlags): Record<string, unknown> {
  const body: Record<string, unknown> = { consistency: f.strong === true ? 'strong' : 'bounded' };
  const maxStaleMs = intFlag(f.maxStaleMs, '--max-stale-ms', 0);
  if (f.cache === true || maxStaleMs !== undefined || f.staleWhileRevalidate === true)
    body.cache = {
      ...(maxStaleMs === undefined ? {} : { maxStaleMs }),
      staleWhileRevalidate: f.staleWhileRevalidate === true,
    };
  if (f.coalesce === false) body.coalesce = false;
  const ops = f.throttleOps === undefined ? undefined : Number(f.throttleOps);
  if (ops !== undefined && !(ops > 0))
    throw new CliFailure(
      `--throttle-ops must be a number > 0, got ${JSON.stringify(f.throttleOps)}`,
      Exit.Usage,
    );
  const burst = intFlag(f.throttleBurst, '--throttle-burst', 1);
  if (burst !== undefined && ops === undefined)
    throw new CliFailure('--throttle-burst goes with --throttle-ops', Exit.Usage);
  if (ops !== undefined) body.throttle = { opsPerSec: ops, burst: burst ?? Math.max(1, Math.ceil(ops)) };
  const flushMs = intFlag(f.flushMs, '--flush-ms', 1);
  if (f.aggregate === true || flushMs !== undefined || f.async === true)
    body.aggregate = {
      ...(flushMs === undefined ? {} : { flushMs }),
      mode: f.async === true ? 'async' : 'sync',
    };
  const buckets = intFlag(f.salt, '--salt', 2);
  if (buckets !== undefined) body.salt = { buckets };
  const count = intFlag(f.replicas, '--replicas', 1);
  if (count !== undefined) body.replicas = { count };
  if (!REMEDIES.some((r) => body[r] !== undefined))
    throw new CliFailure(
      'name at least one remedy: --cache, --throttle-ops N, --aggregate, --salt N, --replicas N',
      Exit.Usage,
    );
  body.reason = f.reason;
  return body;
}

function printPolicy(p: PolicyJson): void {
  console.log(`key          ${p.key}`);
  console.log(`consistency  ${p.policy.consistency}`);
  console.log(`remedies     ${remedies(p.policy)}`);
  console.log(`since        ${when(p.since)}`);
  if (p.actions !== undefined) console.log(`actions      ${p.actions.join(', ') || '-'}`);
  for (const [name, status] of Object.entries(p.status))
    console.log(`${name.padEnd(12)} ${JSON.stringify(status)}`);
}

/** Registers `policies`. */
export function addPoliciesCommand(program: Command): void {
  const cmd = program
    .command('policies')
    .description(
      'read and set key policies (cache, replicas, aggregation, salting, throttling) on a running hotshard',
    );

  withApiFlags(cmd.command('list', { isDefault: true }).description('every key policy'))
    .option('--json', 'print the JSON answer')
    .action((f: ApiFlags & { json?: boolean }) =>
      runCli('policies', async () => {
        const res = await callApi<{ remedies: string[]; policies: PolicyJson[] }>(f, 'GET', '/policies');
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        if (res.policies.length === 0) console.log('no key policies');
        else
          console.log(
            table(
              ['KEY', 'CONSISTENCY', 'REMEDIES', 'SINCE'],
              res.policies.map((p) => [p.key, p.policy.consistency, remedies(p.policy), when(p.since)]),
            ),
          );
        console.log(`\nremedies available: ${res.remedies.join(', ') || 'none'}`);
      }),
    );

  withApiFlags(
    cmd.command('get').argument('<key>').description("one key's policy and what its remedies are doing"),
  )
    .option('--json', 'print the JSON answer')
    .action((key: string, f: ApiFlags & { json?: boolean }) =>
      runCli('policies', async () => {
        const p = await callApi<PolicyJson>(f, 'GET', `/policies/${keyPath(key)}`);
        if (f.json === true) console.log(JSON.stringify(p, null, 2));
        else printPolicy(p);
      }),
    );

  withApiFlags(
    cmd.command('set').argument('<key>').description("set (replace) a key's policy; needs the admin token"),
  )
    .option('--reason <text>', 'why (kept in the actions log)', 'set by hand (hotshard CLI)')
    .option('--strong', 'consistency strong: never stale (replicas, not the cache)')
    .option('--cache', 'cache the key’s reads (coherent; with coalescing)')
    .option(
      '--max-stale-ms <n>',
      'cache: staleness ceiling for writes that bypass this router (default 1000)',
    )
    .option('--stale-while-revalidate', 'cache: serve a stale entry while one refresh is in flight')
    .option('--no-coalesce', 'do not merge concurrent reads of the key into one')
    .option('--throttle-ops <n>', 'throttle the key to n ops/s')
    .option('--throttle-burst <n>', 'throttle: requests that may arrive at once (default: ops/s)')
    .option('--aggregate', 'batch INCR/INCRBY/DECR/DECRBY into one INCRBY')
    .option('--flush-ms <n>', 'aggregate: longest a batch waits (default 2)')
    .option('--async', 'aggregate: reply before the flush (may lose ≤ flush-ms on a crash)')
    .option('--salt <buckets>', 'spread the counter over this many sub-keys')
    .option('--replicas <n>', 'keep n copies on other nodes (with --strong)')
    .option('--json', 'print the JSON answer')
    .action((key: string, f: SetFlags) =>
      runCli('policies', async () => {
        const body = policyFromFlags(f);
        const res = await callApi<{ action: ActionJson; policy: PolicyJson | null }>(
          f,
          'PUT',
          `/policies/${keyPath(key)}`,
          body,
        );
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(`${res.action.id} ${res.action.state}: policy of '${key}' set`);
        if (res.policy !== null) printPolicy(res.policy);
      }),
    );

  withApiFlags(
    cmd
      .command('delete')
      .argument('<key>')
      .description("remove a key's policy (back to the plain route); needs the admin token"),
  )
    .option('--reason <text>', 'why (kept in the actions log)', 'removed by hand (hotshard CLI)')
    .action((key: string, f: ApiFlags & { reason: string }) =>
      runCli('policies', async () => {
        const res = await callApi<{ action: ActionJson }>(f, 'DELETE', `/policies/${keyPath(key)}`, {
          reason: f.reason,
        });
        console.log(`${res.action.id} ${res.action.state}: policy of '${key}' removed`);
      }),
    );
}

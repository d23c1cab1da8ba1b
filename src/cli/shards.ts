/**
 * `hotshard shards`: the routing table of a running hotshard (GET /shards),
 * one shard with its load, and its verbs (need the admin token). A move or a
 * merge across nodes shows a progress bar until it ends (`--no-wait`: return
 * at once with the action's id).
 *
 *   hotshard shards [ID]
 *   hotshard shards split ID [--at POSITION] [--reason TEXT]
 *   hotshard shards move ID NODE [--no-wait] [--reason TEXT]
 *   hotshard shards merge ID [--no-wait] [--reason TEXT]
 *   hotshard shards throttle ID OPS|off [--reason TEXT]
 */
import type { Command } from 'commander';
import { FINAL_STATES, followAction, type FollowedAction } from './action-progress.js';
import {
  callApi,
  CliFailure,
  Exit,
  intFlag,
  runCli,
  table,
  withApiFlags,
  type ApiFlags,
} from './api-client.js';

interface ShardRow {
  shard_id: string;
  key_range: [string, string | null];
  node: string;
  capacity: number | null;
  status: string;
  node_status: string;
  throttle_ops_per_sec?: number | null;
}

interface VerbFlags extends ApiFlags {
  reason?: string;
  json?: boolean;
  wait?: boolean;
  pollMs?: string;
}

const range = (r: ShardRow['key_range']): string => `[${r[0]}, ${r[1] ?? 'end'})`;

function rowsTable(rows: readonly ShardRow[]): string {
  return table(
    ['SHARD', 'RANGE', 'NODE', 'STATUS', 'NODE STATUS', 'CAPACITY', 'THROTTLE'],
    rows.map((s) => [
      s.shard_id,
      range(s.key_range),
      s.node,
      s.status,
      s.node_status,
      s.capacity === null ? '-' : `${s.capacity} ops/s`,
      s.throttle_ops_per_sec == null ? '-' : `${s.throttle_ops_per_sec} ops/s`,
    ]),
  );
}

const body = (f: VerbFlags, fields: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...fields,
  ...(f.reason === undefined ? {} : { reason: f.reason }),
});

/** After a 202: follow the action to its end (exit 1 unless done), or print its id and return. */
export async function finishLongOperation(f: VerbFlags, action: FollowedAction, what: string): Promise<void> {
  if (f.wait === false || FINAL_STATES.has(action.state)) {
    console.log(`${action.id} ${action.state}: ${what}`);
    if (f.wait === false)
      console.log(`follow it: hotshard actions ${action.id}; stop it: hotshard actions cancel ${action.id}`);
    return;
  }
  console.log(`${action.id} ${action.state}: ${what}`);
  // Ctrl-C stops watching, not the operation: it runs in the server.
  process.once('SIGINT', () => {
    console.error(`\nstopped watching; ${action.id} goes on (hotshard actions cancel ${action.id} stops it)`);
    process.exit(130);
  });
  const end = await followAction(f, action.id, {
    pollMs: intFlag(f.pollMs, '--poll-ms', 10) ?? 500,
    out: process.stderr,
  });
  console.log(`${end.id} ${end.state}${end.detail ? `: ${end.detail}` : ''}`);
  if (end.state !== 'done') throw new CliFailure(`${end.id} ended ${end.state}`, Exit.Refused);
}

/** Adds the flags every state-changing verb shares. */
function verb(cmd: Command, long = false): Command {
  withApiFlags(cmd)
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the JSON answer');
  if (long)
    cmd
      .option('--no-wait', 'return at once with the action id instead of showing progress')
      .option('--poll-ms <n>', 'how often to poll the action while showing progress (default 500)');
  return cmd;
}

/** Registers `shards`. */
export function addShardsCommand(program: Command): void {
  const cmd = program
    .command('shards')
    .description(
      'the routing table of a running hotshard: list, inspect, split, move, merge, throttle shards',
    );

  withApiFlags(cmd.command('list [id]', { isDefault: true }).description('every shard, or one with its load'))
    .option('--window <seconds>', 'with ID: the load over the last N seconds (default 10)')
    .option('--json', 'print the JSON answer')
    .action((id: string | undefined, f: ApiFlags & { json?: boolean; window?: string }) =>
      runCli('shards', async () => {
        if (id === undefined) {
          const res = await callApi<{ version: number; partitioner: string; shards: ShardRow[] }>(
            f,
            'GET',
            '/shards',
          );
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          console.log(rowsTable(res.shards));
          return console.log(
            `\nrouting table v${res.version}, ${res.partitioner} partitioner, ${res.shards.length} shards`,
          );
        }
        const window = intFlag(f.window, '--window', 1) ?? 10;
        const res = await callApi<{
          shard: ShardRow;
          version: number;
          load: Record<string, number> | null;
          throttle: Record<string, number> | null;
          actions: FollowedAction[];
        }>(f, 'GET', `/shards/${encodeURIComponent(id)}?window=${window}`);
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(rowsTable([res.shard]));
        const l = res.load;
        console.log(
          l === null
            ? '\nload      - (telemetry is off)'
            : `\nload      ${l.opsPerSec!.toFixed(1)} ops/s over ${l.windowSeconds} s: ${l.reads} reads, ${l.writes} writes, ` +
                `p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, errors ${l.errors}, shed ${l.shed}`,
        );
        if (res.throttle !== null)
          console.log(
            `throttle  ${res.throttle.opsPerSec} ops/s (burst ${res.throttle.burst}): ${res.throttle.admitted} admitted, ${res.throttle.throttled} refused`,
          );
        for (const a of res.actions) console.log(`action    ${a.id} ${a.state}`);
      }),
    );

  verb(cmd.command('split <id>').description('split a shard (metadata only; both halves stay on its node)'))
    .option(
      '--at <position>',
      'where: a position in the partitioner’s text (default: the middle of the range)',
    )
    .action((id: string, f: VerbFlags & { at?: string }) =>
      runCli('shards', async () => {
        const res = await callApi<{ version: number; shards: ShardRow[] }>(
          f,
          'POST',
          `/shards/${encodeURIComponent(id)}:split`,
          body(f, f.at === undefined ? {} : { at: f.at }),
        );
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(`split ${id}: routing table v${res.version}`);
        console.log(rowsTable(res.shards));
      }),
    );

  verb(
    cmd.command('move <id> <node>').description('move a shard to another node, live, with a progress bar'),
    true,
  ).action((id: string, node: string, f: VerbFlags) =>
    runCli('shards', async () => {
      const res = await callApi<{ action: FollowedAction }>(
        f,
        'POST',
        `/shards/${encodeURIComponent(id)}:move`,
        body(f, { node }),
      );
      if (f.json === true && f.wait === false) return console.log(JSON.stringify(res, null, 2));
      await finishLongOperation(f, res.action, `moving shard ${id} to ${node}`);
    }),
  );

  verb(cmd.command('merge <id>').description('join a shard with its right-hand neighbour'), true).action(
    (id: string, f: VerbFlags) =>
      runCli('shards', async () => {
        const res = await callApi<{ action?: FollowedAction; version?: number; shard?: ShardRow }>(
          f,
          'POST',
          `/shards/${encodeURIComponent(id)}:merge`,
          body(f),
        );
        if (f.json === true && (f.wait === false || res.action === undefined))
          return console.log(JSON.stringify(res, null, 2));
        if (res.action !== undefined) return finishLongOperation(f, res.action, `merging shard ${id}`);
        console.log(`merged ${id}: routing table v${res.version}`);
        console.log(rowsTable([res.shard!]));
      }),
  );

  verb(
    cmd
      .command('throttle <id> <ops>')
      .description('limit a shard to OPS requests a second; "off" lifts the limit'),
  ).action((id: string, ops: string, f: VerbFlags) =>
    runCli('shards', async () => {
      const opsPerSec = ops === 'off' ? null : Number(ops);
      if (opsPerSec !== null && !(Number.isFinite(opsPerSec) && opsPerSec > 0))
        throw new CliFailure(`OPS must be a number > 0 or "off", got ${JSON.stringify(ops)}`, Exit.Usage);
      const res = await callApi<{ shard: string; limit: { opsPerSec: number; burst: number } | null }>(
        f,
        'POST',
        `/shards/${encodeURIComponent(id)}:throttle`,
        body(f, { opsPerSec }),
      );
      if (f.json === true) return console.log(JSON.stringify(res, null, 2));
      console.log(
        res.limit === null
          ? `shard ${res.shard}: no limit`
          : `shard ${res.shard}: at most ${res.limit.opsPerSec} ops/s (burst ${res.limit.burst})`,
      );
    }),
  );
}

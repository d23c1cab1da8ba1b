/**
 * `hotshard nodes`: the nodes of a running hotshard (GET /nodes) and their
 * verbs (need the admin token): add a Redis node, or drain one (its shards
 * move away, with a progress bar, then it is removed).
 *
 *   hotshard nodes
 *   hotshard nodes add HOST:PORT [--reason TEXT]
 *   hotshard nodes drain ID [--no-wait] [--reason TEXT]
 */
import type { Command } from 'commander';
import type { FollowedAction } from './action-progress.js';
import { callApi, runCli, table, when, withApiFlags, type ApiFlags } from './api-client.js';
import { finishLongOperation } from './shards.js';

interface NodeRow {
  id: string;
  kind: string;
  address: string | null;
  status: string;
  since: number;
  reason: string | null;
  latencyMs: number | null;
  shards: number;
}

interface VerbFlags extends ApiFlags {
  reason?: string;
  json?: boolean;
  wait?: boolean;
  pollMs?: string;
}

/** Registers `nodes`. */
export function addNodesCommand(program: Command): void {
  const cmd = program
    .command('nodes')
    .description('the nodes of a running hotshard: list them, add a Redis node, drain one');

  withApiFlags(
    cmd.command('list', { isDefault: true }).description('every node with its health and shard count'),
  )
    .option('--json', 'print the JSON answer')
    .action((f: ApiFlags & { json?: boolean }) =>
      runCli('nodes', async () => {
        const res = await callApi<{ nodes: NodeRow[] }>(f, 'GET', '/nodes');
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(
          table(
            ['NODE', 'KIND', 'ADDRESS', 'STATUS', 'SINCE', 'LATENCY', 'SHARDS', 'REASON'],
            res.nodes.map((n) => [
              n.id,
              n.kind,
              n.address ?? '-',
              n.status,
              when(n.since),
              n.latencyMs === null ? '-' : `${n.latencyMs} ms`,
              String(n.shards),
              n.reason ?? '',
            ]),
          ),
        );
      }),
    );

  withApiFlags(
    cmd.command('add <address>').description('add a Redis node (host:port) that shards can be moved onto'),
  )
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the JSON answer')
    .action((address: string, f: VerbFlags) =>
      runCli('nodes', async () => {
        const res = await callApi<{ node: string; version: number }>(f, 'POST', '/nodes', {
          address,
          ...(f.reason === undefined ? {} : { reason: f.reason }),
        });
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(`node ${res.node} added: routing table v${res.version}`);
      }),
    );

  withApiFlags(cmd.command('drain <id>').description('move every shard off a node, then remove it'))
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the JSON answer')
    .option('--no-wait', 'return at once with the action id instead of showing progress')
    .option('--poll-ms <n>', 'how often to poll the action while showing progress (default 500)')
    .action((id: string, f: VerbFlags) =>
      runCli('nodes', async () => {
        const query = f.reason === undefined ? '' : `?reason=${encodeURIComponent(f.reason)}`;
        const res = await callApi<{ action: FollowedAction }>(
          f,
          'DELETE',
          `/nodes/${encodeURIComponent(id)}${query}`,
        );
        if (f.json === true && f.wait === false) return console.log(JSON.stringify(res, null, 2));
        await finishLongOperation(f, res.action, `draining node ${id}`);
      }),
    );
}

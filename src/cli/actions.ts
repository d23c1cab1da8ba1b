/**
 * `hotshard actions`: the actions log of a running hotshard (GET /actions),
 * one action in full, or its revert (needs the admin token).
 *
 *   hotshard actions [--state done] [--kind cache] [--limit 20]
 *   hotshard actions a-12
 *   hotshard actions a-12 --revert --reason "false alarm"
 */
import type { Command } from 'commander';
import type { ActionRecord } from '../mitigate/action.js';
import { callApi, intFlag, runCli, table, when, withApiFlags, type ApiFlags } from './api-client.js';

interface ActionsFlags extends ApiFlags {
  state?: string;
  kind?: string;
  limit?: string;
  revert?: boolean;
  reason: string;
  json?: boolean;
}

function printAction(a: ActionRecord, status: Record<string, unknown> | null): void {
  const lines: [string, string][] = [
    ['id', a.id],
    ['kind', a.kind],
    ['subject', `${a.subject.type} ${a.subject.name}`],
    ['state', a.state],
    ['outcome', a.outcome],
    ['by', a.by],
    ['reason', a.reason],
    ['settings', JSON.stringify(a.settings)],
    ['created', when(a.createdAt)],
    ['updated', when(a.updatedAt)],
  ];
  if (a.revertedAt !== null) lines.push(['reverted', when(a.revertedAt)]);
  if (a.detail !== null) lines.push(['detail', a.detail]);
  if (a.hotspot !== null) lines.push(['hotspot', a.hotspot.id]);
  if (a.prediction !== null)
    lines.push([
      'predicted',
      `${a.prediction.metric} ${a.prediction.before ?? '?'} → ${a.prediction.direction === 'below' ? '≤' : '≥'} ${a.prediction.expected}`,
    ]);
  if (a.measurement !== null)
    lines.push(['measured', `${a.measurement.value ?? '?'} at ${when(a.measurement.at)}`]);
  if (status !== null) lines.push(['now', JSON.stringify(status)]);
  for (const [k, v] of lines) console.log(`${k.padEnd(10)} ${v}`);
}

/** Registers `actions`. */
export function addActionsCommand(program: Command): void {
  withApiFlags(
    program
      .command('actions')
      .argument('[id]', 'one action in full')
      .description('the actions log: every mitigation change, who made it and why, and how it turned out'),
  )
    .option(
      '--state <state>',
      'only actions in this state (pending, running, done, failed, cancelled, rolled-back)',
    )
    .option(
      '--kind <kind>',
      'only actions of this kind (cache, replicate, aggregate, salt, throttle-key, policy, ...)',
    )
    .option('--limit <n>', 'at most n, newest first (default 50)')
    .option('--revert', 'revert the action ID (needs the admin token)')
    .option('--reason <text>', 'why, with --revert', 'reverted by hand (hotshard CLI)')
    .option('--json', 'print the JSON answer')
    .action((id: string | undefined, f: ActionsFlags) =>
      runCli('actions', async () => {
        if (id !== undefined) {
          const path = `/actions/${encodeURIComponent(id)}`;
          if (f.revert === true) {
            const res = await callApi<{ action: ActionRecord }>(f, 'POST', `${path}:revert`, {
              reason: f.reason,
            });
            if (f.json === true) return console.log(JSON.stringify(res, null, 2));
            return printAction(res.action, null);
          }
          const res = await callApi<{ action: ActionRecord; status: Record<string, unknown> | null }>(
            f,
            'GET',
            path,
          );
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          return printAction(res.action, res.status);
        }
        const query = new URLSearchParams();
        if (f.state !== undefined) query.set('state', f.state);
        if (f.kind !== undefined) query.set('kind', f.kind);
        query.set('limit', String(intFlag(f.limit, '--limit', 1) ?? 50));
        const res = await callApi<{ mode: string; actions: ActionRecord[] }>(f, 'GET', `/actions?${query}`);
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        if (res.actions.length === 0) console.log('no actions');
        else
          console.log(
            table(
              ['ID', 'WHEN', 'KIND', 'SUBJECT', 'STATE', 'OUTCOME', 'BY', 'REASON'],
              res.actions.map((a) => [
                a.id,
                when(a.createdAt),
                a.kind,
                a.subject.name,
                a.state,
                a.outcome,
                a.by,
                a.reason,
              ]),
            ),
          );
        console.log(`\nautomation: ${res.mode}`);
      }),
    );
}

/**
 * `hotshard actions`: the actions log of a running hotshard (GET /actions),
 * one action in full, or its revert (needs the admin token).
 *
 *   hotshard actions [--state done] [--kind cache] [--limit 20]
 *   hotshard actions a-12
 *   hotshard actions a-12 --revert --reason "false alarm"
 *   hotshard actions cancel a-12 [--reason TEXT]
 *   hotshard actions limit a-12 --keys-per-sec 50000 --bytes-per-sec 20000000   (a running move; "off": no limit)
 */
import type { Command } from 'commander';
import type { ActionRecord } from '../mitigate/action.js';
import { formatActionProgress, type FollowedAction } from './action-progress.js';
import {
  callApi,
  CliFailure,
  Exit,
  intFlag,
  runCli,
  table,
  when,
  withApiFlags,
  type ApiFlags,
} from './api-client.js';

interface ActionsFlags extends ApiFlags {
  state?: string;
  kind?: string;
  limit?: string;
  revert?: boolean;
  reason: string;
  json?: boolean;
}

/** A long operation (a move, a drain): it carries progress instead of an outcome. */
type LongAction = FollowedAction & {
  kind: string;
  subject: { type: string; name: string };
  by: string;
  reason: string | null;
  settings: Record<string, unknown>;
  limits?: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
};

const isLong = (a: ActionRecord | LongAction): a is LongAction => 'progress' in a;

function printLongAction(a: LongAction): void {
  const lines: [string, string][] = [
    ['id', a.id],
    ['kind', a.kind],
    ['subject', `${a.subject.type} ${a.subject.name}`],
    ['state', a.state],
    ['by', a.by],
    ['reason', a.reason ?? '-'],
    ['settings', JSON.stringify(a.settings)],
    ['limits', JSON.stringify(a.limits ?? {})],
    ['created', when(a.createdAt)],
    ['updated', when(a.updatedAt)],
    ['progress', formatActionProgress(a)],
  ];
  if (a.detail) lines.push(['detail', a.detail]);
  for (const [k, v] of lines) console.log(`${k.padEnd(10)} ${v}`);
}

function printAction(a: ActionRecord | LongAction, status: Record<string, unknown> | null): void {
  if (isLong(a)) return printLongAction(a);
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

/** A copy limit flag: a number > 0, or "off" (no limit). */
function limitFlag(text: string | undefined, flag: string): number | null | undefined {
  if (text === undefined || text === 'off') return text === undefined ? undefined : null;
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0))
    throw new CliFailure(`${flag} must be a number > 0 or "off", got ${JSON.stringify(text)}`, Exit.Usage);
  return n;
}

/** Registers `actions`. */
export function addActionsCommand(program: Command): void {
  const cmd = program
    .command('actions')
    .description(
      'the actions log: every mitigation change and long operation, who made it and why, and how it turned out',
    );

  withApiFlags(
    cmd
      .command('list', { isDefault: true })
      .argument('[id]', 'one action in full')
      .description('the actions log, or one action in full'),
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
          const res = await callApi<{
            action: ActionRecord | LongAction;
            status: Record<string, unknown> | null;
          }>(f, 'GET', path);
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          return printAction(res.action, res.status);
        }
        const query = new URLSearchParams();
        if (f.state !== undefined) query.set('state', f.state);
        if (f.kind !== undefined) query.set('kind', f.kind);
        query.set('limit', String(intFlag(f.limit, '--limit', 1) ?? 50));
        const res = await callApi<{
          mode: string;
          actions: (Omit<ActionRecord, 'outcome' | 'reason'> & { outcome?: string; reason: string | null })[];
        }>(f, 'GET', `/actions?${query}`);
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
                // A long operation has progress, not an outcome.
                a.outcome ?? '-',
                a.by,
                a.reason ?? '-',
              ]),
            ),
          );
        console.log(`\nautomation: ${res.mode}`);
      }),
    );

  withApiFlags(
    cmd
      .command('cancel <id>')
      .description('stop an action before it takes effect (a move: back to the old state)'),
  )
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the JSON answer')
    .action((id: string, f: ApiFlags & { reason?: string; json?: boolean }) =>
      runCli('actions', async () => {
        const res = await callApi<{ action: ActionRecord | LongAction }>(
          f,
          'POST',
          `/actions/${encodeURIComponent(id)}:cancel`,
          f.reason === undefined ? {} : { reason: f.reason },
        );
        if (f.json === true) return console.log(JSON.stringify(res, null, 2));
        console.log(
          `${res.action.id} ${res.action.state}${res.action.detail ? `: ${res.action.detail}` : ''}`,
        );
      }),
    );

  withApiFlags(cmd.command('limit <id>').description("change a running move's copy throttle"))
    .option('--keys-per-sec <n>', 'at most n keys copied a second ("off": no limit)')
    .option('--bytes-per-sec <n>', 'at most n bytes copied a second ("off": no limit)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'print the JSON answer')
    .action(
      (
        id: string,
        f: ApiFlags & { keysPerSec?: string; bytesPerSec?: string; reason?: string; json?: boolean },
      ) =>
        runCli('actions', async () => {
          const keys = limitFlag(f.keysPerSec, '--keys-per-sec');
          const bytes = limitFlag(f.bytesPerSec, '--bytes-per-sec');
          if (keys === undefined && bytes === undefined)
            throw new CliFailure('give --keys-per-sec and/or --bytes-per-sec', Exit.Usage);
          const res = await callApi<{ action: ActionRecord | LongAction }>(
            f,
            'PATCH',
            `/actions/${encodeURIComponent(id)}`,
            {
              ...(keys === undefined ? {} : { maxKeysPerSec: keys }),
              ...(bytes === undefined ? {} : { maxBytesPerSec: bytes }),
              ...(f.reason === undefined ? {} : { reason: f.reason }),
            },
          );
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          printAction(res.action, null);
        }),
    );
}

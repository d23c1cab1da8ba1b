/**
 * `hotshard automation`: what the planner may do on a running hotshard
 * (GET/POST /automation). Changing it needs the admin token.
 *
 *   hotshard automation
 *   hotshard automation dry-run --reason "watch first"
 *   hotshard automation --do-not-touch 'session:*,config' --reason "..."
 */
import type { Command } from 'commander';
import { AUTOMATION_MODES } from '../mitigate/executor.js';
import { callApi, CliFailure, Exit, runCli, table, when, withApiFlags, type ApiFlags } from './api-client.js';

interface AutomationJson {
  mode: string;
  doNotTouch: string[];
  changes: { at: number; mode: string; doNotTouch: string[]; by: string; reason: string }[];
}

/** Registers `automation`. */
export function addAutomationCommand(program: Command): void {
  withApiFlags(
    program
      .command('automation')
      .argument('[mode]', AUTOMATION_MODES.join(' | '))
      .description(
        'show or set the automation mode: auto, dry-run (recommend only), manual (operators only), frozen (nothing changes)',
      ),
  )
    .option(
      '--do-not-touch <subjects>',
      'comma-separated subjects the planner must leave alone (prefix* allowed); "" clears',
    )
    .option('--reason <text>', 'why (kept with the change)', 'set by hand (hotshard CLI)')
    .option('--json', 'print the JSON answer')
    .action(
      (mode: string | undefined, f: ApiFlags & { doNotTouch?: string; reason: string; json?: boolean }) =>
        runCli('automation', async () => {
          if (mode !== undefined && !(AUTOMATION_MODES as readonly string[]).includes(mode))
            throw new CliFailure(
              `mode must be one of ${AUTOMATION_MODES.join(', ')}, got '${mode}'`,
              Exit.Usage,
            );
          if (mode !== undefined || f.doNotTouch !== undefined) {
            const doNotTouch =
              f.doNotTouch === undefined
                ? undefined
                : f.doNotTouch
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean);
            const res = await callApi<{ mode: string; doNotTouch: string[] }>(f, 'POST', '/automation', {
              ...(mode === undefined ? {} : { mode }),
              ...(doNotTouch === undefined ? {} : { doNotTouch }),
              reason: f.reason,
            });
            if (f.json === true) return console.log(JSON.stringify(res, null, 2));
            console.log(`automation: ${res.mode}; do not touch: ${res.doNotTouch.join(', ') || '-'}`);
            return;
          }
          const res = await callApi<AutomationJson>(f, 'GET', '/automation');
          if (f.json === true) return console.log(JSON.stringify(res, null, 2));
          console.log(`automation: ${res.mode}`);
          console.log(`do not touch: ${res.doNotTouch.join(', ') || '-'}`);
          if (res.changes.length > 0)
            console.log(
              '\n' +
                table(
                  ['WHEN', 'MODE', 'BY', 'REASON'],
                  res.changes.map((c) => [when(c.at), c.mode, c.by, c.reason]),
                ),
            );
        }),
    );
}

/** The `hotshard` command line: one file per command. */
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { addStartCommand } from './start.js';
import { addDemoCommand } from './demo.js';
import { addScenarioCommand } from './scenario.js';
import { addLoadCommand } from './load.js';
import { addReplayCommand } from './replay.js';
import { addPoliciesCommand } from './policies.js';
import { addActionsCommand } from './actions.js';
import { addAutomationCommand } from './automation.js';
import { addShardsCommand } from './shards.js';
import { addNodesCommand } from './nodes.js';
import { addAuditCommand } from './audit.js';
import { addIncidentsCommand } from './incidents.js';
import { followLauncher } from './parent.js';
import { applyRuntimeFlags } from './node-flags.js';

// Before any request is served: V8 reads it as it collects (see node-flags.ts).
applyRuntimeFlags(process.argv[2], process.execArgv);

const program = new Command('hotshard')
  .description(
    'Keeps sharded key-value stores healthy under skewed traffic: a Redis-protocol routing proxy and control plane.',
  )
  .version(VERSION);
addStartCommand(program);
addDemoCommand(program);
addScenarioCommand(program);
addLoadCommand(program);
addReplayCommand(program);
addPoliciesCommand(program);
addActionsCommand(program);
addAutomationCommand(program);
addShardsCommand(program);
addNodesCommand(program);
addAuditCommand(program);
addIncidentsCommand(program);
followLauncher();
await program.parseAsync(process.argv);

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
import { followLauncher } from './parent.js';

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
followLauncher();
await program.parseAsync(process.argv);

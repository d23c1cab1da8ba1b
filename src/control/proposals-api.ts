/**
 * What the range/node planner would do now, as Cruise Control's proposals
 * show it: each split, move and merge with its reason and predicted effect,
 * what it would act on but does not (and why), each node's load now and
 * after, the move budget, and which shards are being sampled for split points.
 *
 *   GET /proposals   the latest plan (at most one detector tick old)
 *
 * A read: no admin token needed (the read token, or a client's credentials,
 * as any GET; http-auth.ts). It changes nothing, whatever the automation mode.
 */
import type { FastifyInstance } from 'fastify';
import type { RangePlan, RangePlannerSettings } from '../rebalance/range-planner-io.js';
import type { SamplingView } from '../rebalance/range-planning.js';

/** What GET /proposals reads. */
export interface ProposalsApiDeps {
  /** The latest plan (RangePlanning.latest). */
  readonly plan: () => RangePlan;
  /** The shards being sampled for split points (RangePlanning.sampling). */
  readonly sampling?: () => readonly SamplingView[];
  readonly settings: RangePlannerSettings;
}

/** Registers GET /proposals. */
export function registerProposalsApi(app: FastifyInstance, deps: ProposalsApiDeps): void {
  app.get('/proposals', () => {
    const plan = deps.plan();
    const count = (kind: string): number => plan.proposals.filter((p) => p.kind === kind).length;
    const max = (pick: 'utilizationBefore' | 'utilizationAfter'): number | null => {
      const us = plan.nodes.map((n) => n[pick]).filter((u): u is number => u !== null);
      return us.length === 0 ? null : Math.max(...us);
    };
    return {
      at: plan.at,
      tableVersion: plan.tableVersion,
      summary: {
        splits: count('split'),
        moves: count('move'),
        merges: count('merge'),
        deferred: plan.deferred.length,
        maxNodeUtilizationBefore: max('utilizationBefore'),
        maxNodeUtilizationAfter: max('utilizationAfter'),
      },
      proposals: plan.proposals,
      deferred: plan.deferred,
      nodes: plan.nodes,
      budget: {
        ...plan.budget,
        maxConcurrentMoves: deps.settings.maxConcurrentMoves,
        maxMovesPerHour: deps.settings.maxMovesPerHour,
        copyBytesPerSec: deps.settings.copyBytesPerSec,
      },
      sampling: deps.sampling?.() ?? [],
    };
  });
}

/** The deps of GET /proposals from a process's range planning. */
export function rangeProposals(r: {
  latest(): RangePlan;
  sampling(): readonly SamplingView[];
  readonly planner: { readonly settings: RangePlannerSettings };
}): ProposalsApiDeps {
  return { plan: () => r.latest(), sampling: () => r.sampling(), settings: r.planner.settings };
}

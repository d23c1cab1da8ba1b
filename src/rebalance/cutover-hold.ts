/**
 * The seam between a move's cutover and the other routers sharing its config
 * store. A router's own `RangeGate` only holds its own requests; with several
 * routers the others keep writing to the source during the final catch-up
 * and until they install the new version, and those writes are lost with the
 * cleanup. So a move given a coordinator (src/store/cutover.ts on a shared
 * store) asks every other live router to hold the range too before its final
 * catch-up, and switches only once they all have.
 */
import type { RoutingTable } from '../keyspace/routing-table.js';

/** One cutover attempt's hold, as the mover asks for it. */
export interface HoldRequest {
  /** `<move id>#<attempt>`. */
  readonly id: string;
  readonly moveId: string;
  readonly shard: string;
  readonly source: string;
  readonly target: string;
  /** The routing version in force here; the switch is the next one. */
  readonly fromVersion: number;
  /** How long a router holds before it ends the hold itself and asks the store where the range is. */
  readonly timeoutMs: number;
  /** How long the mover waits for the acks before it gives this attempt up. */
  readonly ackWaitMs: number;
}

/** Which live routers acknowledged the hold, and which did not in time. */
export interface HoldGrant {
  readonly acked: readonly string[];
  /** Empty: every live router holds the range and has heard every change it made to the source. */
  readonly missing: readonly string[];
}

/** The switch's save failed in a way that leaves its outcome unknown (the store stopped answering). */
export class SwitchUnknown extends Error {
  override readonly name = 'SwitchUnknown';
}

/** What a move's cutover asks of the other routers. */
export interface CutoverCoordinator {
  /**
   * Publishes the hold and waits (bounded) for every other live router's ack;
   * when one is missing, the hold is ended (aborted) before this resolves.
   */
  hold(request: HoldRequest): Promise<HoldGrant>;
  /**
   * Saves `table` as the next version, compare-and-set and with the hold
   * switched in one transaction, then installs it here. Rejects with
   * VersionConflict / HoldLost when nothing was saved, with
   * {@link SwitchUnknown} when the store cannot say.
   */
  switchTo(holdId: string, table: RoutingTable, reason: string): Promise<void>;
  /** Ends the attempt without a switch: the routers send the range's requests to the source again. */
  abort(holdId: string): Promise<void>;
}

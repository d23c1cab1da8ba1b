/**
 * A long operation's journal over the config store: the move engine saves
 * its plain-JSON state at every phase change, and after a restart lists the
 * operations still open to resume or roll back. The engine says which
 * states are open (not yet done, failed, cancelled or rolled back).
 */
import type { ConfigStore } from './store.js';

/** What a resumable operation hands its journal. */
export interface Journal<S extends { readonly id: string }> {
  /** Keeps `state` as the operation's latest. */
  save(state: S): Promise<void>;
  /** The states of operations not yet ended, oldest first (what a restart resumes). */
  open(): Promise<S[]>;
  /** Forgets an operation. */
  forget(id: string): Promise<void>;
}

/**
 * A journal in the store's `moves` table.
 *
 * @example
 * const journal = storeJournal<MoveState>(hs.store.store, (s) => !['done', 'failed', 'cancelled', 'rolled-back'].includes(s.phase));
 * for (const state of await journal.open()) resume(state);
 */
export function storeJournal<S extends { readonly id: string }>(
  store: ConfigStore,
  isOpen: (state: S) => boolean,
): Journal<S> {
  return {
    save: (state) => store.moves.put({ id: state.id, open: isOpen(state), state }),
    open: async () => (await store.moves.listOpen()).map((m) => m.state as S),
    forget: async (id) => {
      await store.moves.delete(id);
    },
  };
}

import type { RecipientRow } from '../store/recipients-repo.js';

/*
 * What the scheduler and the destination workers it starts share: a destination's waiting
 * mail, and the gate that says how much of it may go now.
 */

/**
 * Limits per destination (the throttle answers these; without one, the defaults apply).
 * A destination is the recipient domain; several destinations may share one budget (an MX
 * group), which is why connection counts are reported back to the gate.
 */
export interface DestinationGate {
  /**
   * How many connections this destination may have open now (those it has included); 0 when
   * a budget it shares is using all its connections (a closing connection pokes the scheduler).
   */
  maxConnections(domain: string): number;
  /** How many messages one connection may carry. */
  messagesPerConnection(domain: string): number;
  /**
   * Asks to send one message now. null: go ahead (the message is counted); a number: the
   * time when the destination will have budget again. A promise when the answer takes a round
   * trip (a cluster's shared budget). `waiting`: how many messages wait to go after this one
   * (a shared budget takes no more than they need at once).
   */
  takeMessage(domain: string, now: number, waiting?: number): number | null | Promise<number | null>;
  /**
   * Optional: a promise while the gate is still learning which budget the domain draws on (an
   * MX lookup); null when it knows. The destination is dispatched once it settles.
   */
  learn?(domain: string): Promise<void> | null;
  /** Optional: when the next message may go, without taking it (null: now). */
  readyAt?(domain: string, now: number): number | null;
  /**
   * Optional: when each of the next `count` messages will have budget (non-decreasing), so that
   * waiting messages are handed back spread over time, not all due at the same instant.
   */
  releaseTimes?(domain: string, now: number, count: number): number[];
  /** Optional: a connection to the destination opens / closes (shared connection caps). */
  connectionOpened?(domain: string): void;
  connectionClosed?(domain: string): void;
  /**
   * Optional: mail waits for more connections than maxConnections allows (a cluster's slots are
   * taken from the store in the background; the gate pokes the scheduler when it holds one more).
   */
  wantConnection?(domain: string): void;
}

export interface Destination {
  domain: string;
  /**
   * Claimed recipients grouped by transaction, oldest first; taken by workers one group at a
   * time. Keyed by message id, or by message and recipient id when each recipient gets its own.
   */
  pending: Map<string, RecipientRow[]>;
  active: number;
  /** Workers whose connection waits idle for more of this destination's mail: calling one ends its wait. */
  idle?: Set<() => void>;
  /** true while the gate learns the destination's budget (gate.learn). */
  learning?: boolean;
}

import type { Clock } from './clock.js';
import type { Random } from './random.js';

/**
 * Queue ids sort by acceptance time (so listings and spool directories are ordered) and carry
 * 48 random bits so two nodes, or two messages in one millisecond, never collide.
 */
export function createIdGenerator(clock: Clock, random: Random): () => string {
  return () => {
    const time = clock.now().toString(36).toUpperCase().padStart(9, '0');
    const rand = random.bytes(6).toString('hex').toUpperCase();
    return `${time}${rand}`;
  };
}

import type { Command } from 'commander';
import type { CliContext } from './context.js';

/** Further command groups (bounces, dkim, suppressions, limits, …), registered in this order. */
export const COMMAND_GROUPS: ((program: Command, ctx: CliContext) => void)[] = [];

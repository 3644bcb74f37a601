import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerDkimCommands } from './dkim.js';
import { registerDoctorCommand } from './doctor.js';
import { registerSuppressionsCommands } from './suppressions.js';

/** Further command groups (bounces, dkim, suppressions, limits, …), registered in this order. */
export const COMMAND_GROUPS: ((program: Command, ctx: CliContext) => void)[] = [
  registerSuppressionsCommands,
  registerDkimCommands,
  registerDoctorCommand,
];

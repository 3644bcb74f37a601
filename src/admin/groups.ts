import type { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerDkimCommands } from './dkim.js';
import { registerDoctorCommand } from './doctor.js';
import { registerEventsCommands } from './events.js';
import { registerLimitsCommands } from './limits.js';
import { registerQueueCommands } from './queue.js';
import { registerSuppressionsCommands } from './suppressions.js';
import { registerStatsCommand } from './stats.js';
import { registerStatusCommand } from './status.js';
import { registerBackupCommand } from './backup.js';
import { registerBouncesCommands } from './bounces.js';
import { registerReloadCommand } from './reload.js';
import { registerDevSinkCommand } from './dev-sink.js';
import { registerPruneCommand } from './prune.js';
import { registerAdminsCommands } from './admins.js';
import { registerTlsReportCommand } from './tls-report.js';
import { registerNodesCommand } from './nodes.js';

/** Further command groups (bounces, dkim, suppressions, limits, …), registered in this order. */
export const COMMAND_GROUPS: ((program: Command, ctx: CliContext) => void)[] = [
  registerSuppressionsCommands,
  registerDkimCommands,
  registerDoctorCommand,
  registerEventsCommands,
  registerLimitsCommands,
  registerQueueCommands,
  registerStatsCommand,
  registerStatusCommand,
  registerBackupCommand,
  registerReloadCommand,
  registerPruneCommand,
  (program, ctx) => registerBouncesCommands(program, ctx.io),
  registerDevSinkCommand,
  registerAdminsCommands,
  registerTlsReportCommand,
  registerNodesCommand,
];

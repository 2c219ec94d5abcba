import { Command } from 'commander';
import { SAFESIFT_VERSION } from '@safesift/core/audit/version.ts';
import { auditCommand } from './audit-command.ts';
import { cacheCommand } from './cache-command.ts';
import { jobCommands } from './cluster/job-commands.ts';
import { serviceCommands } from './cluster/service-commands.ts';
import { submitCommand } from './cluster/submit-command.ts';
import { exitCodeFor, EXIT } from './exit-codes.ts';
import { filterCommand } from './filter-command.ts';
import { k8sCommand } from './k8s/k8s-command.ts';
import { k8sLogsCommand } from './k8s/logs-command.ts';
import { k8sStatusCommand } from './k8s/status-command.ts';
import { k8sSubmitCommand } from './k8s/submit-command.ts';
import { reportCommand } from './report-command.ts';

const program = new Command('safesift')
  .description('Find benign-looking training data that breaks an aligned model\'s safety (He, Xia & Henderson, COLM 2024)')
  .version(SAFESIFT_VERSION)
  .addCommand(auditCommand())
  .addCommand(cacheCommand())
  .addCommand(filterCommand())
  .addCommand(submitCommand());
for (const command of [...jobCommands(), ...serviceCommands()]) program.addCommand(command);
program.addCommand(k8sCommand([k8sSubmitCommand(), k8sStatusCommand(), k8sLogsCommand()]));
program.addCommand(reportCommand());

program.exitOverride();
try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT.ok;
} catch (error) {
  const commanderCode = (error as { code?: string }).code;
  if (commanderCode?.startsWith('commander.')) {
    // commander printed its own message (help, version or a usage error).
    process.exitCode = commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' ? EXIT.ok : EXIT.usage;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.exitCode = exitCodeFor(error);
    process.stderr.write(`safesift: ${message}\n`);
    if (process.env.SAFESIFT_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    // Scripts asking for --json get the failure as JSON on stdout too.
    if (process.argv.includes('--json')) {
      const kind = error instanceof Error ? error.name : 'Error';
      process.stdout.write(`${JSON.stringify({ status: 'failed', error: { kind, message, exit_code: process.exitCode } })}\n`);
    }
  }
}
// A finished command must not hang on a handle something forgot to close (a worker thread, a
// socket): output gets a moment to drain, then the process ends with the code set above.
setTimeout(() => process.exit(), 5000).unref();

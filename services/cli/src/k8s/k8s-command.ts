import { Command } from 'commander';
import { renderCommand } from './render-command.ts';

/** `safesift k8s ...`: safesift on Kubernetes. More subcommands (submit, status, logs) join through `extra`. */
export function k8sCommand(extra: Command[] = []): Command {
  const group = new Command('k8s')
    .description('Run safesift on Kubernetes: render the cluster\'s manifests and one-off audit Jobs')
    .exitOverride()
    .addCommand(renderCommand());
  for (const command of extra) group.addCommand(command);
  return group;
}

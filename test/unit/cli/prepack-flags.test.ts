import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditCommand, rawAuditFlags } from '../../../services/cli/src/audit-command.ts';

async function parsedPrepack(argv: string[]): Promise<unknown> {
  let prepack: unknown = 'not called';
  const command = auditCommand().action((flags: Record<string, unknown>) => {
    prepack = rawAuditFlags(flags).prepack;
  });
  await command.parseAsync(argv, { from: 'user' });
  return prepack;
}

test('--prepack and --no-prepack fix pre-packing; neither leaves it to the plan', async () => {
  assert.equal(await parsedPrepack([]), undefined);
  assert.equal(await parsedPrepack(['--prepack']), true);
  assert.equal(await parsedPrepack(['--no-prepack']), false);
});

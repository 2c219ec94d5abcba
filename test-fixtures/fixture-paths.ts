// Where the read-only fixtures are: ../shared/fixtures beside the checkout, never copied into the
// repository. Only the tests in test-fixtures/ (`npm run test:fixtures`) use them; `npm test` does not.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
export const STORIES260K = join(FIXTURES, 'models/stories260k');
export const DATA = join(FIXTURES, 'data');
/** The paper's illegal-activities anchor sets (one harmful, two safe). */
export const ANCHORS = {
  harmful: join(DATA, 'anchors/pure-bad-illegal-activities-selected10.jsonl'),
  safe1: join(DATA, 'anchors/pure-bad-illegal-acticities-selected-10-anchor1.jsonl'),
  safe2: join(DATA, 'anchors/pure-bad-illegal-activities-selected-10-anchor2.jsonl'),
};
export const GSM8K_TRAIN = join(DATA, 'gsm8k/gsm8k_train.jsonl');

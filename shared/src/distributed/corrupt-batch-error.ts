import { SafesiftError } from '../errors.ts';

/**
 * A bus message or stored blob (record batch, batch result, anchor features) that cannot be
 * decoded: truncated, not ours, or with a column or field of the wrong kind. The message says
 * what is wrong; the payload itself is not kept.
 */
export class CorruptBatchError extends SafesiftError {}

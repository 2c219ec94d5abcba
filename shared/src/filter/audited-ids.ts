import { InputError } from '../errors.ts';

/**
 * The ids that have a row in an audit's score table, to tell records that were audited from ones
 * that were not (added since, or rejected by the audit). Memory: 8 bytes per score row: only the
 * first 64 bits of each 128-bit id are kept, in a sorted BigUint64Array. Two different ids share
 * those bits with probability ≈ n²/2⁶⁵ (3·10⁻⁴ for 100 million rows); such a collision can only make
 * an unaudited record count as audited (it is kept either way), never change what is flagged.
 */
export class AuditedIds {
  readonly #prefixes: BigUint64Array;

  /** `prefixes`: id prefixes sorted ascending (AuditedIdsBuilder makes them). */
  constructor(prefixes: BigUint64Array) {
    this.#prefixes = prefixes;
  }

  get size(): number {
    return this.#prefixes.length;
  }

  has(id: string): boolean {
    const key = idPrefix(id);
    if (key === null) return false;
    const a = this.#prefixes;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (a[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo < a.length && a[lo] === key;
  }
}

/** Collects ids, with room for `capacity` of them (the score tables' row count, from their metadata). */
export class AuditedIdsBuilder {
  #prefixes: BigUint64Array;
  #count = 0;

  constructor(capacity: number) {
    this.#prefixes = new BigUint64Array(Math.max(0, capacity));
  }

  /** `where` names the table, for a corrupt id. */
  add(id: string, where: string): void {
    const key = idPrefix(id);
    if (key === null) throw new InputError(where, -1, `score table holds an id that is not a safesift content id: ${JSON.stringify(id.slice(0, 40))}`);
    if (this.#count === this.#prefixes.length) {
      // Only when the metadata's row count was short: grow by half.
      const grown = new BigUint64Array(Math.max(16, Math.ceil(this.#prefixes.length * 1.5)));
      grown.set(this.#prefixes);
      this.#prefixes = grown;
    }
    this.#prefixes[this.#count++] = key;
  }

  build(): AuditedIds {
    const prefixes = this.#prefixes.subarray(0, this.#count);
    prefixes.sort();
    return new AuditedIds(prefixes);
  }
}

const HEX_ID = /^[0-9a-f]{16}/;

/** The first 64 bits of a hex content id, or null for anything else. */
function idPrefix(id: string): bigint | null {
  return HEX_ID.test(id) ? BigInt(`0x${id.slice(0, 16)}`) : null;
}

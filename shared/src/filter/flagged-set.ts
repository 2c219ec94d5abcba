/** What the audit says about one flagged id. */
export interface FlaggedEntry {
  id: string;
  /** The ranking score (summary.json → ranking.column). */
  score: number;
  repScore: number;
  gradScore: number;
  /** Where the audit found it: its `source` and `row` in the score table. */
  auditSource: string;
  auditRow: number;
}

/**
 * The ids a filter removes (or keeps, with --keep-flagged), with their scores, and which of them
 * the inputs held. Memory ≈ 150 bytes per flagged id: a Map from the id string (~50 B for 32 hex
 * digits) to an index (~50 B per entry with the table's slack), plus 8 B for each of four numbers,
 * 4 B for the interned source and 1 B for "found" in growable typed arrays. The default top-k is
 * small; --threshold/--top-fraction may flag millions (10 M flagged ids ≈ 1.5 GB).
 */
export class FlaggedSet {
  readonly #index = new Map<string, number>();
  readonly #sources: string[] = [];
  readonly #sourceIndex = new Map<string, number>();
  #score = new Float64Array(16);
  #rep = new Float64Array(16);
  #grad = new Float64Array(16);
  #row = new Float64Array(16);
  #source = new Int32Array(16);
  #found = new Uint8Array(16);

  get size(): number {
    return this.#index.size;
  }

  /** Adds an id; the same id twice (a record duplicated in the corpus) keeps its higher score. */
  add(entry: FlaggedEntry): void {
    const known = this.#index.get(entry.id);
    if (known !== undefined) {
      if (!(entry.score > this.#score[known]!)) return;
      this.#set(known, entry);
      return;
    }
    const i = this.#index.size;
    if (i === this.#score.length) this.#grow();
    this.#index.set(entry.id, i);
    this.#set(i, entry);
  }

  /** The index of a flagged id, or undefined. */
  indexOf(id: string): number | undefined {
    return this.#index.get(id);
  }

  markFound(index: number): void {
    this.#found[index] = 1;
  }

  entry(id: string): FlaggedEntry | undefined {
    const i = this.#index.get(id);
    return i === undefined ? undefined : this.#entryAt(id, i);
  }

  /** Flagged ids no input held, in the order they were flagged. */
  *unfound(): Generator<FlaggedEntry> {
    for (const [id, i] of this.#index) if (this.#found[i] === 0) yield this.#entryAt(id, i);
  }

  get foundCount(): number {
    let n = 0;
    for (let i = 0; i < this.#index.size; i++) n += this.#found[i]!;
    return n;
  }

  #entryAt(id: string, i: number): FlaggedEntry {
    return { id, score: this.#score[i]!, repScore: this.#rep[i]!, gradScore: this.#grad[i]!, auditSource: this.#sources[this.#source[i]!]!, auditRow: this.#row[i]! };
  }

  #set(i: number, e: FlaggedEntry): void {
    this.#score[i] = e.score;
    this.#rep[i] = e.repScore;
    this.#grad[i] = e.gradScore;
    this.#row[i] = e.auditRow;
    let s = this.#sourceIndex.get(e.auditSource);
    if (s === undefined) {
      s = this.#sources.push(e.auditSource) - 1;
      this.#sourceIndex.set(e.auditSource, s);
    }
    this.#source[i] = s;
  }

  #grow(): void {
    const n = this.#score.length * 2;
    const grow = <A extends Float64Array | Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.#score = grow(this.#score, (k) => new Float64Array(k));
    this.#rep = grow(this.#rep, (k) => new Float64Array(k));
    this.#grad = grow(this.#grad, (k) => new Float64Array(k));
    this.#row = grow(this.#row, (k) => new Float64Array(k));
    this.#source = grow(this.#source, (k) => new Int32Array(k));
    this.#found = grow(this.#found, (k) => new Uint8Array(k));
  }
}

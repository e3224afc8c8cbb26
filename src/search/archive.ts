import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { AxnnError } from "../util/errors.js";
import { genomeKey, type Genome } from "./genome.js";

/** What an evaluator says of one genome. All objectives are minimised. */
export interface GenomeEvaluation {
  objectives: number[];
  /** Constraint violation: 0 (or absent) when feasible, positive by how much it is not. */
  violation?: number;
  /** Anything else to keep with the result (JSON-serialisable), e.g. measured accuracy. */
  info?: Record<string, unknown>;
}

export interface ArchiveEntry {
  key: string;
  genome: number[];
  objectives: number[];
  violation: number;
  info?: Record<string, unknown>;
}

interface JournalHeader {
  axnnSearchJournal: 1;
  /** Identifies the search: a journal from another search must not be replayed into this one. */
  signature: string;
}

/**
 * Every genome evaluated so far, keyed by genomeKey, optionally backed by an append-only journal
 * (one JSON line per evaluation, fsync'd as it is written). A journal read back after a crash
 * ignores a torn last line; the evaluations it holds are then never repeated.
 */
export class Archive {
  private readonly byKey = new Map<string, ArchiveEntry>();
  /** Entries the journal held when opened, not yet claimed by the replaying search. */
  private readonly journaled = new Map<string, ArchiveEntry>();
  private fd: number | undefined;

  /** The entries in the order the search first asked for them (not the order results arrived). */
  readonly entries: ArchiveEntry[] = [];

  private constructor(private readonly file?: string) {}

  static inMemory(): Archive {
    return new Archive();
  }

  /**
   * Opens (resume) or creates a journal. `signature` identifies the search (problem and settings);
   * resuming a journal written with another signature is an error, as is an existing journal
   * without `resume`.
   */
  static open(file: string, signature: string, resume: boolean): Archive {
    const a = new Archive(file);
    if (existsSync(file)) {
      if (!resume) throw new AxnnError(`a search journal already exists; resume it (--resume) or write to another directory`, { file });
      const text = readFileSync(file, "utf8");
      const lines = text.split("\n");
      // Everything after the last newline is a line the crash cut short: dropped, and cut off
      // the file so the next append starts on a fresh line.
      const completeBytes = Buffer.byteLength(text.slice(0, text.lastIndexOf("\n") + 1));
      const complete = lines.slice(0, -1);
      if (complete.length === 0) {
        // Killed before the header was whole: start over.
        const fd = openSync(file, "r+");
        ftruncateSync(fd, 0);
        closeSync(fd);
        return Archive.create(a, file, signature);
      }
      let header: JournalHeader;
      try {
        header = JSON.parse(complete[0]!) as JournalHeader;
      } catch {
        throw new AxnnError(`not a search journal (its first line is not JSON)`, { file, line: 1 });
      }
      if (header.axnnSearchJournal !== 1) throw new AxnnError(`not a search journal (no "axnnSearchJournal": 1 header)`, { file, line: 1 });
      if (header.signature !== signature) {
        throw new AxnnError(`this journal was written by a different search (other model, data, multipliers or settings); use another output directory or delete it`, { file, line: 1 });
      }
      for (let i = 1; i < complete.length; i++) {
        let e: ArchiveEntry;
        try {
          e = JSON.parse(complete[i]!) as ArchiveEntry;
        } catch {
          throw new AxnnError(`corrupt journal line (not JSON) before the last one`, { file, line: i + 1 });
        }
        a.journaled.set(e.key, e);
      }
      a.fd = openSync(file, "r+");
      ftruncateSync(a.fd, completeBytes);
      closeSync(a.fd);
      a.fd = openSync(file, "a");
      return a;
    }
    return Archive.create(a, file, signature);
  }

  private static create(a: Archive, file: string, signature: string): Archive {
    a.fd = openSync(file, "a");
    a.append({ axnnSearchJournal: 1, signature } satisfies JournalHeader);
    return a;
  }

  private append(obj: unknown): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, JSON.stringify(obj) + "\n");
    fsyncSync(this.fd);
  }

  get size(): number {
    return this.entries.length;
  }

  get(genome: Genome): ArchiveEntry | undefined {
    const e = this.byKey.get(genomeKey(genome));
    if (e) this.checkSame(e, genome);
    return e;
  }

  /** A result the journal already holds for this genome (a resumed run), else undefined. */
  journaledResult(genome: Genome): ArchiveEntry | undefined {
    const e = this.journaled.get(genomeKey(genome));
    if (e) this.checkSame(e, genome);
    return e;
  }

  /** Records a result in the archive (journal it first with `journal`). Returns the entry. */
  add(genome: Genome, ev: GenomeEvaluation): ArchiveEntry {
    const key = genomeKey(genome);
    if (this.byKey.has(key)) throw new Error(`search archive: genome ${genome.join(",")} evaluated twice`);
    const entry: ArchiveEntry = { key, genome: [...genome], objectives: [...ev.objectives], violation: ev.violation ?? 0, ...(ev.info ? { info: ev.info } : {}) };
    this.byKey.set(key, entry);
    this.entries.push(entry);
    return entry;
  }

  /** Writes one finished evaluation to the journal (as soon as it is known). */
  journal(genome: Genome, ev: GenomeEvaluation): void {
    const key = genomeKey(genome);
    if (this.journaled.has(key)) return;
    const entry: ArchiveEntry = { key, genome: [...genome], objectives: [...ev.objectives], violation: ev.violation ?? 0, ...(ev.info ? { info: ev.info } : {}) };
    this.journaled.set(key, entry);
    this.append(entry);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private checkSame(e: ArchiveEntry, genome: Genome): void {
    if (e.genome.length !== genome.length || e.genome.some((g, i) => g !== genome[i])) {
      throw new Error(`search archive: hash collision between ${e.genome.join(",")} and ${genome.join(",")}`);
    }
  }
}

export function newestVersion(names: readonly string[]): string | undefined;
export function postgresBin(): string | undefined;
export function databaseUrl(port: number, database: string): string;
export interface BenchPostgres {
  port: number;
  /** The process the bench started: the postmaster, or runuser above it when root. */
  pid: number;
  createDatabase(prefix?: string): Promise<string>;
  close(): Promise<void>;
}
export function startPostgres(): Promise<BenchPostgres | undefined>;

/** The shape every `dhw` subcommand module exports. */
export interface Command {
  name: string;
  summary: string;
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

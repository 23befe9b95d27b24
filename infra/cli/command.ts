// The contract of one CLI command: each `infra/cli/commands/<name>.ts` exports `command`.

export interface CliCommand {
  readonly name: string;
  /** One line for the tool's --help. */
  readonly summary: string;
  /** The command's full --help text. */
  readonly help: string;
  /** Returns the exit code: 0 ok, 2 invalid input (printed without a stack), 1 anything else. */
  run(argv: string[]): Promise<number>;
}

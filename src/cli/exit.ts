/** Exit codes: 0 ok, 1 a failure while working, 2 a usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error that ends the command with a given exit code and a message for stderr. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "CliExit";
  }
}

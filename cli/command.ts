/** A subcommand: loaded only when used, so `weir --help` stays fast and roles don't load each other. */
export interface Command {
  summary: string
  usage: string
  run(argv: string[]): Promise<number>
}

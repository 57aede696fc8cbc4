/** Every command `zerodown --help` must list, each with a one-line description. */
const CLI_COMMANDS = [
  'status',
  'plan',
  'start',
  'watch',
  'abort',
  'history',
  'report',
  'recover',
  'preflight',
  'validate',
  'schema',
  'sandbox',
] as const;

/** The commands the help text leaves out, or without a description on their line. */
export function commandsMissingFrom(help: string): string[] {
  return CLI_COMMANDS.filter((command) => !new RegExp(`^  ${command}\\b.*\\S`, 'm').test(help));
}

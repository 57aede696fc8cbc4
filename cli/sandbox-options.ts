/**
 * What the CLI's sandbox commands take. Apart from them, so the CLI can name their shape without loading them: they
 * need the repository's development dependencies, which an installed package does not have.
 */

export interface SandboxRunOptions {
  readonly scenario: string;
  readonly report?: string;
  readonly quiet?: boolean;
  readonly workDir?: string;
}

export interface SandboxUpOptions {
  readonly scenario: string;
  readonly quiet?: boolean;
  readonly workDir?: string;
  /** Where to leave the sandbox's endpoint for the CLI to find. @default .cache/sandbox/up.json */
  readonly handleFile?: string;
}

export interface SandboxCommands {
  runSandboxScenario(options: SandboxRunOptions): Promise<number>;
  serveSandboxCommand(options: SandboxUpOptions): Promise<number>;
}

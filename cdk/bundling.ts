import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Plugin } from 'esbuild';
import { PROJECT_ROOT } from './paths';

/**
 * How every Lambda is bundled. The CDK construct (through `cdk/bundle-lambda.ts`), the bundle benchmark and the
 * bundle smoke tests all call `buildLambdaBundle`, so what is measured and tested is what is deployed.
 */
export const LAMBDA_BUNDLING = {
  minify: true,
  sourcemap: true,
  target: 'node24',
  format: 'cjs',
  // The SDK's ES module builds tree-shake far better than its CommonJS ones (about 40% smaller bundles).
  mainFields: ['module', 'main'],
  alias: {
    '@aws-sdk/credential-provider-node': path.join(
      PROJECT_ROOT,
      'functions',
      'aws',
      'clients',
      'lambda-credentials.ts',
    ),
  },
} as const;

/** The generated schema modules of the SDK v3 clients, one shape per exported constant. */
const SDK_SCHEMA_MODULE = /[\\/]@aws-sdk[\\/]client-[^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;
/** `const _xN = "xmlName";`: the short names the schema modules give their string constants. */
const STRING_CONSTANT = /^const (\w+) = ("(?:[^"\\\n]|\\.)*");$/gm;
/** `[_xN]:`: an object key computed from one of those constants. */
const COMPUTED_KEY = /\[(\w+)\]:/g;
/** `n0_registry.registerError(NotFound$, NotFound);`: one modeled error class made known to the deserializer. */
const ERROR_REGISTRATION = /^(\w+)\.registerError\((\w+)\$, \2\);$/gm;
/** The registry of the service's base exception, which unregistered errors fall back to. */
const BASE_EXCEPTION_REGISTRY = '_s_registry';
/** `export class Throttled extends __BaseException { ... $retryable = ...`: errors the retry strategy recognises. */
const RETRYABLE_ERROR_CLASS = /export class (\w+) extends [^{]+\{(?:(?!\nexport class)[\s\S])*?\$retryable =/g;
/** `import { A, B as C } from '@aws-sdk/client-x';` in the project's own sources. */
const SDK_CLIENT_IMPORT = /import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[^']+'/g;
/** An SDK client's package.json, which its runtime config imports whole for the version in the user agent. */
const SDK_CLIENT_PACKAGE_JSON = /[\\/]@aws-sdk[\\/](?:client-[^\\/]+|nested-clients)[\\/]package\.json$/;
/** The import the SDK's HTTP protocols make only for event-stream operations. */
const EVENT_STREAMS_MODULE = /^@smithy\/core\/event-streams$/;
/** The pure-JavaScript SHA-256 that the SDK's Node hash falls back to where `node:crypto` has no SHA-256. */
const SHA256_JS_MODULE = /[\\/]@smithy[\\/]core[\\/]dist-es[\\/]submodules[\\/]checksum[\\/]sha256[\\/]Sha256Js\.js$/;

export interface SdkTreeShakingOptions {
  /**
   * The modeled error classes the code tests with `instanceof`. Every other modeled error still arrives with its name,
   * message, fault and metadata, as an instance of the service's base exception.
   */
  readonly keptErrors: ReadonlySet<string>;
}

/**
 * Lets esbuild drop the parts of the SDK clients that a function never uses.
 *
 * - The schema modules write trait objects as `{ [_xN]: _BDM }`. esbuild cannot prove a computed key free of side
 *   effects, so it keeps every shape of the service: 550 KB of the 830 KB of a bundle that only calls RunInstances.
 *   Replacing each key computed from a module-level string constant with that string literal means the same object
 *   and makes the unused shapes removable.
 * - Each client registers every modeled error class at module load (140 for SSM, 40 KB). Registration is a side
 *   effect, so none of them could be dropped. Only the classes the code catches by class, and those that carry a
 *   retry trait, stay registered. The SDK deserializes any other modeled error as the base exception with the same
 *   `name`, message, `$fault` and `$metadata`, which is all our code and the SDK's retry strategy look at.
 * - Each client bundles its whole package.json (about 2 KB) to read one field, `version`. Only that field is kept.
 * - The HTTP protocols import the event-stream codec lazily, for streaming operations only. None of our operations
 *   streams, so the import resolves to a module that fails clearly if that ever changes.
 * - The SDK's SHA-256 for Node carries a pure-JavaScript fallback (3 KB) for a runtime without native SHA-256. The
 *   Lambda runtime always has it, so the fallback is replaced by a class that fails clearly if it is ever used.
 */
export function sdkTreeShaking(options: SdkTreeShakingOptions): Plugin {
  return {
    name: 'zerodown-sdk-tree-shaking',
    setup(build) {
      build.onLoad({ filter: SDK_SCHEMA_MODULE }, async (args) => {
        const source = await fs.promises.readFile(args.path, 'utf8');
        const errorsModule = path.join(path.dirname(args.path), '..', 'models', 'errors.js');
        const retryable = fs.existsSync(errorsModule)
          ? retryableErrorClasses(await fs.promises.readFile(errorsModule, 'utf8'))
          : new Set<string>();
        const kept = new Set([...options.keptErrors, ...retryable]);
        return { contents: pruneErrorRegistrations(inlineConstantKeys(source), kept), loader: 'js' };
      });
      build.onLoad({ filter: SDK_CLIENT_PACKAGE_JSON }, async (args) => {
        const { version } = JSON.parse(await fs.promises.readFile(args.path, 'utf8')) as { version: string };
        return { contents: JSON.stringify({ version }), loader: 'json' };
      });
      build.onLoad({ filter: SHA256_JS_MODULE }, () => ({ contents: NO_SHA256_JS_MODULE, loader: 'js' }));
      build.onResolve({ filter: EVENT_STREAMS_MODULE }, (args) => ({
        path: args.path,
        namespace: 'zerodown-no-event-streams',
      }));
      build.onLoad({ filter: /.*/, namespace: 'zerodown-no-event-streams' }, () => ({
        contents: NO_EVENT_STREAMS_MODULE,
        loader: 'js',
      }));
    },
  };
}

const NO_SHA256_JS_MODULE = `
export class Sha256Js {
  constructor() {
    throw new Error('zerodown bundles leave out the SDK pure-JavaScript SHA-256; this runtime has no native SHA-256');
  }
}
`;

const NO_EVENT_STREAMS_MODULE = `
const unsupported = () => {
  throw new Error('zerodown bundles leave out the SDK event-stream codec; add it back in cdk/bundling.ts to call a streaming operation');
};
export class EventStreamSerde { constructor() { unsupported(); } }
export const eventStreamSerdeProvider = unsupported;
`;

/** Replaces `[name]:` with `"value":` wherever `name` is a top-level `const name = "value";` of the module. */
export function inlineConstantKeys(source: string): string {
  const constants = new Map<string, string>();
  for (const [, name, literal] of source.matchAll(STRING_CONSTANT)) {
    if (name !== undefined && literal !== undefined) constants.set(name, literal);
  }
  return source.replace(COMPUTED_KEY, (key, name: string) => {
    const literal = constants.get(name);
    return literal === undefined ? key : `${literal}:`;
  });
}

/** Removes the registration of every modeled error not in `kept`, except the service's base exception. */
export function pruneErrorRegistrations(source: string, kept: ReadonlySet<string>): string {
  return source.replace(ERROR_REGISTRATION, (registration, registry: string, errorName: string) =>
    registry === BASE_EXCEPTION_REGISTRY || kept.has(errorName) ? registration : '',
  );
}

/** The error classes of an SDK client's errors module that the SDK's retry strategy treats as retryable. */
export function retryableErrorClasses(errorsModuleSource: string): Set<string> {
  return new Set([...errorsModuleSource.matchAll(RETRYABLE_ERROR_CLASS)].map(([, name]) => name ?? ''));
}

/**
 * Every name the given sources import from an SDK client package. Errors are caught by class only where they are
 * imported, so this is the set of modeled errors the bundles must keep registered.
 */
export function sdkClientImports(sources: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const source of sources) {
    for (const [, list] of source.matchAll(SDK_CLIENT_IMPORT)) {
      for (const specifier of (list ?? '').split(',')) {
        const imported = specifier
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)[0];
        if (imported) names.add(imported);
      }
    }
  }
  return names;
}

/** The TypeScript sources of the Lambda handlers and their libraries. */
function functionSources(): string[] {
  const root = path.join(PROJECT_ROOT, 'functions');
  return fs
    .readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => fs.readFileSync(path.join(root, file), 'utf8'));
}

/** Bundles one handler entry exactly as deployed. Paths are relative to the project root or absolute. */
export async function buildLambdaBundle(entry: string, outfile: string) {
  const esbuild = await import('esbuild');
  return esbuild.build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    ...LAMBDA_BUNDLING,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    // The SDK clients go into the bundle, so each function runs the SDK version it was tested with.
    external: [],
    plugins: [
      sdkTreeShaking({ keptErrors: sdkClientImports(functionSources()) }),
      ...(insideNodeModules(PROJECT_ROOT) ? [strictEntry(path.resolve(PROJECT_ROOT, entry))] : []),
    ],
    metafile: true,
    logLevel: 'warning',
  });
}

/**
 * Whether the sources are an installed package's, as when the construct library synthesizes in a user's app. esbuild
 * reads no tsconfig.json for sources inside node_modules, so `strict` no longer makes the bundle strict mode code.
 * Naming the tsconfig.json instead would apply it to the dependencies too, and change every bundle.
 */
function insideNodeModules(directory: string): boolean {
  return directory.split(path.sep).includes('node_modules');
}

/**
 * Puts the directive `strict` would have given back at the top of the entry, which is the one difference the missing
 * tsconfig.json makes: test/infra/library.test.ts checks that a bundle made from the package is the repository's,
 * byte for byte.
 */
function strictEntry(entryPath: string): Plugin {
  return {
    name: 'zerodown-strict-entry',
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async (args) =>
        args.path === entryPath
          ? { contents: `"use strict";\n${await fs.promises.readFile(args.path, 'utf8')}`, loader: 'ts' }
          : undefined,
      );
    },
  };
}

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
/** A module of `@smithy/core`'s ES build, by its path under `dist-es/submodules`. */
function smithyCoreModule(relativePath: string): RegExp {
  const separator = '[\\\\/]';
  const parts = ['@smithy', 'core', 'dist-es', 'submodules', ...relativePath.split('/')];
  return new RegExp(`${separator}${parts.map((part) => part.replace(/\./g, '\\.')).join(separator)}$`);
}

/**
 * SDK modules that serve only outside Lambda, each replaced by a stand-in with the same exports. Each stand-in either
 * gives the answer the original gives inside Lambda, or fails with a message that says what was left out.
 */
const OUTSIDE_LAMBDA_MODULES: readonly { readonly module: RegExp; readonly contents: string }[] = [
  {
    // The pure-JavaScript SHA-256 (3 KB) the SDK's Node hash falls back to where `node:crypto` has none. Lambda has.
    module: smithyCoreModule('checksum/sha256/Sha256Js.js'),
    contents: `export class Sha256Js {
  constructor() {
    throw new Error('zerodown bundles leave out the SDK pure-JavaScript SHA-256; this runtime has no native SHA-256');
  }
}`,
  },
  {
    // The region from the instance metadata service, asked only when AWS_REGION is unset. Lambda always sets it.
    module: smithyCoreModule('config/config-resolver/regionConfig/getInstanceMetadataRegion.js'),
    contents: 'export const getInstanceMetadataRegion = async () => undefined;',
  },
  {
    // The adaptive retry mode's client-side rate limiter (3.4 KB). The functions use the standard mode.
    module: smithyCoreModule('retry/util-retry/AdaptiveRetryStrategy.js'),
    contents: `export class AdaptiveRetryStrategy {
  constructor() {
    throw new Error('zerodown bundles leave out the SDK adaptive retry mode; use the standard retry mode');
  }
}`,
  },
  {
    // ~/.aws/config and ~/.aws/credentials (2 KB of INI reading). A Lambda function has neither file; its settings
    // come from the environment, which the SDK still reads.
    module: smithyCoreModule('config/shared-ini-file-loader/loadSharedConfigFiles.js'),
    contents: `export { CONFIG_PREFIX_SEPARATOR } from './constants';
export const loadSharedConfigFiles = async () => ({ configFile: {}, credentialsFile: {} });`,
  },
];

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
 * - Some SDK modules serve only outside Lambda (`OUTSIDE_LAMBDA_MODULES`): a SHA-256 fallback, the region from
 *   instance metadata, the adaptive retry mode, the shared config files. Each is replaced by a stand-in.
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
      for (const { module, contents } of OUTSIDE_LAMBDA_MODULES) {
        build.onLoad({ filter: module }, (args) => ({ contents, loader: 'js', resolveDir: path.dirname(args.path) }));
      }
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
    // The SDK clients go into the bundle, so each function runs the SDK version it was tested with. Powertools comes
    // from the layer every function carries (`buildPowertoolsLayer`), built from the same pinned packages.
    external: [...LAYER_PACKAGES],
    plugins: [
      sdkTreeShaking({ keptErrors: sdkClientImports(functionSources()) }),
      ...(insideNodeModules(PROJECT_ROOT) ? [strictEntry(path.resolve(PROJECT_ROOT, entry))] : []),
    ],
    metafile: true,
    logLevel: 'warning',
  });
}

/**
 * The packages the functions load from zerodown's Powertools layer rather than from their own bundle. Logger and
 * Metrics are 35 KB minified; one copy in a layer that all functions share keeps each function's bundle within its
 * budget, where 17 copies would each push the largest bundles over it.
 */
export const LAYER_PACKAGES = ['@aws-lambda-powertools/logger', '@aws-lambda-powertools/metrics'] as const;

/** The argument of `cdk/bundle-lambda.ts` that builds the layer instead of a handler. */
export const POWERTOOLS_LAYER_ARG = '--powertools-layer';

/** Where Lambda finds a layer's Node.js packages, relative to the layer's root: `/opt/nodejs/node_modules`. */
export const LAYER_MODULES_DIR = path.join('nodejs', 'node_modules');

/** The functions' bundling options, less the alias for the functions' own credential provider. */
const { alias: _alias, ...LAYER_BUNDLING } = LAMBDA_BUNDLING;

/**
 * Builds the Powertools layer into `outputDir`: each package of `LAYER_PACKAGES` as one minified CommonJS module
 * under `nodejs/node_modules/<package>`, with the version the project pins, so a function's `require` of the package
 * finds it there as it finds it in node_modules locally.
 */
export async function buildPowertoolsLayer(outputDir: string) {
  const esbuild = await import('esbuild');
  const modulesDir = path.join(outputDir, LAYER_MODULES_DIR);
  for (const name of LAYER_PACKAGES) {
    const packageDir = path.join(modulesDir, ...name.split('/'));
    await esbuild.build({
      absWorkingDir: PROJECT_ROOT,
      stdin: { contents: `export * from '${name}';`, resolveDir: PROJECT_ROOT, loader: 'js' },
      outfile: path.join(packageDir, 'index.js'),
      bundle: true,
      platform: 'node',
      ...LAYER_BUNDLING,
      mainFields: [...LAYER_BUNDLING.mainFields],
      logLevel: 'warning',
    });
    const manifest = { name, version: installedVersion(name), main: 'index.js', license: 'MIT-0' };
    await fs.promises.writeFile(path.join(packageDir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  }
}

/** The version of an installed package, read from its package.json beside the entry point it resolves to. */
function installedVersion(name: string): string {
  let dir = path.dirname(require.resolve(name, { paths: [PROJECT_ROOT] }));
  for (; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const parsed = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
    if (parsed.name === name && parsed.version) return parsed.version;
  }
  throw new Error(`zerodown: cannot find the installed version of ${name}`);
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

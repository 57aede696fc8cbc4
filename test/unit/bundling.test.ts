import {
  inlineConstantKeys,
  pruneErrorRegistrations,
  retryableErrorClasses,
  sdkClientImports,
} from '../../cdk/bundling';

const SCHEMA_MODULE = `const _e = "error";
const _c = "client";
const n0 = "com.amazonaws.ssm";
const _s_registry = new TypeRegistry(_s);
_s_registry.registerError(SSMServiceException$, SSMServiceException);
const n0_registry = new TypeRegistry(n0);
export var ParameterNotFound$ = [-3, n0, _PNF, { [_e]: _c }, [_M], [0]];
n0_registry.registerError(ParameterNotFound$, ParameterNotFound);
export var InvalidTag$ = [-3, n0, _IT, { [_e]: _c }, [_M], [0]];
n0_registry.registerError(InvalidTag$, InvalidTag);
`;

describe('SDK tree-shaking rewrites', () => {
  it('inlines keys computed from module constants and leaves other keys alone', () => {
    const rewritten = inlineConstantKeys(`${SCHEMA_MODULE}const t = { [unknownName]: 1 };`);

    expect(rewritten).toContain('{ "error": _c }');
    expect(rewritten).toContain('{ [unknownName]: 1 }');
  });

  it('keeps the registrations of kept errors and of the base exception, and only those', () => {
    const pruned = pruneErrorRegistrations(SCHEMA_MODULE, new Set(['ParameterNotFound']));

    expect(pruned).toContain('_s_registry.registerError(SSMServiceException$, SSMServiceException);');
    expect(pruned).toContain('n0_registry.registerError(ParameterNotFound$, ParameterNotFound);');
    expect(pruned).not.toContain('registerError(InvalidTag$');
    // The shape itself stays for esbuild to drop when nothing else uses it.
    expect(pruned).toContain('export var InvalidTag$');
  });

  it('finds the error classes that carry a retry trait', () => {
    const errorsModule = `export class Conflict extends __BaseException {
    name = "Conflict";
    $fault = "client";
}
export class Replicated extends __BaseException {
    name = "Replicated";
    $fault = "client";
    $retryable = {};
}
export class Other extends __BaseException {
    name = "Other";
}`;

    expect([...retryableErrorClasses(errorsModule)]).toEqual(['Replicated']);
  });

  it('collects the names imported from SDK client packages, by their exported name', () => {
    const names = sdkClientImports([
      `import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand as Get,
} from '@aws-sdk/client-dynamodb';
import { Duration } from 'aws-cdk-lib';`,
    ]);

    expect([...names].sort()).toEqual(['ConditionalCheckFailedException', 'DynamoDBClient', 'GetItemCommand']);
  });
});

import * as z from 'zod/mini';
import type { FieldIssue } from './errors';

/**
 * Validation messages that name the field they are about, for every input zerodown parses. Kept apart from the
 * cluster model so that a handler which only checks its input does not bundle the whole model's schema.
 */

export const pattern = (regex: RegExp, description: string) =>
  z.string().check(z.regex(regex, `must be ${description}`));

export const clusterNameSchema = pattern(
  /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/,
  '3-40 characters of lower-case letters, digits and hyphens, starting with a letter',
);

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out === '' ? String(key) : `${out}.${String(key)}`;
  }, '');
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 57)}...` : value}"`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

/**
 * zod/mini loads no locale, so an issue whose schema gives no message would read "Invalid input". These are the
 * English messages for the codes toFieldIssues passes through rather than words itself; a schema's own message wins.
 */
function defaultMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_format':
      if (issue.format === 'regex') return `Invalid string: must match pattern ${issue.pattern}`;
      return issue.format === 'datetime' ? 'Invalid ISO datetime' : `Invalid ${issue.format}`;
    case 'invalid_key':
      return `Invalid key in ${issue.origin}`;
    case 'invalid_element':
      return `Invalid value in ${issue.origin}`;
    case 'not_multiple_of':
      return `Invalid number: must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
}

/** How to parse a document whose errors go through toFieldIssues: it reads each issue's input and message. */
export const FIELD_ISSUE_PARSING: z.core.ParseContext<z.core.$ZodIssue> = { reportInput: true, error: defaultMessage };

/** Turns zod's issues into sentences that start with the field they are about. */
export function toFieldIssues(error: z.core.$ZodError): FieldIssue[] {
  return error.issues.flatMap((issue): FieldIssue[] => {
    const path = formatPath(issue.path);
    switch (issue.code) {
      case 'invalid_type':
        return [{ path, message: issue.input === undefined ? 'is required' : `must be ${issue.expected}` }];
      case 'invalid_value':
        return [
          {
            path,
            message: `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')} (got ${describe(issue.input)})`,
          },
        ];
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'is not a known field' }));
      case 'invalid_union': {
        // A discriminated union with a missing or unknown discriminator: zod already points the path at it.
        if (issue.inclusive !== false && issue.discriminator) {
          const input: unknown = issue.input;
          const value =
            typeof input === 'object' && input !== null
              ? (input as Record<string, unknown>)[issue.discriminator]
              : input;
          const options = (issue.options ?? []).map((option: unknown) => JSON.stringify(option)).join(', ');
          return [
            {
              path,
              message: value === undefined ? 'is required' : `must be one of ${options} (got ${describe(value)})`,
            },
          ];
        }
        return [{ path, message: issue.message }];
      }
      case 'too_small':
        return [
          { path, message: `must have at least ${issue.minimum} ${issue.origin === 'array' ? 'items' : ''}`.trim() },
        ];
      case 'too_big':
        return [
          { path, message: `must have at most ${issue.maximum} ${issue.origin === 'array' ? 'items' : ''}`.trim() },
        ];
      default:
        return [{ path, message: issue.message }];
    }
  });
}

/**
 * Schema validation at the boundary: a zod parse whose failure is a KindlingError naming each bad
 * field, what it must be, and what was sent (`version must be a positive integer, got "abc"`).
 *
 * zod's own wording (`Invalid input: expected number, received NaN`) speaks of types and of values
 * the caller never sent (a coerced path parameter), so every parse here runs with {@link plainWords},
 * an error map that says the same in the caller's terms. A message a schema sets itself wins over it.
 */
import type { z } from 'zod';
import { KindlingError, type ErrorCode } from './errors.js';

/** zod's type names, as a sentence says them. */
const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a JSON object',
  record: 'a JSON object',
  array: 'an array',
  bigint: 'an integer',
  date: 'a date',
  null: 'null',
};

/** "characters" for strings, "items" for arrays and sets, nothing for numbers. */
function unitOf(origin: string): string {
  if (origin === 'string') return ' characters';
  if (origin === 'array' || origin === 'set') return ' items';
  return '';
}

function listValues(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length === 1 ? shown[0]! : `one of ${shown.join(', ')}`;
}

/**
 * The error map every {@link parseOrThrow} uses: each message is a predicate that follows the
 * field's name ("must be …", "is required"). Returns undefined for issues it has no better words
 * for, which leaves zod's own.
 */
export function plainWords(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'number' && min === 0 && !issue.inclusive) return 'must be a positive number';
      if (issue.origin === 'string' && min === 1 && issue.inclusive) return 'must not be empty';
      const bound = issue.inclusive ? 'at least' : 'more than';
      return `must be ${bound} ${min}${unitOf(issue.origin)}`;
    }
    case 'too_big': {
      const bound = issue.inclusive ? 'at most' : 'less than';
      return `must be ${bound} ${Number(issue.maximum)}${unitOf(issue.origin)}`;
    }
    case 'invalid_value':
      return `must be ${listValues(issue.values)}`;
    case 'unrecognized_keys':
      return `has unknown ${issue.keys.length === 1 ? 'field' : 'fields'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; remove ${issue.keys.length === 1 ? 'it' : 'them'}`;
    case 'invalid_format':
      return issue.format === 'regex'
        ? `must match ${String(issue.pattern)}`
        : `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${Number(issue.divisor)}`;
    case 'invalid_union':
      return 'matches none of the accepted forms';
    default:
      return undefined;
  }
}

/** `a.b[0]` for a zod path; undefined for the root. */
function pathName(path: readonly PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** A predicate ("must be …") reads after the field's name; anything else gets a colon. */
const PREDICATE = /^(must|is|has|matches|should|cannot|may)\b/;

/**
 * One clause per problem, `subject message, got value`: the subject is the field's path, or `what`
 * for the value as a whole.
 */
export function describeIssues(error: z.ZodError, input: unknown, what = 'value'): string {
  return error.issues
    .map((issue) => {
      const subject = pathName(issue.path) ?? what;
      let got: unknown = input;
      for (const key of issue.path)
        got = (got as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
      const shown =
        got === undefined || issue.code === 'unrecognized_keys'
          ? ''
          : `, got ${JSON.stringify(got)?.slice(0, 80) ?? String(got)}`;
      const joiner = PREDICATE.test(issue.message) ? ' ' : ': ';
      return `${subject}${joiner}${issue.message}${shown}`;
    })
    .join('; ');
}

/**
 * Parses `input` or throws `code` with a message that says what to fix. `what` names the value (a
 * request body, a path parameter) in the message: `invalid alias request: version must be …`, or for
 * a value with no fields (a path parameter) just `version must be …`.
 */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  code: ErrorCode = 'KINDLING_BAD_REQUEST',
): z.output<S> {
  const result = schema.safeParse(input, { error: plainWords });
  if (!result.success) {
    const issues = result.error.issues;
    const described = describeIssues(result.error, input, what);
    const message = issues.every((i) => i.path.length === 0) ? described : `invalid ${what}: ${described}`;
    throw new KindlingError(code, message, {
      issues: issues.map((i) => ({ path: pathName(i.path) ?? '', message: i.message })),
    });
  }
  return result.data;
}

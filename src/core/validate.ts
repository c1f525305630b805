/** Schema validation at the boundary: a zod parse whose failure is a KindlingError naming each bad field. */
import type { z } from 'zod';
import { KindlingError, type ErrorCode } from './errors.js';

/** One line per problem: `path: message (got value)`. */
export function describeIssues(error: z.ZodError, input: unknown): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length ? issue.path.join('.') : '(root)';
      let got: unknown = input;
      for (const key of issue.path)
        got = (got as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
      const shown = got === undefined ? '' : ` (got ${JSON.stringify(got)?.slice(0, 80)})`;
      return `${path}: ${issue.message}${shown}`;
    })
    .join('; ');
}

/** Parses `input` or throws `code` with a message that says what to fix. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
  code: ErrorCode = 'KINDLING_BAD_REQUEST',
): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new KindlingError(code, `invalid ${what}: ${describeIssues(result.error, input)}`, {
      issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    });
  }
  return result.data;
}

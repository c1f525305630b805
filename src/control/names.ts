/** Validation of the names users choose: functions, aliases, tenants. */
import { KindlingError } from '../core/errors.js';

const FUNCTION_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const ALIAS_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

/** Throws KINDLING_INVALID_NAME unless `name` is a valid function name. */
export function assertFunctionName(name: string): void {
  if (!FUNCTION_NAME.test(name) || name.endsWith('-')) {
    throw new KindlingError(
      'KINDLING_INVALID_NAME',
      `invalid function name ${JSON.stringify(name)}: use 1-63 characters, lowercase letters, digits and '-', starting with a letter and not ending with '-' (e.g. "hello-world")`,
      { name },
    );
  }
}

/** Throws KINDLING_INVALID_NAME unless `name` is a valid tenant name (same rules as a function name). */
export function assertTenantName(name: string): void {
  if (!FUNCTION_NAME.test(name) || name.endsWith('-')) {
    throw new KindlingError(
      'KINDLING_INVALID_NAME',
      `invalid tenant name ${JSON.stringify(name)}: use 1-63 characters, lowercase letters, digits and '-', starting with a letter and not ending with '-'`,
      { name },
    );
  }
}

/** Throws KINDLING_INVALID_NAME unless `alias` is a valid alias name. Aliases cannot look like version numbers. */
export function assertAliasName(alias: string): void {
  if (!ALIAS_NAME.test(alias)) {
    throw new KindlingError(
      'KINDLING_INVALID_NAME',
      `invalid alias ${JSON.stringify(alias)}: use 1-63 characters, lowercase letters, digits, '-' and '_', starting with a letter (e.g. "prod")`,
      { alias },
    );
  }
}

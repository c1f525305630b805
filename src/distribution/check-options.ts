/**
 * Checks of numeric options shared by the distribution components, so every constructor rejects a
 * bad value the same way: KINDLING_INVALID_CONFIG naming the option and the value.
 */
import { KindlingError } from '../core/errors.js';

/** Rejects an option that must be a positive integer, naming it and the value. */
export function checkPositiveInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${name} must be a positive integer, got ${String(value)}`,
      { [name]: value },
    );
  }
}

/** Rejects an option that must be a whole number, zero allowed, naming it and the value. */
export function checkNonNegativeInt(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${name} must be a whole number (0 or more), got ${String(value)}`,
      { [name]: value },
    );
  }
}

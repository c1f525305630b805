/**
 * Repository names and tags, validated against the OCI distribution grammar before they become
 * file paths or URLs.
 */
import { KindlingError } from '../core/errors.js';

/**
 * OCI repository name, as the distribution spec's grammar has it: lowercase components separated by
 * `/`, each `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-` (so every function name is one).
 */
export const REPOSITORY_NAME_RE =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** OCI tag. */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Longest repository name accepted (many registries and path limits stop at 255). */
export const MAX_NAME_LENGTH = 255;

/** Returns `name` when it is a valid repository name; else rejects with KINDLING_INVALID_NAME. */
export function checkRepositoryName(name: string): string {
  if (name.length > MAX_NAME_LENGTH || !REPOSITORY_NAME_RE.test(name)) {
    throw new KindlingError(
      'KINDLING_INVALID_NAME',
      `invalid repository name ${JSON.stringify(name.slice(0, 300))}: use at most ${MAX_NAME_LENGTH} characters of lowercase letters and digits, joined by ".", "_", "__", hyphens or "/" (e.g. "acme/hello-world")`,
      { name: name.slice(0, 300), kind: 'repository' },
    );
  }
  return name;
}

/** Returns `tag` when it is a valid tag; else rejects with KINDLING_INVALID_NAME. */
export function checkTag(tag: string): string {
  if (!TAG_RE.test(tag)) {
    throw new KindlingError(
      'KINDLING_INVALID_NAME',
      `invalid tag ${JSON.stringify(tag.slice(0, 300))}: use 1 to 128 letters, digits, "_", "." or "-", not starting with "." or "-" (e.g. "v3")`,
      { tag: tag.slice(0, 300), kind: 'tag' },
    );
  }
  return tag;
}

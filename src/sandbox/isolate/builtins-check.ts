/**
 * Deploy-time check for the isolate tier: which Node built-ins a bundle asks for. An isolate has no
 * Node modules, so a function that needs one should be refused at deploy (naming the module and
 * suggesting `tier: "process"`) rather than fail at its first cold start.
 */
import { builtinModules } from 'node:module';

const BUILTINS = new Set(builtinModules.filter((name) => !name.startsWith('_')));

// The forms a bundle uses: require("x"), import ... from "x", import "x", export ... from "x",
// and import("x"). Bundled code has no other way to reach a built-in by a literal name.
const SPECIFIER =
  /\brequire\s*\(\s*(['"])([^'"\n]+)\1\s*\)|\bimport\s*\(\s*(['"])([^'"\n]+)\3\s*\)|\b(?:import|export)\s*(?:[\w$*{},\s]+?\s*from\s*)?(['"])([^'"\n]+)\5/g;

/**
 * Lists the Node built-ins `source` requires or imports, each once, in order of first use, named as
 * written without the `node:` prefix (`fs`, `fs/promises`). Only literal specifiers are found: a
 * computed `require(name)` cannot be judged before it runs (the isolate then throws a clear error).
 * Mentions inside strings or comments may be reported too; the check errs towards refusing.
 */
export function findNodeBuiltins(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[2] ?? match[4] ?? match[6];
    if (specifier === undefined) continue;
    const prefixed = specifier.startsWith('node:');
    const name = prefixed ? specifier.slice(5) : specifier;
    // `node:` names a built-in by definition, even one this Node does not list (node:sqlite, node:test).
    if ((prefixed || BUILTINS.has(name)) && !found.includes(name)) found.push(name);
  }
  return found;
}

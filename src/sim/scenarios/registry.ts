/**
 * The simulator's scenarios by name: `kindling sim <scenario>` looks them up here, so a new
 * scenario (e.g. `faasnet-scale`, `calibration`) is one `registerScenario` call away.
 */
import { KindlingError } from '../../core/errors.js';
import type { MinuteArrivals } from '../../trace/azure2019.js';

/** Options every scenario may receive from the command line (each validates what it uses). */
export interface ScenarioOptions {
  /** Trace directories. */
  traces: string[];
  /** Where to write results. */
  outDir: string;
  /** Print progress lines. */
  say(line: string): void;
  /** Where a 2019 trace's per-minute counts go inside the minute (trace scenarios). Default `spread`. */
  minuteArrivals?: MinuteArrivals;
}

/** A runnable scenario. */
export interface Scenario {
  name: string;
  description: string;
  run(options: ScenarioOptions): Promise<unknown>;
}

const scenarios = new Map<string, Scenario>();

/** Adds a scenario (names are unique). */
export function registerScenario(s: Scenario): void {
  if (scenarios.has(s.name))
    throw new KindlingError('KINDLING_CONFLICT', `simulator scenario ${s.name} is already registered`);
  scenarios.set(s.name, s);
}

/** Known scenario names, sorted. */
export function scenarioNames(): string[] {
  return [...scenarios.keys()].sort();
}

/** The scenario called `name`, or KINDLING_NOT_FOUND listing the known ones. */
export function getScenario(name: string): Scenario {
  const s = scenarios.get(name);
  if (!s)
    throw new KindlingError(
      'KINDLING_NOT_FOUND',
      `unknown simulator scenario "${name}"; known scenarios: ${scenarioNames().join(', ') || '(none)'}`,
      { scenario: name, known: scenarioNames() },
    );
  return s;
}

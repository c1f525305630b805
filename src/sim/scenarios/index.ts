/** Registers the built-in scenarios; import this before looking one up. */
import { calibrationScenario } from './calibration.js';
import { faasnetScaleScenario } from './faasnet-scale.js';
import { keepAliveScenario } from './keepalive.js';
import { registerScenario, scenarioNames } from './registry.js';

for (const s of [keepAliveScenario, faasnetScaleScenario, calibrationScenario])
  if (!scenarioNames().includes(s.name)) registerScenario(s);

export { getScenario, scenarioNames } from './registry.js';

/** Registers the built-in scenarios; import this before looking one up. */
import { keepAliveScenario } from './keepalive.js';
import { registerScenario, scenarioNames } from './registry.js';

if (!scenarioNames().includes(keepAliveScenario.name)) registerScenario(keepAliveScenario);

export { getScenario, scenarioNames } from './registry.js';

/**
 * Placement: which host runs an invocation. In embedded mode there is one worker; the cluster issue
 * adds hosts, image locality and function trees behind this same seam.
 */
import { KindlingError } from '../core/errors.js';
import type { WorkerAgent } from '../worker/agent.js';
import type { FunctionVersion } from './functions.js';

export class Scheduler {
  constructor(private readonly workers: WorkerAgent[]) {}

  /** The worker that will run an invocation of `version`. */
  place(version: FunctionVersion): WorkerAgent {
    const worker = this.workers[0];
    if (!worker)
      throw new KindlingError('KINDLING_UNAVAILABLE', `no worker is available to run ${version.name}`);
    return worker;
  }

  /** Every worker, for fan-out operations (warm-up, removal, metrics). */
  all(): readonly WorkerAgent[] {
    return this.workers;
  }
}

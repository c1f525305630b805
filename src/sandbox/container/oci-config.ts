/**
 * The OCI runtime config (config.json) of one container instance. Pure: every path and limit comes in.
 *
 * What it grants: a read-only root (an empty skeleton), the function's files read-only at /fn, the node
 * binary and the host's shared libraries read-only, Kindling's runtime shim read-only, and a small
 * writable tmpfs at /tmp. Own PID, mount, IPC, UTS and network namespaces (the network namespace has
 * only loopback); no capabilities, no new privileges.
 *
 * Limits (cgroup v1): memory = memoryMb with swap equal to it (no swap), pids = `pidsLimit`, and CPU as
 * a CFS quota of `cpus` CPUs per 100 ms period plus shares proportional to memory (as AWS Lambda, whose
 * CPU scales with memory). The quota caps a spinning function at `cpus` CPUs so it cannot starve the
 * host; the shares split CPU fairly between busy instances under contention.
 */

/** Where things appear inside the container. */
export const IN_CONTAINER = {
  codeDir: '/fn',
  runtimeDir: '/kindling/runtime',
  node: '/kindling/node',
  tmp: '/tmp',
} as const;

/** A host path bind-mounted read-only at the same place inside the container (the libraries). */
export interface LibraryMount {
  host: string;
  container: string;
}

/** Everything `ociConfig` needs. */
export interface OciConfigInput {
  rootfs: string;
  /** argv of the container's process, its first element an in-container path. */
  args: string[];
  env: Record<string, string>;
  hostCodeDir: string;
  hostRuntimeDir: string;
  hostNode: string;
  libraries: LibraryMount[];
  cgroupsPath: string;
  memoryMb: number;
  tmpMb: number;
  pidsLimit: number;
  cpus: number;
  hostname: string;
  /**
   * A stem cell: `/fn` receives, by mount propagation, the code mounted on the host after the
   * container started (its mount is a slave of the host's, and so is the rootfs).
   */
  codePropagates?: boolean;
}

const RO_BIND = ['bind', 'ro', 'nosuid', 'nodev'];

/** The config.json object for one instance. */
export function ociConfig(input: OciConfigInput): Record<string, unknown> {
  const memoryBytes = input.memoryMb * 1024 * 1024;
  const periodUs = 100_000;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: input.args,
      env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
      cwd: IN_CONTAINER.codeDir,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }],
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: true },
    hostname: input.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=64k'],
      },
      {
        destination: IN_CONTAINER.tmp,
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'nodev', 'mode=1777', `size=${input.tmpMb}m`],
      },
      ...input.libraries.map((lib) => ({
        destination: lib.container,
        type: 'bind',
        source: lib.host,
        options: ['rbind', 'ro', 'nosuid', 'nodev'],
      })),
      { destination: IN_CONTAINER.node, type: 'bind', source: input.hostNode, options: RO_BIND },
      { destination: IN_CONTAINER.runtimeDir, type: 'bind', source: input.hostRuntimeDir, options: RO_BIND },
      {
        destination: IN_CONTAINER.codeDir,
        type: 'bind',
        source: input.hostCodeDir,
        options: input.codePropagates ? ['rbind', 'ro', 'nosuid', 'nodev', 'rslave'] : RO_BIND,
      },
    ],
    linux: {
      ...(input.codePropagates ? { rootfsPropagation: 'rslave' } : {}),
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      cgroupsPath: input.cgroupsPath,
      resources: {
        memory: { limit: memoryBytes, swap: memoryBytes },
        pids: { limit: input.pidsLimit },
        cpu: {
          shares: Math.max(2, Math.round((input.memoryMb / 1024) * 1024)),
          quota: Math.round(input.cpus * periodUs),
          period: periodUs,
        },
      },
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

import { LocalRegistry } from '../../src/image/registry.js';
import { HttpRegistryClient } from '../../src/image/http-registry.js';
import { tempDir } from './helpers.js';
import { startOciServer, TEST_TOKEN } from './oci-server.js';
import { registryCompliance } from './registry-compliance.js';

registryCompliance('LocalRegistry', async () => {
  const tmp = tempDir('kindling-registry-');
  return { registry: new LocalRegistry(tmp.dir), teardown: async () => tmp.cleanup() };
});

registryCompliance('HttpRegistryClient over /v2', async () => {
  const tmp = tempDir('kindling-registry-http-');
  const { app, url } = await startOciServer(new LocalRegistry(tmp.dir));
  return {
    registry: new HttpRegistryClient({ baseUrl: url, token: TEST_TOKEN }),
    teardown: async () => {
      await app.close();
      tmp.cleanup();
    },
  };
});

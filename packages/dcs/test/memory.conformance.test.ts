import { createMemoryBackend, silentLogger, systemClock } from '@pgha/dcs';
import { describeDriverConformance } from '@pgha/dcs/testing';

// One backend for the whole file: every test uses its own random scope.
const backend = createMemoryBackend({ clock: systemClock });

describeDriverConformance({
  name: 'memory',
  clock: systemClock,
  makeDriver: async (o) =>
    backend.createDriver({
      namespace: o.namespace ?? '/service',
      scope: o.scope,
      name: o.name,
      ttl: o.ttl ?? 10,
      loopWait: o.loopWait ?? 1,
      retryTimeout: o.retryTimeout ?? 3,
      section: {},
      clock: systemClock,
      logger: silentLogger,
    }),
});

// The shared driver contract, against one etcd server started for this file.
import { afterAll, beforeAll } from 'vitest';
import { describeDriverConformance } from '@pgha/dcs/testing';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions } from './fixtures/driver-options.js';

let etcd: EtcdCluster | undefined;

beforeAll(async () => {
  etcd = await startEtcd({ members: 1 });
});

afterAll(async () => {
  await etcd?.stop();
});

describeDriverConformance({
  name: 'etcd3, single server',
  makeDriver: async (o) => createDriver(driverOptions(etcd!.endpoints, o)),
});

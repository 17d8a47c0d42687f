// The shared driver contract, against a three-member etcd cluster: every driver is given all
// three endpoints and may talk to any of them.
import { afterAll, beforeAll } from 'vitest';
import { describeDriverConformance } from '@pgha/dcs/testing';
import { startEtcd, type EtcdCluster } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions } from './fixtures/driver-options.js';

let etcd: EtcdCluster | undefined;

beforeAll(async () => {
  etcd = await startEtcd({ members: 3 });
});

afterAll(async () => {
  await etcd?.stop();
});

describeDriverConformance({
  name: 'etcd3, three-member cluster',
  makeDriver: async (o) => createDriver(driverOptions(etcd!.endpoints, o)),
});

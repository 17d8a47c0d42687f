// The shared driver contract, against one ZooKeeper server started for this file.
import { afterAll, beforeAll } from 'vitest';
import { describeDriverConformance } from '@pgha/dcs/testing';
import { startZooKeeper, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { createDriver } from '../src/index.js';
import { driverOptions } from './fixtures/driver-options.js';

let zk: ZooKeeperEnsemble | undefined;

beforeAll(async () => {
  // tickTime 1000: sessions of 2-20 s, so the suite's ttl of 10-15 s is granted as asked.
  zk = await startZooKeeper({ members: 1, tickTime: 1000 });
});

afterAll(async () => {
  await zk?.stop();
});

describeDriverConformance({
  name: 'zookeeper, single server',
  makeDriver: async (o) => createDriver(driverOptions(zk!.connectString, o)),
});

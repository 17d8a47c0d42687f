// The shared driver contract again, with every znode under an ACL: the credentials of auth_data
// are the only ones that may write (set_acls), as a cluster protected that way runs. Its own
// server, so the ACL'd /service does not lock the plain conformance run out.
import { afterAll, beforeAll } from 'vitest';
import { describeDriverConformance } from '@pgha/dcs/testing';
import { startZooKeeper, type ZooKeeperEnsemble } from '@pgha/test-servers';
import { digestId } from '../src/config.js';
import { createDriver } from '../src/index.js';
import { driverOptions } from './fixtures/driver-options.js';

const CREDENTIAL = 'pgha:secret';
let zk: ZooKeeperEnsemble | undefined;

beforeAll(async () => {
  zk = await startZooKeeper({ members: 1, tickTime: 1000 });
});

afterAll(async () => {
  await zk?.stop();
});

describeDriverConformance({
  name: 'zookeeper, single server, auth_data and set_acls',
  makeDriver: async (o) =>
    createDriver(
      driverOptions(zk!.connectString, {
        ...o,
        section: { hosts: zk!.connectString.split(','), auth_data: { digest: CREDENTIAL }, set_acls: { [`digest:${digestId(CREDENTIAL)}`]: ['ALL'] } },
      }),
    ),
});

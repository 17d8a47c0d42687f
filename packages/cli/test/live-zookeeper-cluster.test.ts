// pghactl against a live 3-member pgha cluster on ZooKeeper: every command, as on etcd.
import { describeLiveCluster } from './fixtures/live-scenario.ts';

describeLiveCluster('zookeeper', { scope: 'batman6', full: true });

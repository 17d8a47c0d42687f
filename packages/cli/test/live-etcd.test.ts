// pghactl against a live 3-member pgha cluster on etcd: every command (see fixtures/live-scenario.ts).
import { describeLiveCluster } from './fixtures/live-scenario.ts';

describeLiveCluster('etcd', { scope: 'batman5', full: true });

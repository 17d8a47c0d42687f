// Which WAL position counts as ours (core/wal-position.ts; moved from the agent's PostgreSQL adapter, issue #19).
import { describe, expect, it } from 'vitest';
import { exceedsLag, ourWalPosition, replicaLagPosition, type WalPositions } from '../src/index.js';

const read = (p: Partial<WalPositions>): WalPositions => ({
  running: true,
  role: 'replica',
  currentLsn: null,
  receivedLsn: null,
  replayedLsn: null,
  stoppedLsn: null,
  ...p,
});

describe('ourWalPosition', () => {
  it('a running primary: its flushed position, whatever else was read', () => {
    expect(ourWalPosition(read({ role: 'primary', currentLsn: 500, receivedLsn: 900, stoppedLsn: 100 }))).toBe(500);
    expect(ourWalPosition(read({ role: 'primary' }))).toBeNull();
  });

  it('a running replica: the further of received and replayed', () => {
    expect(ourWalPosition(read({ receivedLsn: 700, replayedLsn: 650 }))).toBe(700);
    expect(ourWalPosition(read({ receivedLsn: null, replayedLsn: 650 }))).toBe(650);
    expect(ourWalPosition(read({ receivedLsn: 600, replayedLsn: 650 }))).toBe(650);
  });

  it('a running replica with no position read (or only 0) has none', () => {
    expect(ourWalPosition(read({}))).toBeNull();
    expect(ourWalPosition(read({ receivedLsn: 0, replayedLsn: 0 }))).toBeNull();
  });

  it('a running server of unknown role is read as a replica', () => {
    expect(ourWalPosition(read({ role: 'unknown', currentLsn: 500, replayedLsn: 300 }))).toBe(300);
  });

  it('a stopped server: its latest checkpoint, for either role', () => {
    expect(ourWalPosition(read({ running: false, role: 'primary', currentLsn: 500, stoppedLsn: 400 }))).toBe(400);
    expect(ourWalPosition(read({ running: false, role: 'replica', receivedLsn: 500, stoppedLsn: null }))).toBeNull();
  });
});

describe('the lag rule (one copy: the engine measures what a replica holds, the REST API what it replayed)', () => {
  const replica = { receivedLsn: 5000, replayedLsn: 4000 };

  it('measures received-or-replayed for the engine, replayed for the API', () => {
    expect(replicaLagPosition(replica, 'held')).toBe(5000);
    expect(replicaLagPosition(replica, 'replayed')).toBe(4000);
    expect(replicaLagPosition({ receivedLsn: null, replayedLsn: null }, 'held')).toBe(0);
  });

  it('lags when more than the limit behind the published primary position; an unknown one lags nobody', () => {
    expect(exceedsLag({ primaryLsn: 6000, position: replicaLagPosition(replica, 'held'), maxLagBytes: 1500 })).toBe(false);
    expect(exceedsLag({ primaryLsn: 6000, position: replicaLagPosition(replica, 'replayed'), maxLagBytes: 1500 })).toBe(true);
    expect(exceedsLag({ primaryLsn: 6000, position: 4500, maxLagBytes: 1500 })).toBe(false);
    expect(exceedsLag({ primaryLsn: 0, position: 0, maxLagBytes: 0 })).toBe(false);
  });
});

// The PostgreSQL adapter reports what a slot plan met as typed outcomes; deciding what follows
// (dropping a copy whose WAL is gone) is the engine's rule (issue #19), so the adapter drops nothing
// it was not asked to.
import { describe, expect, it } from 'vitest';
import type { PostgresController } from '@pgha/postgres-controller';
import { adaptPostgresController, isWalRemoved } from '../src/adapters/postgres-port.js';

function controllerWith(advance: (name: string) => Promise<void>): { controller: PostgresController; dropped: string[] } {
  const dropped: string[] = [];
  const controller = {
    dropSlot: async (name: string) => {
      dropped.push(name);
      return true;
    },
    createPhysicalSlot: async () => true,
    createLogicalSlot: async () => true,
    advanceSlot: (name: string) => advance(name),
  } as unknown as PostgresController;
  return { controller, dropped };
}

describe('syncSlots', () => {
  it('reports a copy whose WAL is gone, and other failures, without acting on them', async () => {
    const { controller, dropped } = controllerWith(async (name) => {
      if (name === 'gone') throw new Error('requested WAL segment 000000010000000000000003 has already been removed');
      if (name === 'broken') throw new Error('replication slot "broken" does not exist');
    });
    const report = await adaptPostgresController(controller).syncSlots(
      { create: [], drop: [], advance: [{ name: 'gone', database: 'app', lsn: 1 }, { name: 'broken', database: 'app', lsn: 1 }, { name: 'fine', database: 'app', lsn: 1 }] },
      new AbortController().signal,
    );
    expect(report.walRemoved).toEqual(['gone']);
    expect(report.failures).toEqual([
      'advance slot gone: requested WAL segment 000000010000000000000003 has already been removed',
      'advance slot broken: replication slot "broken" does not exist',
    ]);
    expect(dropped).toEqual([]);
  });

  it('carries out the drops it is given', async () => {
    const { controller, dropped } = controllerWith(async () => {});
    const report = await adaptPostgresController(controller).syncSlots({ create: [], drop: ['gone'], advance: [] }, new AbortController().signal);
    expect(report).toEqual({ failures: [], walRemoved: [] });
    expect(dropped).toEqual(['gone']);
  });
});

describe('isWalRemoved', () => {
  it("recognises PostgreSQL's message only", () => {
    expect(isWalRemoved(new Error('requested WAL segment 00000001000000000000000A has already been removed'))).toBe(true);
    expect(isWalRemoved(new Error('permission denied'))).toBe(false);
    expect(isWalRemoved('has already been removed')).toBe(false);
  });
});

import { expect, test } from 'bun:test';
import { ApiError } from '../../src/errors.ts';
import { createPoolGate } from '../../src/http/pool-gate.ts';

// The pool gate's admission rules, on its own: which requests run at once, and in which order
// the waiting ones are let in. (tests/reliability/slow-database.test.ts shows them against PostgreSQL.)

/** A request held inside the gate until `finish` is called; `started` tells whether it was admitted. */
function request(gate: ReturnType<typeof createPoolGate>, shared: boolean) {
  let finish!: () => void;
  const state = { started: false, settled: undefined as 'done' | 'refused' | undefined };
  const done = gate
    .hold(shared, () => {
      state.started = true;
      return new Promise<void>((resolve) => (finish = resolve));
    })
    .then(
      () => (state.settled = 'done'),
      (error) => {
        expect(error).toBeInstanceOf(ApiError);
        state.settled = 'refused';
      },
    );
  return { state, finish: () => finish(), done };
}

const turn = () => Bun.sleep(0);

test('reads fill the connections up to the depth; a write then waits for one to be free, and the reads behind it wait for it', async () => {
  const gate = createPoolGate(2, 5_000, 0, 3);
  const reads = Array.from({ length: 6 }, () => request(gate, true));
  await turn();
  expect(reads.every((r) => r.state.started)).toBe(true);
  expect(gate.stats()).toEqual({ inUse: 6, waiting: 0, size: 2 });

  const write = request(gate, false);
  const readAfter = request(gate, true);
  await turn();
  expect(write.state.started).toBe(false);
  expect(gate.stats()).toEqual({ inUse: 6, waiting: 2, size: 2 });

  // Four reads leave: still two connections' worth in flight, the write waits, and so does the read behind it.
  for (const r of reads.slice(0, 4)) r.finish();
  await Promise.all(reads.slice(0, 4).map((r) => r.done));
  expect(write.state.started).toBe(false);
  expect(readAfter.state.started).toBe(false);

  // One more leaves: a connection is free, the write takes it. The read behind it now needs
  // a connection of its own too (no pipelining beside a write), and none is left.
  reads[4]!.finish();
  await reads[4]!.done;
  expect(write.state.started).toBe(true);
  expect(readAfter.state.started).toBe(false);

  reads[5]!.finish();
  await reads[5]!.done;
  expect(readAfter.state.started).toBe(true);
  expect(gate.stats()).toEqual({ inUse: 2, waiting: 0, size: 2 });
  write.finish();
  readAfter.finish();
  await Promise.all([write.done, readAfter.done]);
  expect(gate.stats()).toEqual({ inUse: 0, waiting: 0, size: 2 });
});

test('a write that gives up after the wait lets in at once the reads queued behind it', async () => {
  const gate = createPoolGate(1, 50, 0, 2);
  const read = request(gate, true);
  const write = request(gate, false);
  const readAfter = request(gate, true);
  await turn();
  // One read on the one connection: the write waits for it, and the read behind the write waits too.
  expect(gate.stats()).toEqual({ inUse: 1, waiting: 2, size: 1 });
  await write.done;
  expect(write.state).toEqual({ started: false, settled: 'refused' });
  // Nothing left, yet the read behind the write runs now, pipelined beside the first.
  await turn();
  expect(readAfter.state.started).toBe(true);
  expect(gate.stats()).toEqual({ inUse: 2, waiting: 0, size: 1 });
  read.finish();
  readAfter.finish();
  await Promise.all([read.done, readAfter.done]);
});

test('with depth 1 every request takes a connection of its own', async () => {
  const gate = createPoolGate(2, 5_000, 0, 1);
  const reads = Array.from({ length: 3 }, () => request(gate, true));
  await turn();
  expect(reads.map((r) => r.state.started)).toEqual([true, true, false]);
  for (const r of reads.slice(0, 2)) r.finish();
  await turn();
  await turn();
  expect(reads[2]!.state.started).toBe(true);
  reads[2]!.finish();
  await Promise.all(reads.map((r) => r.done));
});

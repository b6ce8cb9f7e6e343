// The study queue: one worker per study, oldest first, and the low-water mark the cursor may not pass.
import { describe, expect, it } from 'vitest';
import { StudyQueue } from '../../src/sidecar/queue.js';

describe('StudyQueue', () => {
  it('hands out the oldest study no worker holds, and keeps a study added while in hand for after it', () => {
    const queue = new StudyQueue();
    queue.add('slow', 10);
    queue.add('quick', 11);
    expect(queue.take()).toEqual({ studyId: 'slow', seq: 10 });
    queue.add('slow', 12); // its own status write comes back through the feed
    expect(queue.take()).toEqual({ studyId: 'quick', seq: 11 });
    expect(queue.take()).toBeUndefined(); // "slow" waits, but a worker holds it
    queue.done('slow');
    expect(queue.take()).toEqual({ studyId: 'slow', seq: 12 });
  });

  it('keeps the earliest change of a study that waits, whatever order the changes come in', () => {
    const queue = new StudyQueue();
    queue.add('a');
    queue.add('a', 7);
    queue.add('a', 9);
    expect(queue.length).toBe(1);
    expect(queue.take()).toEqual({ studyId: 'a', seq: 7 });
  });

  it('puts the low-water mark at the earliest change waiting or in hand, and lifts it when they are done', () => {
    const queue = new StudyQueue();
    expect(queue.lowWater()).toBeUndefined();
    queue.add('slow', 10);
    queue.add('quick', 11);
    queue.add('woken'); // a wake-up or a sweep: no change to hold back
    queue.take();
    queue.take();
    queue.done('quick');
    expect(queue.lowWater()).toBe(10); // the slow study in hand holds the cursor before its change
    queue.done('slow');
    expect(queue.lowWater()).toBeUndefined();
  });
});

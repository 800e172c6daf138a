import { strict as assert } from 'assert';
import { RecentIds } from '../../lib/live';

describe('live/recent-ids', () => {
  it('forgets the oldest beyond its capacity', () => {
    const s = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) s.add(id);
    assert.equal(s.has('a'), false);
    assert.equal(s.has('d'), true);
    s.add('b'); // refreshed: 'c' is now the oldest
    s.add('e');
    assert.equal(s.has('b'), true);
    assert.equal(s.has('c'), false);
    assert.equal(s.size, 3);
  });
});

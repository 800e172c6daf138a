/**
 * Child process for the SIGKILL test: appends batches to an outbox as fast as it can and prints
 * `acked <count>` after each append resolved (fsynced). Optionally consumes and acks, so the kill can also
 * land inside ack() and compaction. The parent kills it with SIGKILL at a random moment.
 */
import { Outbox } from '../../../lib/sinks/outbox';
import { makeRecords } from '../../support/records';

async function main(): Promise<void> {
  const [dir, consume] = process.argv.slice(2);
  const box = await Outbox.open(dir, { segmentBytes: 64 * 1024 });
  let n = 0;
  let consumed = 0;
  for (;;) {
    const batch = makeRecords(50, { from: n });
    await box.append(batch);
    n += batch.length;
    if (consume === 'consume' && n % 200 === 0) {
      const b = await box.next(120);
      if (b) {
        await box.ack(b);
        consumed += b.items.length;
      }
    }
    process.stdout.write(`acked ${n} consumed ${consumed}\n`);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

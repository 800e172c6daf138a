/**
 * Child process for the HTTP crash test: the zk-sink pipeline without Node-RED (outbox → delivery loop → HTTP
 * sink with its acknowledged-id journal). Appends records [from, from + count) like a poll would, delivers,
 * and prints `done` once the outbox is empty. The parent kills it with SIGKILL while a POST is in flight.
 */
import { Outbox } from '../../../lib/sinks/outbox';
import { DeliveryLoop } from '../../../lib/sinks/delivery';
import { HttpSink } from '../../../lib/sinks/http';
import type { AttendanceRecord } from '../../../lib/record';
import { makeRecords } from '../../support/records';

async function main(): Promise<void> {
  const [outboxDir, ackDir, url, from, count] = process.argv.slice(2);
  const box = await Outbox.open<AttendanceRecord>(outboxDir);
  const sink = new HttpSink({ url, ackDir });
  const loop = new DeliveryLoop({
    sink,
    outbox: box,
    batchSize: 100,
    flushIntervalMs: 0,
    backoff: { baseMs: 10, maxMs: 100 },
  });
  await box.append(makeRecords(Number(count), { from: Number(from) }));
  loop.start();
  while (box.pending > 0) await box.waitForAppend(20);
  await loop.stop();
  await sink.close();
  await box.close();
  process.stdout.write('done\n');
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});

/**
 * The sink factory: one entry per target. Target modules are required lazily so a flow writing files
 * never loads mysql2, mssql or the native odbc module, and a target whose module is missing says so plainly.
 */
import type { FileSinkOptions } from './file';
import type { HttpSinkOptions } from './http';
import type { MysqlSinkOptions } from './mysql';
import type { MssqlSinkOptions } from './mssql';
import type { AccessSinkOptions } from './access';
import type { MqttSinkOptions } from './mqtt';
import { Sink, SinkError, SinkLogger, SinkTarget } from './types';

export * from './types';
export { Outbox } from './outbox';
export type { OutboxBatch, OutboxOptions, OutboxPosition } from './outbox';
export { DeliveryLoop, retryDelay, isOutage, DEFAULT_DELIVERY_BACKOFF, DEFAULT_ISOLATE_AFTER } from './delivery';
export type { DeliveryReport, DeliveryState, DeliveryOptions, BackoffPolicy } from './delivery';

export type SinkConfig =
  | { target: 'mysql'; options: MysqlSinkOptions }
  | { target: 'mssql'; options: MssqlSinkOptions }
  | { target: 'access'; options: AccessSinkOptions }
  | { target: 'http'; options: HttpSinkOptions }
  | { target: 'file'; options: FileSinkOptions }
  | { target: 'mqtt'; options: MqttSinkOptions };

type Factory = (options: never, logger?: SinkLogger) => Sink;

/** Module path and factory name per target. */
const MODULES: Record<SinkTarget, { module: string; factory: string }> = {
  mysql: { module: './mysql', factory: 'createMysqlSink' },
  mssql: { module: './mssql', factory: 'createMssqlSink' },
  access: { module: './access', factory: 'createAccessSink' },
  http: { module: './http', factory: 'createHttpSink' },
  file: { module: './file', factory: 'createFileSink' },
  mqtt: { module: './mqtt', factory: 'createMqttSink' },
};

export const SINK_TARGETS: readonly SinkTarget[] = ['mysql', 'mssql', 'access', 'http', 'file', 'mqtt'];

function loadFactory(target: SinkTarget): Factory {
  const entry = MODULES[target];
  if (!entry) throw new SinkError(`unknown target ${JSON.stringify(target)}`, true, 'file');
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(entry.module) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && e.message.includes(entry.module.slice(2))) {
      throw new SinkError(`target ${target} not available in this build of PunchFlow`, true, target);
    }
    throw err;
  }
  const factory = mod[entry.factory];
  if (typeof factory !== 'function')
    throw new SinkError(`target ${target} not available (${entry.factory} missing)`, true, target);
  return factory as Factory;
}

/** Creates the sink for a target; throws a permanent SinkError when the target is not available. */
export function createSink(config: SinkConfig, logger?: SinkLogger): Sink {
  return loadFactory(config.target)(config.options as never, logger);
}

/** One rule per setting: the runtime, both capture nodes and the generated editor checks agree. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import {
  editorDefault,
  NumberRule,
  readSetting,
  ruleMessage,
  SETTING_RULES,
} from '../../../nodes/shared/setting-rules';
import { expandEditorHtml } from '../../../nodes/shared/editor-html';
import { pollSettings } from '../../../nodes/zk-poll/poll-config';
import { liveSettings } from '../../../nodes/zk-live/live-config';
import { normaliseDeviceConfig } from '../../../lib/device';
import { SAFE_IDENTIFIER } from '../../../lib/sinks/mysql-sql';
import { IDENTIFIER } from '../../../lib/sinks/mssql-sql';

const nodesDir = path.resolve(__dirname, '..', '..', '..', 'nodes');

/** The editor's `defaults` entry for a setting, evaluated as the editor would. */
function editorEntry(
  type: string,
  name: string,
): { value: unknown; validate: (v: unknown) => true | string | boolean } {
  const src = editorDefault(type, name);
  const obj = src.slice(src.indexOf(':') + 1);
  return new Function(`return (${obj});`)() as { value: unknown; validate: (v: unknown) => true | string | boolean };
}

const SAMPLES: unknown[] = [
  '',
  undefined,
  null,
  '0',
  0,
  '-1',
  0.00001,
  0.0001,
  0.001,
  0.005,
  0.01,
  0.5,
  1,
  1.5,
  '2',
  99,
  100,
  255,
  256,
  300,
  1000,
  1001,
  3600,
  3601,
  4370,
  5000,
  10080,
  10081,
  65535,
  65536,
  86400,
  86401,
  120000,
  120001,
  604800,
  604801,
  1e6,
  1e6 + 1,
  'abc',
  '12x',
  'Infinity',
];

describe('setting rules', () => {
  for (const [type, rules] of Object.entries(SETTING_RULES) as [string, Record<string, NumberRule>][]) {
    for (const [name, r] of Object.entries(rules)) {
      it(`${type} ${name}: the editor check accepts exactly what the runtime accepts, with the runtime's message`, () => {
        const entry = editorEntry(type, name);
        assert.equal(entry.value, r.default);
        // Node-RED reads a returned string as "invalid, because…" only from a validator of two parameters.
        assert.equal(entry.validate.length, 2);
        for (const v of SAMPLES) {
          let runtimeOk = true;
          try {
            readSetting(r, v);
          } catch (err) {
            runtimeOk = false;
            assert.ok((err as Error).message.startsWith(ruleMessage(r)), (err as Error).message);
          }
          const said = entry.validate(v);
          assert.equal(
            said === true,
            runtimeOk,
            `${name} = ${String(v)}: editor ${String(said)}, runtime ${runtimeOk ? 'accepts' : 'refuses'}`,
          );
          if (!runtimeOk) assert.equal(said, ruleMessage(r));
        }
      });
    }
  }

  it('zk-poll and zk-live read the settings they share the same way', () => {
    for (const v of [0.005, 0.002, 0.05, 3]) {
      assert.equal(
        pollSettings({ longStreakHours: v }, {}).longStreakMs,
        liveSettings({ longStreakHours: v }, {}).health.longStreakMs,
        `longStreakHours ${v}`,
      );
      assert.equal(
        pollSettings({ longStreakRetryMin: v }, {}).longStreakRetryMs,
        liveSettings({ longStreakRetryMin: v }, {}).health.longStreakRetryMs,
        `longStreakRetryMin ${v}`,
      );
    }
    for (const bad of [0, -1, 9000]) {
      assert.throws(
        () => pollSettings({ longStreakHours: bad }, {}),
        /long failure streak \(h\) must be a number from 0.0001 to 8760/,
      );
      assert.throws(
        () => liveSettings({ longStreakHours: bad }, {}),
        /long failure streak \(h\) must be a number from 0.0001 to 8760/,
      );
    }
    assert.throws(
      () => pollSettings({ concurrency: 2.5 }, {}),
      /concurrency must be a whole number from 1 to 256 \(got "2.5"\)/,
    );
  });

  it('the device rules are the ones lib/device checks', () => {
    const { port, timeout } = SETTING_RULES['zk-poll'];
    assert.throws(() => normaliseDeviceConfig({ host: '127.0.0.1', port: port.max + 1 }), /port/);
    assert.equal(normaliseDeviceConfig({ host: '127.0.0.1', port: port.max }).port, port.max);
    assert.equal(normaliseDeviceConfig({ host: '127.0.0.1' }).port, port.default);
    assert.throws(
      () => normaliseDeviceConfig({ host: '127.0.0.1', timeoutMs: timeout.min - 1 }),
      /timeout must be from 100 to 120000 ms/,
    );
    assert.equal(normaliseDeviceConfig({ host: '127.0.0.1' }).timeoutMs, timeout.default);
  });
});

describe('editor HTML written once', () => {
  const html = (t: string) => expandEditorHtml(fs.readFileSync(path.join(nodesDir, t, `${t}.html`), 'utf8'), t);

  it('every node file expands with no marker left, and an unknown marker stops the build', () => {
    for (const t of fs.readdirSync(nodesDir).filter((d) => fs.existsSync(path.join(nodesDir, d, `${d}.html`)))) {
      assert.doesNotMatch(html(t), /@@/, t);
    }
    assert.throws(() => expandEditorHtml('@@rule:nope@@', 'zk-poll'), /no setting rule "nope"/);
    assert.throws(() => expandEditorHtml('@@rule:chunkSize@@', 'zk-live'), /zk-live.html: no setting rule "chunkSize"/);
    assert.throws(() => expandEditorHtml('@@other@@', 'zk-x'), /unknown marker @@other@@/);
  });

  it('zk-poll, zk-live and zk-users carry the same device-source form, each with its own labels', () => {
    const form = (t: string) => {
      const h = html(t);
      const start = h.indexOf('<label for="node-input-mode">');
      const end = h.indexOf('</div>', h.indexOf('id="node-input-shard"'));
      assert.ok(start > 0 && end > start, t);
      return h.slice(start, end);
    };
    const poll = form('zk-poll');
    assert.equal(poll.replace(/zk-poll/g, 'zk-live'), form('zk-live'));
    // zk-users: the same rows up to the timeout, no shard.
    const users = html('zk-users');
    const upToTimeout = (h: string) =>
      h.slice(h.indexOf('<label for="node-input-mode">'), h.indexOf('</div>', h.indexOf('id="node-input-timeout"')));
    assert.equal(upToTimeout(html('zk-poll')).replace(/zk-poll/g, 'zk-users'), upToTimeout(users));
    assert.ok(!users.includes('node-input-shard'));
    assert.match(poll, /data-i18n="zk-poll\.label\.shard"/);
    for (const t of ['zk-poll', 'zk-live']) assert.ok(html(t).includes(editorDefault(t, 'longStreakHours')), t);
    assert.equal(editorDefault('zk-poll', 'longStreakHours'), editorDefault('zk-live', 'longStreakHours'));
  });

  it('zk-sink checks table names with the regular expressions the MySQL and SQL Server sinks use', () => {
    const h = html('zk-sink');
    assert.ok(h.includes(SAFE_IDENTIFIER.toString()) && h.includes(IDENTIFIER.toString()));
  });
});

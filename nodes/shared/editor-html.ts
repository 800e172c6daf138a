/**
 * The parts of the editor HTML written once and filled in at build time (scripts/copy-assets.js calls
 * expandEditorHtml on each node's .html): setting rules (`@@rule:<name>@@` → a `defaults` entry from
 * setting-rules.ts), the device-source form zk-poll, zk-live and zk-users share (`@@device-source-defaults@@`,
 * `@@device-source-prepare@@`, `<!-- @@device-source-form@@ -->`; `:no-shard` after the name leaves out the
 * shard, which zk-users does not have) and the SQL identifier rules of the
 * sinks (`@@identifier:mysql@@`, `@@identifier:mssql@@` → the regular expression the sink checks with).
 */
import { SAFE_IDENTIFIER } from '../../lib/sinks/mysql-sql';
import { IDENTIFIER as MSSQL_IDENTIFIER } from '../../lib/sinks/mssql-sql';
import { editorDefault } from './setting-rules';

/** Where the devices of zk-poll / zk-live come from, and the fleet defaults: the `defaults` entries. */
function deviceSourceDefaults(type: string, withShard: boolean): string {
  // The shard rule mirrors lib/fleet/shard.ts parseShard: i/n or "i of n", n ≤ 1024, i < n, or an env variable.
  const shard =
    "shard: { value: '', validate: function (v, opt) { var t = String(v === undefined || v === null ? '' : v).trim().toLowerCase(); " +
    "if (t === '' || t === 'off' || t === 'none' || /^\\$\\{\\w+\\}$/.test(t)) return true; var m = /^(\\d+)\\s*(?:\\/|of)\\s*(\\d+)$/.exec(t); " +
    "return (!!m && Number(m[2]) >= 1 && Number(m[2]) <= 1024 && Number(m[1]) < Number(m[2])) || 'shard must be i/n with i < n ≤ 1024 (e.g. 0/3), or empty'; } }";
  return [
    "mode: { value: 'device' }",
    "device: { value: '', type: 'zk-device', required: false }",
    "fleet: { value: '' }",
    "range: { value: '' }",
    editorDefault(type, 'port'),
    "tz: { value: '' }",
    "site: { value: '' }",
    "transport: { value: 'tcp' }",
    editorDefault(type, 'timeout'),
    ...(withShard ? [shard] : []),
  ].join(',\n      ');
}

/** oneditprepare's part: show only the rows of the chosen source; fleet defaults for every fleet source. */
function deviceSourcePrepare(type: string): string {
  return `(function () {
        function show() {
          var mode = $('#node-input-mode').val();
          $('.${type}-row-device').toggle(mode === 'device');
          $('.${type}-row-list').toggle(mode === 'list');
          $('.${type}-row-range').toggle(mode === 'range');
          $('.${type}-row-fleet').toggle(mode !== 'device');
        }
        $('#node-input-mode').on('change', show);
        show();
        $('#node-input-fleet').css('font-family', 'monospace');
      })();`;
}

/** The form rows of the device source (after the name row). Labels come from the node's own locale file. */
function deviceSourceForm(type: string, withShard: boolean): string {
  const t = type;
  return `<div class="form-row">
    <label for="node-input-mode"><i class="fa fa-sitemap"></i> <span data-i18n="${t}.label.mode"></span></label>
    <select id="node-input-mode" style="width: 70%">
      <option value="device" data-i18n="${t}.mode.device"></option>
      <option value="list" data-i18n="${t}.mode.list"></option>
      <option value="range" data-i18n="${t}.mode.range"></option>
      <option value="msg" data-i18n="${t}.mode.msg"></option>
    </select>
  </div>
  <div class="form-row ${t}-row-device">
    <label for="node-input-device"><i class="fa fa-clock-o"></i> <span data-i18n="${t}.label.device"></span></label>
    <input type="text" id="node-input-device">
  </div>
  <div class="form-row ${t}-row-list">
    <label for="node-input-fleet"><i class="fa fa-list"></i> <span data-i18n="${t}.label.fleet"></span></label>
    <textarea id="node-input-fleet" rows="8" style="width: 70%" placeholder="host,port,name,site,tz&#10;10.1.0.21,4370,Front door,Mumbai,Asia/Kolkata"></textarea>
  </div>
  <div class="form-row ${t}-row-range">
    <label for="node-input-range"><i class="fa fa-arrows-h"></i> <span data-i18n="${t}.label.range"></span></label>
    <input type="text" id="node-input-range" placeholder="10.1.0.0/24 or 10.1.0.10-10.1.0.200">
  </div>
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-port"><i class="fa fa-plug"></i> <span data-i18n="${t}.label.port"></span></label>
    <input type="text" id="node-input-port" style="width: 80px">
    <label for="node-input-transport" style="margin-left: 10px; width: 80px"><span data-i18n="${t}.label.transport"></span></label>
    <select id="node-input-transport" style="width: 120px">
      <option value="tcp">TCP</option>
      <option value="udp">UDP</option>
      <option value="auto" data-i18n="${t}.transport.auto"></option>
    </select>
  </div>
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-commKey"><i class="fa fa-key"></i> <span data-i18n="${t}.label.commKey"></span></label>
    <input type="password" id="node-input-commKey" data-i18n="[placeholder]${t}.placeholder.commKey">
  </div>
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-tz"><i class="fa fa-globe"></i> <span data-i18n="${t}.label.tz"></span></label>
    <input type="text" id="node-input-tz" data-i18n="[placeholder]${t}.placeholder.tz">
  </div>
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-site"><i class="fa fa-building"></i> <span data-i18n="${t}.label.site"></span></label>
    <input type="text" id="node-input-site">
  </div>
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-timeout"><i class="fa fa-hourglass-half"></i> <span data-i18n="${t}.label.timeout"></span></label>
    <input type="text" id="node-input-timeout" style="width: 80px"> ms
  </div>${
    withShard
      ? `
  <div class="form-row ${t}-row-fleet">
    <label for="node-input-shard"><i class="fa fa-pie-chart"></i> <span data-i18n="${t}.label.shard"></span></label>
    <input type="text" id="node-input-shard" style="width: 120px" data-i18n="[placeholder]${t}.placeholder.shard">
    <span data-i18n="${t}.unit.shard"></span>
  </div>`
      : ''
  }`;
}

const IDENTIFIERS: Record<string, RegExp> = { mysql: SAFE_IDENTIFIER, mssql: MSSQL_IDENTIFIER };

/** `html` (a node's editor file) with every marker filled in for node `type`; throws on an unknown marker. */
export function expandEditorHtml(html: string, type: string): string {
  const out = html
    .replace(/<!-- @@device-source-form(:no-shard)?@@ -->/g, (_m, noShard?: string) => deviceSourceForm(type, !noShard))
    .replace(/@@device-source-defaults(:no-shard)?@@/g, (_m, noShard?: string) => deviceSourceDefaults(type, !noShard))
    .replace(/@@device-source-prepare@@/g, () => deviceSourcePrepare(type))
    .replace(/@@rule:(\w+)@@/g, (_m, name: string) => editorDefault(type, name))
    .replace(/@@identifier:(\w+)@@/g, (_m, name: string) => {
      const re = IDENTIFIERS[name];
      if (!re) throw new Error(`${type}.html: no identifier rule "${name}"`);
      return re.toString();
    });
  const left = /@@[\w:-]*@@/.exec(out);
  if (left) throw new Error(`${type}.html: unknown marker ${left[0]}`);
  return out;
}

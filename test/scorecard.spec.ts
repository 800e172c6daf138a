/**
 * Offline Flow Library scorecard self-check. The official validator needs the network
 * and silently drops nodes whose HTML it cannot parse; this one fails instead.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as acorn from 'acorn';

const root = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  license?: string;
  repository?: unknown;
  bugs?: unknown;
  keywords?: string[];
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  'node-red': { version: string; nodes: Record<string, string> };
};

interface Registration {
  type: string;
  props: Record<string, unknown>;
}

/** Literal value of an AST node, or a marker when it is not a literal. */
function literal(n: acorn.Node | null | undefined): unknown {
  if (!n) return undefined;
  const a = n as acorn.Node & { type: string; value?: unknown; elements?: acorn.Node[] };
  if (a.type === 'Literal') return a.value;
  if (a.type === 'ArrayExpression') return (a.elements ?? []).map(literal);
  return '<not-literal>';
}

function registrations(html: string): Registration[] {
  const out: Registration[] = [];
  const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  for (const code of scripts) {
    const ast = acorn.parse(code, { ecmaVersion: 2020 });
    const walk = (n: unknown): void => {
      if (!n || typeof n !== 'object') return;
      const node = n as {
        type?: string;
        callee?: { type: string; property?: { name?: string } };
        arguments?: acorn.Node[];
      };
      if (
        node.type === 'CallExpression' &&
        node.callee?.type === 'MemberExpression' &&
        node.callee.property?.name === 'registerType'
      ) {
        const [typeArg, objArg] = node.arguments ?? [];
        const props: Record<string, unknown> = {};
        for (const p of (
          objArg as unknown as { properties?: { key: { name?: string; value?: string }; value: acorn.Node }[] }
        ).properties ?? []) {
          props[p.key.name ?? String(p.key.value)] = literal(p.value);
        }
        out.push({ type: String(literal(typeArg)), props });
      }
      for (const v of Object.values(n)) {
        if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object') walk(v);
      }
    };
    walk(ast);
  }
  return out;
}

function exampleTypes(): Set<string> {
  const types = new Set<string>();
  const dir = path.join(root, 'examples');
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) {
        const flow = JSON.parse(fs.readFileSync(p, 'utf8')) as unknown;
        assert.ok(Array.isArray(flow), `${path.relative(root, p)} must be a JSON array of nodes`);
        for (const n of flow as { type?: string }[]) if (n.type) types.add(n.type);
      }
    }
  };
  walk(dir);
  return types;
}

/** `>=a.b.c` satisfied by version v (the only range shapes we use). */
function satisfiesMin(range: string, v: string): boolean {
  const m = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(range.trim());
  assert.ok(m, `range "${range}" should be of the form >=x.y.z`);
  const want = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  const have = v
    .replace(/^[^\d]*/, '')
    .split('.')
    .map(Number);
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i] > want[i];
  return true;
}

describe('Flow Library scorecard (offline self-check)', () => {
  const nodes = pkg['node-red'].nodes;
  const types = exampleTypes();

  for (const [type, file] of Object.entries(nodes)) {
    describe(type, () => {
      const js = path.join(root, file);
      const html = js.replace(/\.js$/, '.html');
      it('compiled .js exists with its .html beside it', () => {
        assert.ok(fs.existsSync(js), `${file} missing: run npm run build`);
        assert.ok(fs.existsSync(html), `${path.relative(root, html)} missing`);
      });
      it('exactly one literal registerType with literal category, color/icon, inputs, outputs', () => {
        const regs = registrations(fs.readFileSync(html, 'utf8'));
        assert.equal(regs.length, 1, `${regs.length} registerType calls`);
        const r = regs[0];
        assert.equal(r.type, type);
        assert.equal(typeof r.props.category, 'string', 'category must be a literal string');
        if (r.props.category !== 'config') {
          for (const k of ['color', 'icon']) assert.equal(typeof r.props[k], 'string', `${k} must be a literal string`);
          for (const k of ['inputs', 'outputs'])
            assert.equal(typeof r.props[k], 'number', `${k} must be a literal number`);
          assert.ok(types.has(type), `no example in examples/ uses ${type}`);
          assert.ok(
            fs.existsSync(path.join(path.dirname(js), 'icons', String(r.props.icon))),
            `icon ${String(r.props.icon)} missing beside the node`,
          );
        }
      });
      it('has en-US messages, help, and every RED._ key resolves', () => {
        const dir = path.dirname(js);
        const base = path.basename(js, '.js');
        const msgFile = path.join(dir, 'locales', 'en-US', `${base}.json`);
        assert.ok(fs.existsSync(msgFile), `locales/en-US/${base}.json missing`);
        const messages = JSON.parse(fs.readFileSync(msgFile, 'utf8')) as Record<string, unknown>;
        const text = fs.readFileSync(html, 'utf8');
        const hasHelp =
          text.includes(`data-help-name="${type}"`) ||
          fs.existsSync(path.join(dir, 'locales', 'en-US', `${base}.html`));
        assert.ok(hasHelp, 'help text missing');
        const keys = [
          ...text.matchAll(/(?:RED\._|node\._|this\._)\('([^']+)'/g),
          ...text.matchAll(/data-i18n="(?:\[[a-z]+\])?([^"]+)"/g),
        ].map((m) => m[1]);
        for (const key of keys) {
          const local = key.includes(':') ? null : key;
          if (!local) continue;
          const found = local
            .split('.')
            .reduce<unknown>(
              (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
              messages,
            );
          assert.equal(typeof found, 'string', `message key ${key} not found in locales/en-US/${base}.json`);
        }
      });
    });
  }

  it('package.json: license, repository, bugs, keywords, engines, node-red version, ≤ 6 caret dependencies', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    assert.ok(fs.existsSync(path.join(root, 'LICENSE')));
    assert.ok(pkg.repository && pkg.bugs);
    assert.ok(pkg.keywords?.includes('node-red'));
    assert.ok(pkg.name.startsWith('@'), 'scoped name');
    const engines = pkg.engines?.node ?? '';
    assert.ok(satisfiesMin(engines, '22.9.0') && satisfiesMin(engines, '18.5.0'), `engines.node ${engines}`);
    const nrDev = pkg.devDependencies?.['node-red'] ?? '';
    assert.ok(
      satisfiesMin(pkg['node-red'].version, nrDev),
      `node-red.version ${pkg['node-red'].version} vs dev ${nrDev}`,
    );
    assert.ok(satisfiesMin(pkg['node-red'].version, '5.0.7'), 'covers Node-RED 5');
    const deps = Object.entries(pkg.dependencies ?? {});
    assert.ok(deps.length <= 6, `${deps.length} dependencies`);
    for (const [name, range] of deps) assert.match(range, /^\^/, `${name} should use a caret range`);
  });
});

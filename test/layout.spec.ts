/**
 * The build (tsconfig.json: lib, nodes, bin, bench, support) reaches no file in test/: tsc compiles whatever the
 * sources import, so one bench importing from test/ puts dist/test into the build. What benches and tests share
 * lives in support/.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const root = path.join(__dirname, '..');

/** The file a relative import names, as tsc resolves it for our sources (x.ts, x/index.ts, or a .js beside them). */
function resolveRelative(from: string, spec: string): string | null {
  const base = path.resolve(path.dirname(from), spec);
  for (const f of [base + '.ts', path.join(base, 'index.ts'), base]) {
    if (fs.existsSync(f) && fs.statSync(f).isFile()) return f;
  }
  return null;
}

/** Every source file the build compiles: the roots of tsconfig.json and, transitively, what they import relatively. */
function buildFiles(): string[] {
  const configFile = path.join(root, 'tsconfig.json');
  const read = ts.readConfigFile(configFile, ts.sys.readFile);
  assert.equal(read.error, undefined, 'tsconfig.json reads');
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configFile);
  const seen = new Set<string>(parsed.fileNames.map((f) => path.resolve(f)));
  const todo = [...seen];
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (!/\.[cm]?[jt]s$/.test(file)) continue;
    for (const imp of ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!imp.fileName.startsWith('.')) continue;
      const target = resolveRelative(file, imp.fileName);
      if (target && !seen.has(target)) {
        seen.add(target);
        todo.push(target);
      }
    }
  }
  return [...seen];
}

describe('source layout', () => {
  it('the build compiles nothing from test/ (benches take shared helpers from support/)', () => {
    const files = buildFiles();
    assert.ok(files.includes(path.join(root, 'bench', 'sink.ts')), 'the build holds the benches');
    assert.ok(files.includes(path.join(root, 'support', 'mariadb.ts')), 'and what they import');
    const testDir = path.join(root, 'test') + path.sep;
    const fromTest = files.filter((f) => f.startsWith(testDir)).map((f) => path.relative(root, f));
    assert.deepEqual(
      fromTest,
      [],
      'files from test/ in the build: an import of test/ in lib, nodes, bin, bench or support',
    );
  });
});

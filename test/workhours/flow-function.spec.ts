/**
 * flows/workhours.json's "daily hours" function node carries a plain-JS copy of lib/workhours (a function
 * node cannot require our package without functionExternalModules, which many installs disable). This runs
 * that node's code the way Node-RED does (a vm sandbox with msg, node, env) on the library's cases and on
 * random punches, and requires the same result: the copy cannot drift from the tested library unnoticed.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { workHours, WorkHoursOptions, WorkHoursResult, WorkPunch } from '../../lib/workhours';
import { CASES, p } from './cases';
import { Rng } from '../support/prng';

interface FuncNode {
  type: string;
  name: string;
  func: string;
  outputs: number;
}

const flow = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'flows', 'workhours.json'), 'utf8'),
) as FuncNode[];
const node = flow.find((n) => n.type === 'function' && n.name === 'daily hours');

/** Runs the function node's body as Node-RED does: `(function(msg){ … })` in a fresh context. */
function runNode(
  punches: unknown,
  options: WorkHoursOptions = {},
  extraEnv: Record<string, string> = {},
): { result: WorkHoursResult; chart: unknown; status: unknown; names: unknown } {
  if (!node) throw new Error('no "daily hours" function node in flows/workhours.json');
  const statuses: unknown[] = [];
  const env: Record<string, string> = {
    MAX_SEGMENT_HOURS: options.maxSegmentHours === undefined ? '16' : String(options.maxSegmentHours),
    BREAKS: options.breaks ?? 'unpaid',
    ...extraEnv,
  };
  const sandbox = {
    node: {
      status: (s: unknown) => statuses.push(s),
      warn: () => undefined,
      error: () => undefined,
      log: () => undefined,
    },
    env: { get: (k: string) => env[k] },
    msg: { payload: punches },
    __out: undefined as unknown,
  };
  vm.createContext(sandbox);
  vm.runInContext(`__out = (function (msg) {\n${node.func}\n})(msg);`, sandbox, { timeout: 5000 });
  // Values made in the sandbox have that realm's prototypes: compare their JSON form.
  const out = JSON.parse(JSON.stringify(sandbox.__out)) as [
    { payload: WorkHoursResult; names?: unknown },
    { payload: unknown },
  ];
  return {
    result: out[0].payload,
    chart: out[1].payload,
    status: JSON.parse(JSON.stringify(statuses[0] ?? null)) as unknown,
    names: out[0].names,
  };
}

const plain = (r: WorkHoursResult): WorkHoursResult => JSON.parse(JSON.stringify(r)) as WorkHoursResult;

describe('workhours flow: the function node equals lib/workhours', () => {
  it('has two outputs: the result and the chart', () => {
    assert.equal(node?.outputs, 2);
  });

  for (const c of CASES) {
    it(`case: ${c.name}`, () => {
      assert.deepEqual(runNode(c.punches, c.options).result, plain(workHours(c.punches, c.options)));
    });
  }

  it('random punches, several settings: identical results', () => {
    const rnd = new Rng(7);
    const dirs = ['in', 'out', 'break-out', 'break-in', 'overtime-in', 'overtime-out', 'unknown', 'in', 'out'];
    for (let round = 0; round < 40; round++) {
      const punches: WorkPunch[] = Array.from({ length: 80 }, () => {
        const t = new Date(Date.UTC(2024, 2, 1 + rnd.int(5), rnd.int(24), rnd.int(60), rnd.int(60)))
          .toISOString()
          .slice(0, 19);
        return p(`${100 + rnd.int(4)} ${dirs[rnd.int(dirs.length)]} ${t}`);
      });
      const options: WorkHoursOptions = {
        maxSegmentHours: [16, 8, 12.5][round % 3],
        breaks: round % 2 ? 'paid' : 'unpaid',
      };
      assert.deepEqual(runNode(punches, options).result, plain(workHours(punches, options)), `round ${round}`);
    }
  });

  it("chart output: today's hours per employee; status summarises", () => {
    const today = new Date().toLocaleDateString('sv-SE');
    const punches = [p(`5 in ${today}T08:00:00`), p(`5 out ${today}T12:30:00`), p(`6 in ${today}T09:00:00`)];
    const { chart, status } = runNode(punches);
    assert.deepEqual(chart, [{ series: ['hours'], labels: ['5'], data: [[4.5]] }]);
    assert.deepEqual(status, { fill: 'green', shape: 'dot', text: '1 days · 1 open' });
    assert.deepEqual(runNode('not an array').result.days, []);
  });

  it('chart labels: names from EMPLOYEES (CSV or JSON), else ids, long ones cut to fit under a bar; most hours first', () => {
    const today = new Date().toLocaleDateString('sv-SE');
    const long = '653005333009678895779320';
    const punches = [
      p(`5 in ${today}T08:00:00`),
      p(`5 out ${today}T12:30:00`),
      p(`${long} in ${today}T07:00:00`),
      p(`${long} out ${today}T15:00:00`),
      p(`0077 in ${today}T09:00:00`),
      p(`0077 out ${today}T10:00:00`),
    ];
    const csv = runNode(punches, {}, { EMPLOYEES: 'userId,name\n5,Anna Adams\n0077,Ben Baker' });
    assert.deepEqual(csv.chart, [
      { series: ['hours'], labels: ['…95779320', 'Anna Adams', 'Ben Baker'], data: [[8, 4.5, 1]] },
    ]);
    assert.deepEqual(csv.names, { 5: 'Anna Adams', '0077': 'Ben Baker' }, 'the names go to the table too');
    const json = runNode(punches, {}, { EMPLOYEES: JSON.stringify({ [long]: 'Chloe Clark' }) });
    assert.deepEqual((json.chart as [{ labels: string[] }])[0].labels, ['Chloe Clark', '5', '0077']);
    // The result itself stays lib/workhours' (ids, not names).
    assert.deepEqual(csv.result, plain(workHours(punches, {})));
  });
});

import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../cdk/paths';
import { parseScenario } from '../../sandbox/scenario';

const SCENARIOS = path.join(PROJECT_ROOT, 'sandbox/scenarios');

// Every shipped scenario parses: a bad one would otherwise surface only in the minutes-long sandbox suites.
describe('shipped sandbox scenarios', () => {
  const files = fs.readdirSync(SCENARIOS).filter((file) => file.endsWith('.json'));

  it('are there', () => {
    expect(files.length).toBeGreaterThan(10);
  });

  it.each(files)('%s is a valid scenario', (file) => {
    const source = path.join(SCENARIOS, file);
    const scenario = parseScenario(JSON.parse(fs.readFileSync(source, 'utf8')), source);
    expect(scenario.name.length).toBeGreaterThan(0);
  });
});

describe('the scenario load balancer block', () => {
  const minimal = { name: 'minimal', steps: [{ at: 1, start: 'patch-server' }] };

  it('models a 5-second propagation of weight changes when left out', () => {
    expect(parseScenario(minimal, 'minimal').loadBalancer).toEqual({ propagationSeconds: 5 });
  });

  it('takes a propagation from 0 to 60 seconds', () => {
    const parse = (propagationSeconds: number) =>
      parseScenario({ ...minimal, loadBalancer: { propagationSeconds } }, 'minimal').loadBalancer.propagationSeconds;

    expect(parse(0)).toBe(0);
    expect(parse(60)).toBe(60);
    expect(() => parse(61)).toThrow(/loadBalancer\.propagationSeconds/);
    expect(() => parse(-1)).toThrow(/loadBalancer\.propagationSeconds/);
  });
});

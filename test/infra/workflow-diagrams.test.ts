import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DIAGRAMS_DIR, diagramPages } from '../../local/workflow-diagrams';

describe('workflow diagrams', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-diagrams-'));
  const pages = diagramPages(outdir);
  afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

  it('draws every workflow', () => {
    expect([...pages.keys()].sort()).toEqual(
      [
        'deploy-service',
        'failover',
        'patch-server',
        'recover',
        'region-failover',
        'update-service',
        'upgrade-version',
      ].sort(),
    );
  });

  it.each([...pages.entries()])(
    'docs/diagrams/%s.md is the synthesized state machine (npm run docs:diagrams)',
    (workflow, page) => {
      const file = path.join(DIAGRAMS_DIR, `${workflow}.md`);
      expect(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${file} is missing`).toBe(page);
    },
  );
});

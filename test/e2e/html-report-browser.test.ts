import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { PROJECT_ROOT } from '../../cdk/paths';
import type { RunEvidence } from '../../report/evidence';
import { evidenceFromHistory, type HistoryEvidenceInput } from '../../report/from-history';
import { renderHtmlReport } from '../../report/html';
import { sandboxEvidence } from '../../sandbox/evidence';
import type { SandboxReport } from '../../sandbox/report';
import { failoverEvidence, HOSTILE_TEXT, hostileEvidence, patchEvidence } from '../harness/evidence-fixture';

/** The evidence of an execution, from a history recorded in the Step Functions API's own format. */
function historyEvidence(name: string): () => RunEvidence {
  return () => {
    const file = path.join(__dirname, '..', 'fixtures', 'execution-history', `${name}.json`);
    return evidenceFromHistory(JSON.parse(fs.readFileSync(file, 'utf8')) as HistoryEvidenceInput);
  };
}

/** The evidence of a real sandbox run of sandbox/scenarios/failover.json, from its recorded JSON report. */
function sandboxFailoverEvidence(): RunEvidence {
  const file = path.join(__dirname, '..', 'fixtures', 'sandbox-reports', 'failover.json');
  return sandboxEvidence(JSON.parse(fs.readFileSync(file, 'utf8')) as SandboxReport);
}

/**
 * The HTML report in a real browser: Debian's headless Chromium (never a downloaded one), driven by playwright-core,
 * opens each fixture's report as a file, as someone opens it from a ticket. It must draw every chart and lane with
 * data and without an error, fetch nothing but itself, keep the charts and lanes on one time axis at any width, and
 * show failed requests only between the node's death and the traffic move. A full-page screenshot of each is kept
 * in .cache/report-screenshots/ for a person to look at.
 *
 * Without /usr/bin/chromium the test is skipped on a workstation, and fails under CI, where .ci/run installs it.
 */

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS_DIR = path.join(PROJECT_ROOT, '.cache', 'report-screenshots');
/** Launching and drawing take a few seconds on an idle machine; this only stops a browser that hangs. */
const BROWSER_LIMIT_MS = 180_000;
/** The switches that keep Chromium from calling anywhere on its own (updates, sync, QUIC probes) and run it here. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const haveChromium = fs.existsSync(CHROMIUM);
const underCi = Boolean(process.env.CI);
const describeInBrowser = haveChromium || underCi ? describe : describe.skip;
const title =
  haveChromium || underCi
    ? 'the HTML report in headless Chromium'
    : `the HTML report in headless Chromium (SKIPPED: ${CHROMIUM} is missing; install it with \`apt-get install chromium\`. Under CI, where CI is set, this fails instead)`;

/**
 * The little of the page's globals these tests read, declared here because the project compiles without the DOM
 * library (Node code must not see browser globals). Functions passed to `page.evaluate` run in the page and reach
 * them through `globalThis`.
 */
interface PageElement {
  readonly id: string;
  readonly clientWidth: number;
  readonly offsetWidth: number;
  readonly textContent: string | null;
  readonly parentElement: PageElement | null;
  getAttribute(name: string): string | null;
  getBoundingClientRect(): { readonly left: number; readonly right: number };
  querySelector(selector: string): PageElement | null;
}

interface UplotChart {
  readonly over: PageElement;
  readonly series: readonly { readonly label: string }[];
  readonly data: readonly (readonly (number | null)[])[];
  valToPos(value: number, scale: string): number;
}

interface PageGlobals {
  readonly document: {
    getElementById(id: string): PageElement | null;
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): ArrayLike<PageElement>;
  };
  /** Set by the report's script: the evidence it drew and its uPlot charts by name. */
  readonly zerodownReport: { readonly evidence: RunEvidence; readonly charts: Readonly<Record<string, UplotChart>> };
}

interface OpenReport {
  readonly page: Page;
  readonly fileUrl: string;
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly requests: string[];
  readonly blocked: string[];
  readonly dialogs: string[];
}

describeInBrowser(title, () => {
  let context: BrowserContext;
  let scratch: string;

  beforeAll(async () => {
    if (!haveChromium)
      throw new Error(`${CHROMIUM} is required under CI: .ci/run installs it (apt-get install chromium)`);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'zerodown-report-'));
    fs.mkdirSync(SCREENSHOTS_DIR, { recursive: true });
    // A persistent context is how Playwright takes a --user-data-dir of ours: a fresh, empty profile for this run.
    context = await chromium.launchPersistentContext(path.join(scratch, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
      timeout: BROWSER_LIMIT_MS,
    });
  }, BROWSER_LIMIT_MS);

  afterAll(async () => {
    await context?.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }, BROWSER_LIMIT_MS);

  async function openReport(name: string, evidence: RunEvidence): Promise<OpenReport> {
    const file = path.join(scratch, `${name}.html`);
    fs.writeFileSync(file, renderHtmlReport(evidence));
    const fileUrl = pathToFileURL(file).href;
    const page = await context.newPage();
    const opened: OpenReport = {
      page,
      fileUrl,
      consoleErrors: [],
      pageErrors: [],
      requests: [],
      blocked: [],
      dialogs: [],
    };
    page.on('console', (message) => {
      if (message.type() === 'error') opened.consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => opened.pageErrors.push(String(error)));
    page.on('request', (request) => opened.requests.push(request.url()));
    page.on('dialog', (dialog) => {
      opened.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    // Anything but the file itself is refused, and written down: the assertion below wants none.
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      opened.blocked.push(url);
      return route.abort('blockedbyclient');
    });
    await page.goto(fileUrl, { waitUntil: 'load' });
    // Drawn on load with no user action: every container says so once its drawing is done.
    await page.waitForFunction(
      () => {
        const { document } = globalThis as unknown as PageGlobals;
        return Array.from(document.querySelectorAll('[data-chart]')).every(
          (chart) => chart.getAttribute('data-drawn') === 'true',
        );
      },
      undefined,
      { timeout: BROWSER_LIMIT_MS },
    );
    return opened;
  }

  function expectNothingFetchedOrFailed(opened: OpenReport): void {
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.pageErrors).toEqual([]);
    expect(opened.requests).toEqual([opened.fileUrl]);
    expect(opened.blocked).toEqual([]);
    expect(opened.dialogs).toEqual([]);
  }

  /** Each chart container: whether it was drawn and how many data points or bars it drew. */
  function chartsDrawn(page: Page): Promise<{ id: string; drawn: string | null; series: number }[]> {
    return page.evaluate(() => {
      const { document } = globalThis as unknown as PageGlobals;
      return Array.from(document.querySelectorAll('[data-chart]')).map((chart) => ({
        id: chart.id,
        drawn: chart.getAttribute('data-drawn'),
        series: Number(chart.getAttribute('data-series')),
      }));
    });
  }

  /**
   * Where the time axis sits, in page pixels, on every uPlot chart and every lane, and where the span's middle falls:
   * one axis means the same numbers everywhere.
   */
  function timeAxes(page: Page): Promise<{ id: string; left: number; right: number; middle: number }[]> {
    return page.evaluate(() => {
      const { document, zerodownReport: report } = globalThis as unknown as PageGlobals;
      const { from, to } = report.evidence.span;
      const middle = (from + to) / 2;
      const charts = Object.entries(report.charts).map(([id, chart]) => {
        const over = chart.over.getBoundingClientRect();
        return { id, left: over.left, right: over.right, middle: over.left + chart.valToPos(middle, 'x') };
      });
      const lanes = Array.from(document.querySelectorAll('.lanes svg')).map((svg) => {
        const box = svg.getBoundingClientRect();
        const left = box.left + Number(svg.getAttribute('data-plot-left'));
        const right = box.left + Number(svg.getAttribute('data-plot-right'));
        return { id: svg.parentElement?.id ?? '', left, right, middle: (left + right) / 2 };
      });
      return [...charts, ...lanes];
    });
  }

  function expectOneTimeAxis(axes: { id: string; left: number; right: number; middle: number }[]): void {
    expect(axes.length).toBeGreaterThanOrEqual(3);
    const first = axes[0] ?? { left: 0, right: 0, middle: 0 };
    // Each axis' offsets from the first, in whole pixels: all zero when every chart and lane share one axis.
    const offsets = axes.map((axis) => ({
      id: axis.id,
      left: Math.round(axis.left - first.left),
      right: Math.round(axis.right - first.right),
      middle: Math.round(axis.middle - first.middle),
    }));
    expect(offsets).toEqual(axes.map((axis) => ({ id: axis.id, left: 0, right: 0, middle: 0 })));
  }

  const fixtures: [string, () => RunEvidence][] = [
    ['patch', patchEvidence],
    ['failover', failoverEvidence],
    ['sandbox-failover', sandboxFailoverEvidence],
    ['history-patch-rollback', historyEvidence('patch-server-rollback')],
    ['history-failover', historyEvidence('failover-active-passive')],
  ];

  it.each(fixtures)(
    'draws the %s report with every chart and lane, fetching nothing',
    async (name, fixture) => {
      const evidence = fixture();
      const opened = await openReport(name, evidence);
      const { page } = opened;

      expectNothingFetchedOrFailed(opened);
      const charts = await chartsDrawn(page);
      // An execution on AWS has no request series: its report says so in place of the traffic chart.
      expect(charts.map((chart) => chart.id)).toEqual([
        ...(evidence.traffic ? ['traffic-chart'] : []),
        'weights-chart',
        'node-lanes',
        'execution-lanes',
      ]);
      for (const chart of charts) {
        expect(chart).toMatchObject({ drawn: 'true' });
        expect(chart.series).toBeGreaterThan(0);
      }
      expect(await page.locator('#node-lanes g.lane').count()).toBe(evidence.nodes.length);
      expect(await page.locator('#execution-lanes g.lane').count()).toBe(evidence.executions.length);
      const states = evidence.executions.reduce((sum, execution) => sum + execution.states.length, 0);
      expect(await page.locator('#execution-lanes g.state').count()).toBe(states);
      expect(await page.locator('#execution-lanes g.state.retried').count()).toBe(
        evidence.executions.flatMap((execution) => execution.states).filter((state) => state.retries > 0).length,
      );
      // Every marker crosses both lanes, and is drawn on both uPlot charts' canvases (not inspectable: counted above).
      expect(await page.locator('#node-lanes .marker-line').count()).toBe(evidence.markers.length);
      expect(await page.locator('#execution-lanes .marker-line').count()).toBe(evidence.markers.length);
      expectOneTimeAxis(await timeAxes(page));

      await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
      expect(fs.statSync(path.join(SCREENSHOTS_DIR, `${name}.png`)).size).toBeGreaterThan(20_000);
      await page.close();
    },
    BROWSER_LIMIT_MS,
  );

  it.each([
    ['failover', failoverEvidence],
    ['sandbox-failover', sandboxFailoverEvidence],
  ])(
    'shows failed requests in the %s report only between the death and the traffic move',
    async (name, fixture) => {
      const evidence = fixture();
      const bucketSeconds = evidence.traffic?.bucketSeconds ?? 1;
      const opened = await openReport(`${name}-window`, evidence);
      const { page } = opened;
      const drawn = await page.evaluate(() => {
        const { document, zerodownReport } = globalThis as unknown as PageGlobals;
        // The markers from the evidence as the page holds it; the failures as the chart drew them.
        const evidence = JSON.parse(document.getElementById('evidence')?.textContent ?? 'null') as RunEvidence;
        const chart = zerodownReport.charts.traffic;
        if (!chart) throw new Error('no traffic chart');
        const failedIndex = chart.series.findIndex((series) => series.label === 'failed requests');
        return {
          died: evidence.markers.find((marker) => marker.kind === 'fault')?.at,
          moved: evidence.markers.find((marker) => marker.kind === 'weights-moved')?.at,
          buckets: (chart.data[0] ?? []).map((at, i) => ({
            at: at ?? Number.NaN,
            failed: chart.data[failedIndex]?.[i] ?? 0,
          })),
        };
      });
      const died = drawn.died ?? Number.NaN;
      const moved = drawn.moved ?? Number.NaN;
      const failing = drawn.buckets.filter((bucket) => (bucket.failed ?? 0) > 0);

      expect(failing.length).toBeGreaterThan(0);
      // A bucket [at, at + width) with failures must overlap the window from the death to the traffic move.
      for (const bucket of failing) {
        expect(bucket.at + bucketSeconds).toBeGreaterThan(died);
        expect(bucket.at).toBeLessThan(moved);
      }
      expectNothingFetchedOrFailed(opened);
      await page.close();
    },
    BROWSER_LIMIT_MS,
  );

  it(
    'redraws at the width of the window, keeping one time axis',
    async () => {
      const opened = await openReport('narrow', patchEvidence());
      const { page } = opened;
      const wide = await page.evaluate(
        () => (globalThis as unknown as PageGlobals).document.getElementById('traffic-chart')?.clientWidth ?? 0,
      );
      await page.setViewportSize({ width: 800, height: 900 });
      await page.waitForFunction(
        (before) => {
          const { document } = globalThis as unknown as PageGlobals;
          const container = document.getElementById('node-lanes');
          const svg = container?.querySelector('svg');
          const chart = document.querySelector('#traffic-chart .uplot');
          return (
            container !== null &&
            container.clientWidth < before &&
            Number(svg?.getAttribute('width')) === container.clientWidth &&
            chart?.offsetWidth === container.clientWidth
          );
        },
        wide,
        { timeout: BROWSER_LIMIT_MS },
      );
      expectOneTimeAxis(await timeAxes(page));
      expectNothingFetchedOrFailed(opened);
      await page.close();
    },
    BROWSER_LIMIT_MS,
  );

  it(
    'shows hostile text as text, running nothing from it',
    async () => {
      const opened = await openReport('hostile', hostileEvidence());
      const { page } = opened;
      expectNothingFetchedOrFailed(opened);
      expect(await page.locator('h1').textContent()).toBe(`patch ${HOSTILE_TEXT}`);
      expect(await page.locator('script').count()).toBe(4);
      expect(await page.locator('b').count()).toBe(0);
      expect(await page.locator('#node-lanes .lane-label').first().textContent()).toContain(HOSTILE_TEXT);
      expect(await page.locator('#execution-lanes g.state title').first().textContent()).toContain(HOSTILE_TEXT);
      await page.close();
    },
    BROWSER_LIMIT_MS,
  );
});

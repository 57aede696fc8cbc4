import * as fs from 'node:fs';
import type { RunEvidence } from '../../report/evidence';
import { renderHtmlReport } from '../../report/html';
import { failoverEvidence, HOSTILE_TEXT, hostileEvidence, patchEvidence } from '../harness/evidence-fixture';

/**
 * The HTML report as text: one self-contained document that fetches nothing, carries the evidence intact, and
 * cannot be broken out of by any text in it. That it draws is proved in a browser (test/e2e/html-report-browser).
 */

interface ScriptElement {
  readonly attributes: string;
  readonly body: string;
}

/** Every script element, as the HTML parser splits them: a script ends at the first `</script`. */
function scriptElements(html: string): ScriptElement[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script/gi)].map((match) => ({
    attributes: match[1] ?? '',
    body: match[2] ?? '',
  }));
}

function evidenceInPage(html: string): unknown {
  const element = scriptElements(html).find((script) => script.attributes.includes('id="evidence"'));
  if (!element) throw new Error('no evidence script element');
  return JSON.parse(element.body);
}

/** The page without its script elements: the markup a reader sees. */
function markupOf(html: string): string {
  return html.replace(/<script\b[^>]*>[\s\S]*?<\/script>/gi, '');
}

function countOf(text: string, part: string): number {
  return text.split(part).length - 1;
}

const UPLOT_JS = fs.readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');

describe('renderHtmlReport', () => {
  const fixtures: [string, RunEvidence][] = [
    ['a patch', patchEvidence()],
    ['a failover', failoverEvidence()],
  ];

  it.each(fixtures)('renders %s as one self-contained document that fetches nothing', (_, evidence) => {
    const html = renderHtmlReport(evidence);

    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/@import/i);
    expect(html).not.toContain('import(');
    // Even a fetch nobody meant is refused by the browser.
    expect(html).toContain(`default-src &#39;none&#39;`);
  });

  it('inlines the uPlot library and its stylesheet once', () => {
    const html = renderHtmlReport(patchEvidence());
    expect(countOf(html, UPLOT_JS)).toBe(1);
    expect(countOf(html, 'var uPlot=')).toBe(1);
    expect(countOf(html, '.uplot, .uplot *')).toBe(1);
    expect(scriptElements(html).map((script) => script.attributes.trim())).toEqual([
      'type="application/json" id="evidence"',
      'type="application/json" id="report-style"',
      '',
      '',
    ]);
  });

  it.each(fixtures)('carries the evidence of %s intact in its JSON element', (_, evidence) => {
    expect(evidenceInPage(renderHtmlReport(evidence))).toEqual(evidence);
  });

  it('escapes hostile text everywhere, so nothing breaks out of its element', () => {
    const evidence = hostileEvidence();
    const html = renderHtmlReport(evidence);

    // The same four script elements as any report: none opened or closed by the text.
    expect(scriptElements(html)).toHaveLength(4);
    expect(countOf(html.toLowerCase(), '</script')).toBe(4);
    expect(markupOf(html).toLowerCase()).not.toContain('<script');
    // Round-trips, with no `</` or `<!--` left inside the JSON.
    expect(evidenceInPage(html)).toEqual(evidence);
    const json = scriptElements(html)[0]?.body ?? '';
    expect(json).not.toContain('</');
    expect(json).not.toContain('<!--');
    // In the markup, the text shows as text.
    const markup = markupOf(html);
    expect(markup).not.toContain('<b>');
    expect(markup).not.toContain('alert(1)</');
    expect(markup).not.toContain('<!-- &');
    expect(markup).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;');
    expect(markup).toContain('&lt;!-- &amp; &quot;quoted&quot; &#39;single&#39;');
    expect(html).toMatch(/<title>patch &lt;\/script&gt;/);
    // The summary figure and the expectation each appear escaped, marked as not met.
    expect(markup).toMatch(/<div class="figure not-ok"><dt>&lt;\/script&gt;/);
    expect(markup).toMatch(/<tr class="not-met"><td>&lt;\/script&gt;/);
    expect(HOSTILE_TEXT).toContain('</script>');
  });

  it('has every section, legend and chart container', () => {
    const html = renderHtmlReport(patchEvidence());
    for (const id of [
      'title',
      'summary',
      'expectations',
      'timeline',
      'marker-legend',
      'traffic',
      'traffic-chart',
      'weights',
      'weights-chart',
      'nodes',
      'phase-legend',
      'node-lanes',
      'executions',
      'state-legend',
      'execution-lanes',
    ]) {
      expect(html).toContain(`id="${id}"`);
    }
    for (const heading of ['Summary', 'Expectations', 'Requests per second by node', 'Listener weights by slot']) {
      expect(html).toContain(`>${heading}</h`);
    }
    for (const kind of ['fault', 'alarm', 'detected', 'weights-written', 'weights-moved', 'redundancy', 'note']) {
      expect(html).toMatch(new RegExp(`<span class="swatch line"[^>]*></span>${kind}</li>`));
    }
    for (const phase of ['booting', 'serving', 'standby', 'draining', 'restarting', 'unhealthy', 'dead', 'replaced']) {
      expect(html).toMatch(new RegExp(`<span class="swatch box"[^>]*></span>${phase}</li>`));
    }
    expect(html).toContain('rollback or recovery path</li>');
    expect(html).toContain('retried (times)</li>');
    expect(countOf(html, 'data-chart=')).toBe(4);
    expect(html).toContain('5 of 5 met.');
    expect(countOf(html, '<div class="figure ok">')).toBe(4);
  });

  it('renders a run without traffic with a note in place of the chart', () => {
    const { traffic: _, ...withoutTraffic } = failoverEvidence();
    const html = renderHtmlReport(withoutTraffic);

    expect(html).toContain('id="traffic-note"');
    expect(html).not.toContain('id="traffic-chart"');
    expect(countOf(html, 'data-chart=')).toBe(3);
    expect(html).toContain('id="weights-chart"');
    expect(evidenceInPage(html)).toEqual(withoutTraffic);
  });

  it('says when a run had no expectations, and marks a figure that misses its mark', () => {
    const evidence: RunEvidence = {
      ...patchEvidence(),
      expectations: undefined,
      summary: [{ label: 'Failed requests', value: '3', ok: false }],
    };
    const html = renderHtmlReport(evidence);
    expect(html).toContain('This run had no expectations.');
    expect(html).toContain(
      '<div class="figure not-ok"><dt>Failed requests</dt><dd><span class="sign">✗</span> 3</dd></div>',
    );
  });
});

/**
 * Vega-Lite spec → static SVG, in Node: compiled by vega-lite, run by vega's dataflow with the
 * headless renderer (`renderer: 'none'`: no canvas, no DOM), serialised by its SVG string
 * renderer. Data is always inline (`data.values`): the loader is never asked for a URL, and a
 * loader that refuses every load makes sure of it. The SVG then passes `checkedSvg`.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { checkedSvg, type SafeHtml } from './html-escape.ts';

// Every load (data URL, image) is refused: a chart needs nothing from outside its spec.
const noLoads = vega.loader();
noLoads.load = () => Promise.reject(new Error('the report renders charts from inline data only'));
noLoads.sanitize = () => Promise.reject(new Error('the report renders charts from inline data only'));

export interface RenderedChart {
  svg: SafeHtml;
  /** What vega-lite warned about while compiling (a spec the tests keep free of warnings). */
  warnings: string[];
}

/** Compiles and renders; warnings are collected rather than printed (the CLI's stderr is for progress). */
/**
 * Coordinates in path data and transforms to two decimals (1/100 px): vega writes full doubles,
 * which are most of a scatter plot's bytes. Only those two attributes are touched, never text.
 */
export function roundGeometry(svg: string): string {
  return svg.replace(/ (d|transform)="([^"]*)"/g, (_, name: string, value: string) => ` ${name}="${value.replace(/-?\d+\.\d{3,}(e-?\d+)?/g, (x) => String(Math.round(Number(x) * 100) / 100))}"`);
}

export async function renderChart(spec: TopLevelSpec): Promise<RenderedChart> {
  const warnings: string[] = [];
  const collect = (...args: readonly unknown[]) => {
    warnings.push(args.map(String).join(' '));
    return logger;
  };
  const logger = { level: () => logger, info: collect, debug: () => logger, warn: collect, error: collect } as unknown as NonNullable<Parameters<typeof compile>[1]>['logger'];
  const compiled = compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: noLoads, logLevel: vega.Error });
  try {
    return { svg: checkedSvg(roundGeometry(await view.toSVG())), warnings };
  } finally {
    view.finalize();
  }
}

export async function renderSvg(spec: TopLevelSpec): Promise<SafeHtml> {
  return (await renderChart(spec)).svg;
}

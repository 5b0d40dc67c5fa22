/**
 * The eval report in three formats. Markdown is the seed's table: rows = methods, columns =
 * defenses, cells "hits, misses" (counts out of n), then the same as rates, with the attack's
 * seconds per image, the exact command, date, eps and n. CSV has one row per (method, defense).
 * Targeted markdown adds hits per target class. JSON is { rows: [{ method, defense, n, hits,
 * misses }], byTarget: [{ method, defense, target, n, hits }], predictions: [{ image, method,
 * defense, label, prob, targetProb? }], secondsPerImage, meta }.
 */
import type { EvalReport, EvalRow } from './run';

export const REPORT_FORMATS = ['markdown', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

const pct = (x: number) => `${Number((100 * x).toFixed(1))}%`;
const secs = (s: number) => (s >= 10 ? s.toFixed(1) : s.toFixed(2));

function columns(report: EvalReport) {
  const methods = [...new Set(report.rows.map((r) => r.method))];
  const defenses = [...new Set(report.rows.map((r) => r.defense))];
  const cell = new Map(report.rows.map((r) => [`${r.method}\u0000${r.defense}`, r]));
  return { methods, defenses, at: (m: string, d: string) => cell.get(`${m}\u0000${d}`) };
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i].length)));
  const pad = (s: string, i: number) => (align[i] === 'r' ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatMarkdown(report: EvalReport): string {
  const { meta } = report;
  const { methods, defenses, at } = columns(report);
  const align = (extra: number): ('l' | 'r')[] => ['l', ...defenses.map(() => 'r' as const), ...Array(extra).fill('r')];
  const counts = (r?: EvalRow) => (r ? `${r.hits ?? '–'}, ${r.misses}` : '');
  const rates = (r?: EvalRow) => (r ? `${r.hits === null ? '–' : pct(r.hits / r.n)}, ${pct(r.n ? r.misses / r.n : 0)}` : '');
  const mode = meta.targeted
    ? `targeted (target drawn among the other classes, seed ${meta.seed})`
    : 'untargeted (least-likely class of the attack models as the aim)';
  const out = [
    `# advserve eval: ${meta.targeted ? 'targeted' : 'untargeted'}, eps ${meta.eps}, n = ${meta.n}`,
    '',
    `- command: \`${meta.command}\``,
    `- date: ${meta.date}`,
    `- images: n = ${meta.n}${meta.imagesDir ? ` from ${meta.imagesDir}` : ''}; clean label = prediction of the ensemble ${meta.labelModels.join(' + ')}`,
    `- attack: ${mode}, eps ${meta.eps} (0..255), ${meta.iterations} iterations (fgsm: 1), attack models ${meta.attackModels.join(', ')}, backend ${meta.backend}`,
    `- cells: hits = defense predicts the target${meta.targeted ? '' : ' (– untargeted)'}; misses = defense prediction differs from the clean label; s/image = attack wall time per image`,
    '',
    `## hits, misses (of n = ${meta.n})`,
    '',
    table(
      ['method', ...defenses, 's/image'],
      methods.map((m) => [m, ...defenses.map((d) => counts(at(m, d))), secs(report.secondsPerImage[m] ?? 0)]),
      align(1),
    ),
    '',
    '## hit rate, miss rate',
    '',
    table(['method', ...defenses], methods.map((m) => [m, ...defenses.map((d) => rates(at(m, d)))]), align(0)),
    '',
  ];
  if (report.byTarget.length) {
    // Rows = (method, defense), columns = target classes, cells hits/n.
    const targets = [...new Set(report.byTarget.map((r) => r.target))];
    const cell = new Map(report.byTarget.map((r) => [`${r.method}\u0000${r.defense}\u0000${r.target}`, r]));
    const rows = methods.flatMap((m) =>
      defenses.map((d) => [m, d, ...targets.map((k) => {
        const r = cell.get(`${m}\u0000${d}\u0000${k}`);
        return r ? `${r.hits}/${r.n}` : '';
      })]),
    );
    out.push('## hits by target class (hits/images with that target)', '', table(['method', 'defense', ...targets], rows, ['l', 'l', ...targets.map(() => 'r' as const)]), '');
  }
  if (meta.images.length) {
    const header = meta.targeted ? ['image', 'clean label', 'target'] : ['image', 'clean label'];
    const rows = meta.images.map((i) => (meta.targeted ? [i.name, i.label, i.target ?? ''] : [i.name, i.label]));
    out.push('## images', '', table(header, rows, header.map(() => 'l' as const)), '');
  }
  if (report.errors?.length) {
    out.push('## items that failed', '', table(['image', 'method', 'reason'], report.errors.map((e) => [e.image, e.method, e.reason.replace(/\|/g, '/')]), ['l', 'l', 'l']), '');
  }
  return out.join('\n');
}

const csvField = (v: string | number | null) => {
  const s = v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function formatCsv(report: EvalReport): string {
  const header = ['method', 'defense', 'n', 'hits', 'misses', 'hit_rate', 'miss_rate', 'seconds_per_image'];
  const lines = report.rows.map((r) =>
    [
      r.method,
      r.defense,
      r.n,
      r.hits,
      r.misses,
      r.hits === null || !r.n ? null : Number((r.hits / r.n).toFixed(4)),
      r.n ? Number((r.misses / r.n).toFixed(4)) : null,
      Number((report.secondsPerImage[r.method] ?? 0).toFixed(3)),
    ].map(csvField).join(','),
  );
  return [header.join(','), ...lines].join('\n') + '\n';
}

export function formatJson(report: EvalReport): string {
  const rows = report.rows.map(({ method, defense, n, hits, misses }) => ({ method, defense, n, hits, misses }));
  const { byTarget, predictions, secondsPerImage, meta, errors } = report;
  return JSON.stringify({ rows, byTarget, predictions, secondsPerImage, meta, ...(errors?.length ? { errors } : {}) }, null, 2) + '\n';
}

export function formatReport(report: EvalReport, format: ReportFormat): string {
  return format === 'csv' ? formatCsv(report) : format === 'json' ? formatJson(report) : formatMarkdown(report);
}

/** The format a file name implies (.csv, .json; anything else markdown). */
export function formatFromPath(path: string | undefined): ReportFormat {
  if (!path) return 'markdown';
  const lower = path.toLowerCase();
  return lower.endsWith('.csv') ? 'csv' : lower.endsWith('.json') ? 'json' : 'markdown';
}

/**
 * Minimal Accept negotiation between the two representations of an attack result:
 * image/png (the default, also for no Accept header or *\/*) and application/json.
 */
function quality(accept: string, type: string): { q: number; explicitAt: number } {
  const [major] = type.split('/');
  let best = { q: 0, specificity: -1, explicitAt: -1 };
  accept.split(',').forEach((entry, position) => {
    const [range, ...params] = entry.trim().toLowerCase().split(';');
    const specificity = range === type ? 2 : range === `${major}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity < 0 || specificity < best.specificity) return;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    best = { q: Number.isFinite(q) ? q : 0, specificity, explicitAt: specificity === 2 ? position : -1 };
  });
  return { q: best.q, explicitAt: best.explicitAt };
}

/** True when the client prefers application/json over image/png. */
export function wantsJson(accept: string | undefined): boolean {
  if (!accept) return false;
  const json = quality(accept, 'application/json');
  const png = quality(accept, 'image/png');
  if (json.q !== png.q) return json.q > png.q;
  // Equal preference: JSON only when it is named explicitly and before image/png.
  return json.q > 0 && json.explicitAt >= 0 && (png.explicitAt < 0 || json.explicitAt < png.explicitAt);
}

/**
 * True when the client prefers text/event-stream (live progress, src/http/sse.ts) over both
 * result representations; it must name it explicitly (a bare *\/* keeps the PNG).
 */
export function wantsEventStream(accept: string | undefined): boolean {
  if (!accept) return false;
  const events = quality(accept, 'text/event-stream');
  if (events.explicitAt < 0 || events.q <= 0) return false;
  return [quality(accept, 'application/json'), quality(accept, 'image/png')].every(
    (other) => events.q > other.q || (events.q === other.q && (other.explicitAt < 0 || events.explicitAt < other.explicitAt)),
  );
}

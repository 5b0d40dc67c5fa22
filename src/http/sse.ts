/**
 * Live progress of an attack as server-sent events (Accept: text/event-stream on the attack
 * routes). The stream is:
 *
 *   event: progress   data: AttackProgress JSON (src/engine/types.ts), once per iteration
 *   event: result     data: the attack's JSON result (as with Accept: application/json), last
 *   event: error      data: a problem+json object, last, when the attack fails after the stream began
 *
 * plus `: keep-alive` comments when nothing was sent for a while, so proxies keep it open.
 * The response starts (200 text/event-stream) with the first progress report, or when the
 * first heartbeat is due: errors found before that (bad parameters, 413, 429, unknown model)
 * stay ordinary problem+json answers with their status. A client that disconnects closes the
 * response, which aborts the attack (src/http/abort.ts).
 */
import { PassThrough } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AttackOutcome, AttackProgress } from '../engine/types';
import { ApiError } from '../errors';
import { problemBody, toApiError } from './problem';

export const HEARTBEAT_MS = 15_000;

/** The OpenAPI content entry the attack routes declare next to image/png and application/json. */
export const eventStreamContent = {
  'text/event-stream': {
    schema: {
      type: 'string',
      description:
        'With Accept: text/event-stream: server-sent events. `event: progress` (data: {iteration, iterations, target, models[{id, label, prob, targetProb}], ensemble{label, prob, targetProb}}) ' +
        'once per iteration and once for the final image (iteration = iterations), then `event: result` (data: the application/json result, image as base64 PNG), ' +
        'or `event: error` (data: a problem+json object) when the attack fails after the stream began. Lines starting with ":" are keep-alive comments.',
    },
  },
};

/** One server-sent-events response; nothing is sent until the first event, comment or open(). */
export class EventStream {
  private body?: PassThrough;
  private lastWrite = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly reply: FastifyReply,
    heartbeatMs = HEARTBEAT_MS,
  ) {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastWrite >= heartbeatMs) this.comment('keep-alive');
    }, Math.max(10, Math.floor(heartbeatMs / 3)));
    this.timer.unref();
  }

  get started(): boolean {
    return this.body !== undefined;
  }

  /** Sends the 200 and the headers (once). */
  open(): void {
    if (this.body) return;
    this.body = new PassThrough();
    void this.reply
      .code(200)
      .headers({ 'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no', Vary: 'Accept' })
      .type('text/event-stream; charset=utf-8')
      .send(this.body);
  }

  event(name: string, data: unknown): void {
    // JSON.stringify never emits a raw newline, so the data fits on one `data:` line.
    this.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  comment(text: string): void {
    this.write(`: ${text}\n\n`);
  }

  /** Stops the heartbeat and ends the response (if it began). */
  end(): void {
    clearInterval(this.timer);
    if (this.body && !this.body.destroyed) this.body.end();
  }

  private write(text: string): void {
    if (this.reply.raw.destroyed) return; // the client is gone; the abort stops the work
    this.open();
    if (this.body!.destroyed || this.body!.writableEnded) return;
    this.body!.write(text);
    this.lastWrite = Date.now();
  }
}

/**
 * Runs an attack for an event-stream request: progress events while it runs, then the result
 * (or an error event). Returns the reply, which the stream answers.
 */
export async function streamAttack(
  request: FastifyRequest,
  reply: FastifyReply,
  run: (onProgress: (p: AttackProgress) => void) => Promise<AttackOutcome>,
  resultJson: (out: AttackOutcome) => Promise<object>,
  heartbeatMs = HEARTBEAT_MS,
): Promise<FastifyReply> {
  const stream = new EventStream(reply, heartbeatMs);
  try {
    const out = await run((p) => stream.event('progress', p));
    stream.event('result', await resultJson(out));
  } catch (err) {
    // Before the stream began: an ordinary problem+json answer through the error handler.
    if (!stream.started) {
      stream.end();
      throw err;
    }
    if (!reply.raw.destroyed) {
      const api = toApiError(err);
      if (api && api.status < 500) request.log.info({ problem: api.type, status: api.status }, 'problem (event stream)');
      else request.log.warn({ err }, 'attack failed after the event stream began');
      const problem = api ?? new ApiError(500, 'internal', 'Internal error', 'The server failed to handle the request; see the server log for this request id.');
      stream.event('error', problemBody(problem, request));
    } else {
      request.log.info('client closed the event stream before the result');
    }
  }
  stream.end();
  return reply;
}

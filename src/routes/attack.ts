/** POST /v1/attack/targeted and /v1/attack/untargeted. */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { Config } from '../config';
import type { AttackEngine, AttackOutcome, AttackParams } from '../engine/types';
import { ApiError, badParam } from '../errors';
import { EngineError } from '../engine/errors';
import { allOptions, DEFAULT_METHOD } from '../engine/attacks/registry';
import { requestAbort } from '../http/abort';
import { wantsEventStream, wantsJson } from '../http/accept';
import { eventStreamContent, streamAttack } from '../http/sse';
import { mergeParams, parseModels, strictQuery } from '../http/params';
import { requireReady } from '../http/readiness';
import { readUpload } from '../http/upload';
import { decodeImage, probeImage } from '../images/decode';
import { jobTicket, reserveJob } from '../http/admission';
import { attackDecodeLimits } from '../engine/admission';
import { encodePng } from '../images/encode';
import { resolveClass } from '../models/class-names';
import type { RgbImage } from '../images/types';
import { imageBody, problems } from './responses';
import { AttackJson, TargetedParams, UntargetedParams } from './schemas';

export interface RouteDeps {
  engine: AttackEngine;
  config: Config;
}

const resultHeaders = {
  'X-Advserve-Success': { type: 'string', enum: ['true', 'false'], description: 'Whether the attack reached its goal on the ensemble.' },
  'X-Advserve-Target': { type: 'string', description: 'The target label (untargeted: the label aimed at or moved away from).' },
  'X-Advserve-Linf': { type: 'number', description: 'L-infinity distance from the input, 0..255 scale.' },
  'X-Advserve-Iterations': { type: 'integer', description: 'Steps taken (fewer than asked when early_stop ended the attack).' },
  'X-Advserve-Stopped-Early': { type: 'string', enum: ['true', 'false'], description: 'Whether early_stop ended the attack before its last iteration.' },
  'X-Advserve-Elapsed-Ms': { type: 'number' },
};

const attackResponses = {
  200: {
    description: 'The adversarial image (same size as the input, alpha passed through): PNG by default, JSON with Accept: application/json.',
    headers: resultHeaders,
    content: {
      'image/png': { schema: { type: 'string', format: 'binary' } },
      'application/json': { schema: Type.Ref(AttackJson) },
      ...eventStreamContent,
    },
  },
  ...problems(400, 404, 413, 415, 429, 500, 503, 504),
};

/** Header values must be latin-1; custom models may have other labels. */
const headerSafe = (s: string) => (/^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s));

async function runAttack(engine: AttackEngine, image: RgbImage, params: AttackParams, reply: FastifyReply, timeoutMs: number) {
  const abort = requestAbort(reply, timeoutMs);
  try {
    return await engine.attack(image, { ...params, signal: abort.signal });
  } catch (err) {
    // Whatever the engine threw on abort, report why we aborted (504 for the deadline).
    if (abort.signal.aborted && !(err instanceof ApiError || err instanceof EngineError)) throw abort.signal.reason;
    throw err;
  } finally {
    abort.done();
  }
}

async function sendOutcome(request: FastifyRequest, reply: FastifyReply, out: AttackOutcome) {
  const png = await encodePng(out.image);
  reply.headers({
    'X-Advserve-Success': String(out.success),
    'X-Advserve-Target': headerSafe(out.target.label),
    'X-Advserve-Linf': String(out.linf),
    'X-Advserve-Iterations': String(out.iterations),
    'X-Advserve-Stopped-Early': String(out.stoppedEarly),
    'X-Advserve-Elapsed-Ms': String(Math.round(out.elapsedMs)),
    Vary: 'Accept',
  });
  if (!wantsJson(request.headers.accept)) return reply.type('image/png').send(png);
  return reply.type('application/json; charset=utf-8').send(resultJson(out, png));
}

/** The application/json result (also the event stream's `result` event). */
function resultJson(out: AttackOutcome, png: Buffer) {
  return {
    method: out.method,
    eps: out.eps,
    iterations: out.iterations,
    stoppedEarly: out.stoppedEarly,
    targeted: out.targeted,
    target: out.target,
    success: out.success,
    linf: out.linf,
    l2: out.l2,
    elapsedMs: out.elapsedMs,
    models: out.models,
    ensemble: out.ensemble,
    image: png.toString('base64'),
  };
}

/** Runs the attack and answers: PNG, JSON, or live progress events (src/http/sse.ts). */
async function answer(request: FastifyRequest, reply: FastifyReply, run: (extra: Pick<AttackParams, 'onProgress'>) => Promise<AttackOutcome>) {
  if (wantsEventStream(request.headers.accept)) {
    return streamAttack(request, reply, (onProgress) => run({ onProgress }), async (out) => resultJson(out, await encodePng(out.image)));
  }
  return sendOutcome(request, reply, await run({}));
}

/**
 * The upload's image, decoded once it is admitted: its size read from the header is checked
 * against the attack limit (413) and claimed from the in-flight pixel budget (429) first.
 */
async function admittedImage(request: FastifyRequest, upload: Buffer, config: Config): Promise<RgbImage> {
  const limits = attackDecodeLimits(config);
  const header = await probeImage(upload, limits);
  jobTicket(request)?.claimPixels(header.width * header.height);
  return decodeImage(upload, limits);
}

/** Parameters both attack routes share, already validated by the schema; every registry option given is passed on. */
function common(p: TargetedParams | UntargetedParams) {
  const given = p as Record<string, unknown>;
  const options = Object.fromEntries(allOptions().flatMap((o) => (given[o.name] !== undefined ? [[o.name, given[o.name]]] : [])));
  return {
    method: p.method ?? DEFAULT_METHOD,
    eps: p.eps ?? 16,
    iterations: p.iterations ?? 20,
    ...(p.seed !== undefined ? { seed: p.seed } : {}),
    ...options,
  };
}

export const attackRoutes: FastifyPluginAsync<RouteDeps> = async (app, { engine, config }) => {
  const onRequest = [requireReady(engine), strictQuery];
  const preParsing = reserveJob(engine, 'attack');

  app.post<{ Querystring: TargetedParams }>(
    '/v1/attack/targeted',
    {
      onRequest,
      preParsing,
      config: { swaggerTransform: imageBody(TargetedParams), auth: { scope: 'attack', job: true } },
      schema: {
        operationId: 'attackTargeted',
        tags: ['attack'],
        summary: 'Targeted attack: perturb the image so the models predict the target class.',
        querystring: TargetedParams,
        response: attackResponses,
      },
    },
    async (request, reply) => {
      const upload = await readUpload(request);
      const p = mergeParams<TargetedParams>(request, upload.fields);
      if (p.target === undefined) throw badParam('target', 'Parameter "target" is required: a class index, label, synonym or class id.');
      const models = parseModels(engine, p.models);
      const target = resolveClass(engine.classes(models), p.target, 'target');
      const image = await admittedImage(request, upload.image, config);
      const ticket = jobTicket(request);
      const params: AttackParams = { ...common(p), targeted: true, target, ...(models ? { models } : {}), ...(ticket ? { ticket } : {}) };
      return answer(request, reply, (extra) => runAttack(engine, image, { ...params, ...extra }, reply, config.requestTimeoutMs));
    },
  );

  app.post<{ Querystring: UntargetedParams }>(
    '/v1/attack/untargeted',
    {
      onRequest,
      preParsing,
      config: { swaggerTransform: imageBody(UntargetedParams), auth: { scope: 'attack', job: true } },
      schema: {
        operationId: 'attackUntargeted',
        tags: ['attack'],
        summary: 'Untargeted attack: perturb the image so the models change their prediction.',
        querystring: UntargetedParams,
        response: attackResponses,
      },
    },
    async (request, reply) => {
      const upload = await readUpload(request);
      const p = mergeParams<UntargetedParams>(request, upload.fields);
      const models = parseModels(engine, p.models);
      const targetSelection = p.target_selection ?? 'least-likely';
      let label: number | undefined;
      if (p.label !== undefined) {
        if (targetSelection !== 'max-loss') throw badParam('label', 'Parameter "label" only applies to target_selection=max-loss.');
        label = resolveClass(engine.classes(models), p.label, 'label');
      } else {
        engine.classes(models); // same model checks as the targeted route
      }
      const image = await admittedImage(request, upload.image, config);
      const ticket = jobTicket(request);
      const params: AttackParams = {
        ...common(p),
        ...(ticket ? { ticket } : {}),
        targeted: false,
        targetSelection,
        ...(label !== undefined ? { label } : {}),
        ...(models ? { models } : {}),
      };
      return answer(request, reply, (extra) => runAttack(engine, image, { ...params, ...extra }, reply, config.requestTimeoutMs));
    },
  );
};

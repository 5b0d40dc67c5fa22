/**
 * Admission control for attack and classify jobs: at most `maxJobs` at once, and the attacks'
 * pixels in flight at most `maxInflightPixels`. An attack keeps about a dozen float copies of
 * its image in the main thread's wasm heap (clean image, box, current image, the models' steps),
 * and that heap is shared by every attack and never shrinks: the pixel budget is what bounds it.
 *
 * A job holds a ticket from admission to its end. The HTTP layer reserves the ticket before the
 * request body is read (a refused request costs nothing), claims the image's pixels from its
 * header before decoding, and hands the ticket to the engine; the engine holds it while it works.
 * The slot is free again once every holder has released it (response sent or client gone, and
 * the engine's work over), so a job whose client left still counts until it has really stopped.
 */
import { ApiError, imageTooLarge } from '../errors';

export interface AdmissionLimits {
  /** Jobs (attack and classify) admitted at once. */
  maxJobs: number;
  /** Sum of the pixels of the attacks admitted at once. */
  maxInflightPixels: number;
}

export type JobKind = 'attack' | 'classify';

/** The 413 for an attack on an image over ADVSERVE_MAX_ATTACK_PIXELS (raised from the header, before decoding, and by the engine). */
export function attackTooLarge(width: number, height: number, limit: number): Error {
  return imageTooLarge(
    `The image is ${width}x${height} = ${width * height} pixels; attacks take at most ${limit} pixels (ADVSERVE_MAX_ATTACK_PIXELS: an attack keeps about a dozen float copies of the image in memory). Send it smaller; classify takes larger images.`,
  );
}

const RETRY_AFTER = { 'Retry-After': '10' };

/**
 * Decoding limits for an attack's image (src/images/decode.ts): the smaller of the image limit
 * (ADVSERVE_MAX_PIXELS) and the attack limit, with the attack limit's own 413 when it is the smaller.
 */
export function attackDecodeLimits(config: { maxPixels: number; maxAttackPixels: number }): { maxPixels: number; tooLarge?: (width: number, height: number) => Error } {
  if (config.maxAttackPixels >= config.maxPixels) return { maxPixels: config.maxPixels };
  return { maxPixels: config.maxAttackPixels, tooLarge: (w, h) => attackTooLarge(w, h, config.maxAttackPixels) };
}

export class JobTicket {
  private holders = 1;
  /** Pixels counted against the in-flight budget (attacks). */
  pixels = 0;

  constructor(
    private readonly admission: JobAdmission,
    readonly kind: JobKind,
  ) {}

  get released(): boolean {
    return this.holders === 0;
  }

  /** Counts an image of `pixels` against the in-flight budget; 429 queue-full when it does not fit. */
  claimPixels(pixels: number): void {
    if (this.released) throw new Error('job ticket used after its release');
    this.admission.claim(this, pixels);
  }

  /**
   * Waits until an image of `pixels` fits the in-flight budget, then counts it (in-process
   * callers such as `advserve eval`, which would rather wait than fail). Rejects with the
   * signal's reason when it fires first.
   */
  async claimPixelsWhenFree(pixels: number, signal?: AbortSignal): Promise<void> {
    if (this.released) throw new Error('job ticket used after its release');
    await this.admission.claimWhenFree(this, pixels, signal);
  }

  /** One more holder (the engine, while it works); each holder calls release() once. */
  hold(): void {
    if (this.released) throw new Error('job ticket used after its release');
    this.holders++;
  }

  release(): void {
    if (this.holders === 0) return;
    this.holders--;
    if (this.holders === 0) this.admission.free(this);
  }
}

export class JobAdmission {
  private jobCount = 0;
  private pixelCount = 0;
  /** Callers of claimWhenFree waiting for pixels to come back. */
  private waiting = new Set<() => void>();

  constructor(
    private readonly limits: AdmissionLimits,
    /** Called for every refusal (metrics). */
    private readonly onReject: (kind: JobKind) => void = () => {},
  ) {}

  /** Jobs admitted and not finished. */
  get jobs(): number {
    return this.jobCount;
  }

  /** Attack pixels admitted and not finished. */
  get pixels(): number {
    return this.pixelCount;
  }

  /** A job slot, or 429 queue-full when maxJobs are admitted. */
  reserve(kind: JobKind): JobTicket {
    if (this.jobCount >= this.limits.maxJobs) {
      this.onReject(kind);
      throw new ApiError(429, 'queue-full', 'Too many requests', `The service is working on ${this.jobCount} jobs; retry later.`, undefined, RETRY_AFTER);
    }
    this.jobCount++;
    return new JobTicket(this, kind);
  }

  private fits(ticket: JobTicket, pixels: number): boolean {
    return this.pixelCount + Math.max(0, pixels - ticket.pixels) <= this.limits.maxInflightPixels;
  }

  /** @internal JobTicket.claimPixelsWhenFree */
  async claimWhenFree(ticket: JobTicket, pixels: number, signal?: AbortSignal): Promise<void> {
    // A lone image over the whole budget could never fit: claim() refuses it rather than wait forever.
    while (!this.fits(ticket, pixels) && this.pixelCount > 0) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          this.waiting.delete(wake);
          resolve();
        };
        const onAbort = () => {
          this.waiting.delete(wake);
          reject(signal!.reason);
        };
        this.waiting.add(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.claim(ticket, pixels);
  }

  /** @internal JobTicket.claimPixels */
  claim(ticket: JobTicket, pixels: number): void {
    const extra = Math.max(0, pixels - ticket.pixels);
    if (extra === 0) return;
    if (!this.fits(ticket, pixels)) {
      this.onReject(ticket.kind);
      throw new ApiError(
        429,
        'queue-full',
        'Too many requests',
        `Attacks on ${this.pixelCount} pixels are running; this one (${pixels} pixels) would pass the in-flight budget of ${this.limits.maxInflightPixels} pixels (ADVSERVE_MAX_INFLIGHT_PIXELS). Retry later.`,
        undefined,
        RETRY_AFTER,
      );
    }
    this.pixelCount += extra;
    ticket.pixels = pixels;
  }

  /** @internal JobTicket.release, once its last holder has let go */
  free(ticket: JobTicket): void {
    this.jobCount--;
    this.pixelCount -= ticket.pixels;
    if (ticket.pixels > 0) for (const wake of [...this.waiting]) wake();
  }
}

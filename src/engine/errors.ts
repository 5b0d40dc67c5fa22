/**
 * The engine's domain errors. The engine knows nothing of HTTP: the HTTP layer maps these to
 * problem+json (src/http/problem.ts), the CLI and `advserve eval` to usage errors.
 */
export class EngineError extends Error {
  override name = 'EngineError';
}

/** A request option out of range, or options that do not go together. `param`: the option's name. */
export class InvalidOption extends EngineError {
  override name = 'InvalidOption';
  constructor(
    readonly param: string,
    detail: string,
  ) {
    super(detail);
  }
}

/** No served model has this id. */
export class UnknownModel extends EngineError {
  override name = 'UnknownModel';
  constructor(readonly id: string) {
    super(`No loaded model has id "${id}".`);
  }
}

/** The models are still loading (or none is served). */
export class EngineNotReady extends EngineError {
  override name = 'EngineNotReady';
  constructor(
    /** true: every model was removed (nothing to wait for); false: still loading. */
    readonly noModels = false,
  ) {
    super(noModels ? 'No model is served (all were removed); add one with POST /v1/models.' : 'The models are still loading; retry shortly.');
  }
}

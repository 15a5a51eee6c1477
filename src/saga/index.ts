/**
 * `weir/saga`: orchestrated sagas with durable state, step-scoped idempotency keys and
 * compensations, advanced by the durable queue; `on()` and `emits()` for choreography between services.
 * @packageDocumentation
 */
export { emits, on, SAGA_RUN_HEADER } from './events.js';
export type { EventWait, OnOptions } from './events.js';
export { saga, Saga, step } from './saga.js';
export type { AnyStep, SagaOptions, Step, StepOptions } from './saga.js';
export { sagaRuntime, SagaRuntime } from './runtime.js';
export type { SagaRuntimeOptions } from './runtime.js';
export type {
  Compensation,
  CompensationContext,
  EmitOptions,
  SagaEvent,
  SagaRun,
  SagaRunDetail,
  StartOptions,
  StepAction,
  StepContext,
} from './types.js';
export type { SagaState, SagaStepPhase, SagaStepRecord, SagaStepStatus } from '../store/sagas.js';

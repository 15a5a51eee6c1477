// The public surface of the simulators, re-exported by `weir/testing` (src/testing/index.ts).
export type { SimulatorLog, SimulatorOptions, SimulatorWebhooks } from './base.js';
export type { RateLimit } from './common.js';
export { type CrmActions, type CrmSimulatorOptions, type CrmState, CrmSimulator, crmSignatureScheme, crmSimulator, type Customer } from './crm.js';
export { type ConsentViolation, type Contact, type EspActions, type EspSimulatorOptions, type EspState, EspSimulator, espSignatureScheme, espSimulator } from './esp.js';
export { type FaultWindow, SimulatorFaults } from './fault-control.js';
export type { SimulatorWebhookTarget, WebhookAttempt, WebhookCounters, WebhookFaults } from './outbox.js';
export type { AbuseRecord, SimulatorCounters, SimulatorRequestRecord } from './server.js';

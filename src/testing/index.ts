/**
 * `weir/testing`: tools to test code built on Weir (and Weir itself).
 * @packageDocumentation
 */
export { FakeClock, flushMicrotasks } from './fake-clock.js';
export { type Fault, type FaultPhase, FaultServer, type FaultServerCounters, type FaultServerHandler, type FaultServerOptions, faultServer, faults, type RecordedRequest, type RetryAfterForm, seededRandom } from './fault-server.js';
export { storeContract, type StoreContractOptions } from './store-contract.js';
export { type AbuseRecord, type ConsentViolation, type Contact, CrmSimulator, type CrmActions, type CrmSimulatorOptions, type CrmState, crmSignatureScheme, crmSimulator, type Customer, EspSimulator, type EspActions, type EspSimulatorOptions, type EspState, espSignatureScheme, espSimulator, type FaultWindow, type RateLimit, type SimulatorCounters, SimulatorFaults, type SimulatorLog, type SimulatorOptions, type SimulatorRequestRecord, type SimulatorWebhooks, type SimulatorWebhookTarget, type WebhookAttempt, type WebhookCounters, type WebhookFaults } from './simulators/exports.js';

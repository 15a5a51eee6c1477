/**
 * `weir/testing`: tools to test code built on Weir (and Weir itself).
 * @packageDocumentation
 */
export { FakeClock, flushMicrotasks } from './fake-clock.js';
export { type Fault, type FaultPhase, FaultServer, type FaultServerCounters, type FaultServerHandler, type FaultServerOptions, faultServer, faults, type RecordedRequest, type RetryAfterForm, seededRandom } from './fault-server.js';
export { storeContract, type StoreContractOptions } from './store-contract.js';

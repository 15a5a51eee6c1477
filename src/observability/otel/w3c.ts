import { type Context, createTraceState, isSpanContextValid, type TextMapGetter, type TextMapPropagator, type TextMapSetter, trace } from '@opentelemetry/api';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
/** `version-traceid-spanid-flags`; a later version may append fields (W3C Trace Context §3.2.4). */
const PARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * W3C Trace Context (`traceparent`, `tracestate`) on `@opentelemetry/api` alone: the default
 * propagator of `otelTracing()`, so no SDK package is needed to carry a trace through HTTP and
 * messages. Behaves as `W3CTraceContextPropagator` from `@opentelemetry/core`.
 */
export const w3cTraceContext: TextMapPropagator = {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (sc === undefined || !isSpanContextValid(sc)) return;
    setter.set(carrier, TRACEPARENT, `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`);
    const state = sc.traceState?.serialize();
    if (state !== undefined && state !== '') setter.set(carrier, TRACESTATE, state);
  },

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = first(getter.get(carrier, TRACEPARENT));
    const m = raw === undefined ? null : PARENT.exec(raw.trim());
    if (m === null) return ctx;
    const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
    if (version === 'ff' || (version === '00' && rest !== undefined)) return ctx;
    const sc = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & 0x01, isRemote: true };
    if (!isSpanContextValid(sc)) return ctx;
    const state = getter.get(carrier, TRACESTATE);
    const joined = Array.isArray(state) ? state.join(',') : state;
    return trace.setSpanContext(ctx, joined === undefined || joined === '' ? sc : { ...sc, traceState: createTraceState(joined) });
  },

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  },
};

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * `weir/webhooks`: webhook signatures for every common format (Standard Webhooks v1/v1a, Stripe,
 * GitHub, Shopify, Slack, Convoy, and any HMAC format described by a config), verified against the
 * raw body with replay windows and secret rotation; signing for senders and simulators.
 * @packageDocumentation
 */
export type { HeaderLookup, RawBody, SecretValue, SignatureFailure, SignInput, WebhookHeaders, WebhookScheme } from './scheme.js';
export { convoy } from './schemes/convoy.js';
export type { ConvoySchemeOptions } from './schemes/convoy.js';
export { hmacScheme } from './schemes/generic.js';
export type { HmacSchemeConfig } from './schemes/generic.js';
export { github } from './schemes/github.js';
export type { GitHubSchemeOptions } from './schemes/github.js';
export { shopify } from './schemes/shopify.js';
export { slack } from './schemes/slack.js';
export type { SlackSchemeOptions } from './schemes/slack.js';
export { standardWebhooks } from './schemes/standard-webhooks.js';
export type { StandardWebhooksSchemeOptions } from './schemes/standard-webhooks.js';
export { stripe } from './schemes/stripe.js';
export type { StripeSchemeOptions } from './schemes/stripe.js';
export { resolveScheme, sign, verify, WebhookVerifier, webhookVerifier } from './verify.js';
export type { SchemeInput, SchemeName, SecretOptions, SigningSecret, SignOptions, ToleranceOptions, VerifyInput, VerifyOptions, WebhookVerifierOptions } from './verify.js';
// helper-owned exports below (one line per module)
export { receiver } from './receiver.js';
export { WEBHOOK_ID_HEADER, WEBHOOK_RECEIVED_AT_HEADER, WEBHOOK_SCHEME_HEADER, type ReceiveOutcome, type ReceiverErrorEvent, type ReceiverOptions, type WebhookReceiver } from './receiver-options.js';
export type { PayloadMode, ReceivedWebhook, WebhookField } from './receiver-input.js';
export { eventVersion, isNewer, toVersion, VersionGate, versionGate, WEBHOOK_VERSION_HEADER, type ApplyResult, type EventVersion, type VersionGateOptions } from './ordering.js';
export { WebhookSender, webhookSender } from './sender.js';
export { DEFAULT_WEBHOOK_SCHEDULE, SENDER_DEFAULTS, type SendResult, type SenderErrorEvent, type WebhookEvent, type WebhookSenderOptions } from './sender-options.js';
export type { EndpointRateLimit, EndpointSecret, EndpointState, WebhookEndpoint } from './endpoints.js';
export { WebhookStatusError, type DeliveryPayload, type EndpointDisabledEvent } from './sender-delivery.js';
export { undiciTransport, type UndiciTransportOptions, type WebhookRequest, type WebhookResponse, type WebhookTransport } from './transport.js';

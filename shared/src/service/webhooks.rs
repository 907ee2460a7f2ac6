//! Webhooks: an organization's events pushed to the endpoints its admins add, signed, in order
//! per endpoint, retried, never lost.
//!
//! Delivery reads the outbox ([`super::events`]); a write never waits for it (a slow or dead
//! endpoint costs SCIM nothing). Each endpoint keeps the last seq it got (`delivered_seq`). A
//! [`Dispatcher`] on every instance runs a few workers; a worker claims one endpoint that has
//! events after its seq (a lease; PostgreSQL `FOR UPDATE SKIP LOCKED`, so two instances never
//! hold the same endpoint), posts its events one at a time in seq order, and moves the seq on
//! after each 2xx. A failure stops that endpoint (later events wait: order is kept) until the
//! next attempt, after an exponential backoff with jitter ([`backoff`]); after a day of failures
//! the endpoint is marked failing and waits for an admin (*Retry*). An instance that dies
//! mid-delivery leaves its lease to run out; another takes over at the same seq — an event
//! may then arrive twice (its id is the same): delivery is at least once, in order.
//!
//! Each request carries `Roster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" keyed with the endpoint's secret>` ([`sign`], [`verify`]; README has the
//! receiver's side). Outbound requests (SSRF): `https` only (plain `http` to loopback only when
//! the operator allows it, for tests), every address the host resolves to must be public (the
//! connection goes to the addresses checked — no second lookup to rebind), no redirects, no
//! proxy, a time limit, and at most 4 KB of the answer is read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::json;
use sha2::Sha256;
use tokio::sync::watch;

use super::activity::{self, Actor};
use super::sso::seal::SealKey;
use crate::clock::now_ms;
use crate::dto::events::{DeliveryView, EndpointView, EventView, Integrations, EVENT_TYPES, TEST_EVENT};
use crate::error::{DomainError, DomainResult};
use crate::ids::TenantId;
use crate::store::{DeliveryRecord, EndpointRecord, EventRecord, NewEndpoint, Store};

/// How webhooks are delivered.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// This instance's name in leases.
    pub instance: String,
    /// Allow `http://` and loopback addresses (tests, local development).
    pub allow_loopback: bool,
    /// One request's time limit.
    pub timeout: Duration,
    /// The first retry's delay; doubled each time, up to `retry_max`.
    pub retry_base: Duration,
    /// The longest delay between attempts.
    pub retry_max: Duration,
    /// After failing this long, an endpoint is marked failing (no more attempts).
    pub give_up_after: Duration,
    /// Endpoints delivered to at once by this instance.
    pub workers: usize,
    /// How often to look for work when nothing woke a worker.
    pub poll: Duration,
    /// How long a claim holds without progress.
    pub lease: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            instance: super::jobs::instance_name(),
            allow_loopback: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            workers: 4,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
        }
    }
}

/// The delay before attempt `attempts + 1` after `attempts` failures in a row: `base·2^(n-1)`
/// capped at `max`, then a random part of it taken off (at most half), so that endpoints that
/// failed together do not retry together.
pub fn backoff(attempts: i64, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 40) - 1).unwrap_or(0);
    let full = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

type HmacSha256 = Hmac<Sha256>;

/// The `Roster-Signature` header of `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // A key of any length is accepted by HMAC.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A receiver's check: the header is well formed, signed with `secret` over `body`, and its
/// time within `tolerance` seconds of `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance {
        return false;
    }
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    sigs.iter().any(|s| hex::decode(s).is_ok_and(|d| d.len() == expected.len() && constant_eq(&d, &expected)))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether an address is one the server must not call (private, loopback, link-local, CGNAT,
/// multicast, unspecified, or such an IPv4 address mapped into IPv6).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    !is_internal(ip) || (allow_loopback && ip.is_loopback())
}

/// Checks an endpoint URL an admin typed (see the module doc); the error is in words.
pub fn check_url(url: &str, allow_loopback: bool) -> Result<url::Url, String> {
    let url = url.trim();
    if url.len() > 2000 {
        return Err("The URL is longer than 2,000 characters.".into());
    }
    let parsed = url::Url::parse(url).map_err(|_| "The URL is not valid (it starts with https://).".to_string())?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("The URL must not hold a user name or password.".into());
    }
    let Some(host) = parsed.host() else { return Err("The URL has no host.".into()) };
    let literal = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => Some(IpAddr::from([127, 0, 0, 1])),
        url::Host::Domain(_) => None,
    };
    let loopback = literal.is_some_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback => {}
        _ => return Err("The URL must start with https://.".into()),
    }
    if literal.is_some_and(|ip| !allowed(ip, allow_loopback)) {
        return Err("The URL points at a private or local address.".into());
    }
    Ok(parsed)
}

/// Resolves names for outbound webhook requests, refusing internal addresses (the connection
/// goes to what this returned: a name cannot resolve to a public address when checked and a
/// private one when used).
#[derive(Clone, Debug)]
struct GuardedResolver {
    allow_loopback: bool,
}

const REFUSED: &str = "the host resolves to a private or local address";

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let allow = self.allow_loopback;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok: Vec<SocketAddr> = found.iter().copied().filter(|a| allowed(a.ip(), allow)).collect();
            // All or nothing: a name with one internal address is refused outright.
            if ok.is_empty() || ok.len() != found.len() {
                return Err(REFUSED.into());
            }
            Ok(Box::new(ok.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How one request went.
#[derive(Clone, Debug)]
pub struct Sent {
    /// 2xx.
    pub ok: bool,
    /// The status, if the endpoint answered.
    pub status: Option<u16>,
    /// The start of the answer.
    pub excerpt: Option<String>,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// Milliseconds.
    pub latency_ms: i64,
}

/// Posts signed event bodies (see the module doc). Cheap to clone: the HTTP client is made at
/// the first request and shared.
#[derive(Clone, Debug)]
pub struct Sender {
    allow_loopback: bool,
    timeout: Duration,
    client: Arc<std::sync::OnceLock<reqwest::Client>>,
}

/// The most of an answer read.
const ANSWER_MAX: usize = 4096;
/// The most of an answer kept in the delivery log.
const EXCERPT_MAX: usize = 1000;

impl Sender {
    /// A sender with these limits.
    pub fn new(settings: &WebhookSettings) -> Sender {
        Sender { allow_loopback: settings.allow_loopback, timeout: settings.timeout, client: Default::default() }
    }

    /// Whether it may call loopback addresses over plain http (tests).
    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    fn client(&self) -> Result<reqwest::Client, String> {
        if let Some(c) = self.client.get() {
            return Ok(c.clone());
        }
        let made = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent("Roster-Webhooks/1")
            .dns_resolver(GuardedResolver { allow_loopback: self.allow_loopback })
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(self.client.get_or_init(|| made).clone())
    }

    /// Posts `body` to `url`, signed with `secret`.
    pub async fn post(&self, url: &str, secret: &str, event: &EventView, delivery: &str) -> Sent {
        let started = Instant::now();
        let fail = |error: String, started: Instant| Sent {
            ok: false,
            status: None,
            excerpt: None,
            error: Some(error),
            latency_ms: started.elapsed().as_millis() as i64,
        };
        let checked = match check_url(url, self.allow_loopback) {
            Ok(u) => u,
            Err(e) => return fail(e, started),
        };
        let body = match serde_json::to_vec(event) {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot encode the event: {e}"), started),
        };
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => return fail(e, started),
        };
        let t = now_ms() / 1000;
        let request = client
            .post(checked)
            .header("content-type", "application/json")
            .header("roster-signature", sign(secret, t, &body))
            .header("roster-event-id", &event.id)
            .header("roster-event-type", &event.kind)
            .header("roster-delivery", delivery)
            .body(body);
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return fail(describe(&e), started),
        };
        let status = response.status();
        let mut answer = Vec::new();
        while answer.len() < ANSWER_MAX {
            match response.chunk().await {
                Ok(Some(chunk)) => answer.extend_from_slice(&chunk[..chunk.len().min(ANSWER_MAX - answer.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let excerpt: String = text.chars().take(EXCERPT_MAX).collect();
        let ok = status.is_success();
        Sent {
            ok,
            status: Some(status.as_u16()),
            excerpt: (!excerpt.is_empty()).then_some(excerpt),
            error: (!ok).then(|| format!("The endpoint answered HTTP {}.", status.as_u16())),
            latency_ms: started.elapsed().as_millis() as i64,
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string());
        chain.push(' ');
        source = s.source();
    }
    if chain.contains(REFUSED) {
        "Refused: the endpoint's host resolves to a private or local address.".into()
    } else if e.is_timeout() {
        "The endpoint did not answer in time.".into()
    } else if e.is_connect() {
        "Cannot connect to the endpoint.".into()
    } else if e.is_redirect() || e.status().is_some_and(|s| s.is_redirection()) {
        "The endpoint answered with a redirect (not followed).".into()
    } else {
        format!("The request failed: {e}")
    }
}

/// The event types of an endpoint, from its stored text.
fn types_of(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect()
}

fn wants(types: &[String], kind: &str) -> bool {
    types.is_empty() || types.iter().any(|t| t == kind)
}

/// Checks the event types an admin picked: known ones, each once, sorted as documented.
pub fn checked_types(types: &[String]) -> DomainResult<String> {
    for t in types {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(DomainError::Invalid(format!("'{t}' is not an event type.")));
        }
    }
    Ok(EVENT_TYPES.iter().filter(|t| types.iter().any(|x| x == *t)).copied().collect::<Vec<_>>().join(","))
}

/// Delivers events on this instance (see the module doc).
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("workers", &self.tasks.len()).finish()
    }
}

impl Dispatcher {
    /// Starts the workers on the current Tokio runtime.
    pub fn start(store: Store, key: Arc<SealKey>, settings: WebhookSettings) -> Dispatcher {
        let sender = Sender::new(&settings);
        let (stop, stopping) = watch::channel(false);
        let settings = Arc::new(settings);
        let tasks = (0..settings.workers.max(1))
            .map(|i| {
                let w = Worker {
                    owner: format!("{}/{i}", settings.instance),
                    store: store.clone(),
                    key: key.clone(),
                    settings: settings.clone(),
                    sender: sender.clone(),
                };
                tokio::spawn(w.run(stopping.clone()))
            })
            .collect();
        Dispatcher { stop, tasks }
    }

    /// Stops after the deliveries in hand (waits at most `grace`).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        for mut t in self.tasks {
            if tokio::time::timeout(grace, &mut t).await.is_err() {
                t.abort();
            }
        }
    }

    /// Stops at once, as if the process died (leases stay until they run out).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Worker {
    /// The leases' owner: the instance and the worker. Each worker has its own, so that when a
    /// worker stalls past its lease and another worker of the instance claims the endpoint, the
    /// stalled one's writes change nothing (two workers never deliver one endpoint at once).
    owner: String,
    store: Store,
    key: Arc<SealKey>,
    settings: Arc<WebhookSettings>,
    sender: Sender,
}

/// How long a worker woken by a commit waits before its pass. On PostgreSQL each pass numbers
/// the events committed since the last (a transaction under the tenant's lock: about ten
/// statements, whatever the number of events); woken at once, a worker made one pass per write
/// under steady load, which cost PostgreSQL more CPU than the writes themselves.
const GATHER: Duration = Duration::from_millis(2);

/// Events read at a time for one endpoint.
const BATCH: i64 = 100;
/// Deliveries to one endpoint per claim (then others get a turn).
const PER_CLAIM: usize = 1000;

impl Worker {
    async fn run(self, mut stopping: watch::Receiver<bool>) {
        loop {
            if *stopping.borrow() {
                return;
            }
            let wake = self.store.events_wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // PostgreSQL: number what committed (see `store::events`); nothing on SQLite.
            if let Err(e) = self.store.sequence_in_turn(GATHER).await {
                tracing::error!("numbering events: {e}");
            }
            let now = now_ms();
            // PostgreSQL: fold the user counts' rows now and then (see `store::counts`).
            if let Err(e) = self.store.fold_user_counts(now).await {
                tracing::warn!("folding the user counts: {e}");
            }
            let lease_until = now + self.settings.lease.as_millis() as i64;
            match self.store.claim_endpoint(&self.owner, now, lease_until).await {
                Ok(Some(ep)) => {
                    // A wake-up reaches one idle worker (commits wake one, not all, so that a
                    // burst of writes does not send every worker to the database each time):
                    // pass it on, in case another endpoint is ready too.
                    self.store.events_wake.notify_one();
                    if let Err(e) = self.deliver(&ep).await {
                        tracing::error!(tenant = %ep.tenant_id, endpoint = %ep.id, "webhook delivery: {e}");
                        let _ = self.store.release_endpoint(&ep.tenant_id, &ep.id, &self.owner).await;
                    }
                }
                Ok(None) => {
                    tokio::select! {
                        () = &mut wake => {
                            // Let the commits right behind this one come too, so that one pass
                            // numbers and delivers them together (see [`GATHER`]).
                            tokio::time::sleep(GATHER).await;
                        }
                        () = tokio::time::sleep(self.settings.poll) => {}
                        _ = stopping.changed() => {}
                    }
                }
                Err(e) => {
                    tracing::error!("claiming a webhook endpoint: {e}");
                    tokio::time::sleep(self.settings.poll).await;
                }
            }
        }
    }

    /// Delivers the claimed endpoint's events in order until none is left, one fails, the
    /// lease is lost, or this claim's share is used. Successes are recorded (the endpoint's seq
    /// and the delivery log) in one transaction per [`FLUSH_EVERY`] deliveries or
    /// [`FLUSH_AFTER`], not one write per event: an instance that dies sends at most those
    /// again (delivery is at least once; the event ids say which).
    async fn deliver(&self, ep: &EndpointRecord) -> DomainResult<()> {
        let owner = self.owner.as_str();
        let Some(tenant) = TenantId::parse(&ep.tenant_id) else { return Ok(()) };
        let secret = self.key.open(&ep.secret_sealed, &ep.id)?;
        let types = types_of(&ep.types);
        let t = self.store.tenant(&tenant);
        let lease_ms = self.settings.lease.as_millis() as i64;
        // `at`: read up to here; `done`: what the next flush records as delivered.
        let mut at = ep.delivered_seq;
        let mut done = ep.delivered_seq;
        let mut pending: Vec<DeliveryRecord> = Vec::new();
        let mut flushed = Instant::now();
        let mut first = true;
        let mut sent = 0;
        while sent < PER_CLAIM {
            let events = t.events_after(at, &[], BATCH).await?;
            let Some(last) = events.last().map(|e| e.seq) else { break };
            for e in &events {
                if !wants(&types, &e.kind) {
                    done = e.seq;
                    continue;
                }
                let view = super::events::view(&tenant, e);
                let id = new_delivery_id();
                let result = self.sender.post(&ep.url, &secret, &view, &id).await;
                crate::metrics::webhook_delivery(result.ok, result.latency_ms);
                let attempt = if first { ep.attempts + 1 } else { 1 };
                let record = delivery_record(&id, &ep.id, Some(e), &view, "event", attempt, &result);
                if !result.ok {
                    // What was delivered before it is recorded first.
                    if !self.flush(ep, owner, &mut pending, done, now_ms() + lease_ms).await? {
                        return Ok(());
                    }
                    t.insert_delivery(&record).await?;
                    let now = now_ms();
                    let since = if first { ep.failing_since.unwrap_or(now) } else { now };
                    let failing = now - since >= self.settings.give_up_after.as_millis() as i64;
                    let delay =
                        backoff(attempt, self.settings.retry_base, self.settings.retry_max, rand::thread_rng().gen());
                    let error = result.error.unwrap_or_default();
                    let next = now + delay.as_millis() as i64;
                    self.store
                        .endpoint_failed(&ep.tenant_id, &ep.id, owner, attempt, since, next, failing, &error)
                        .await?;
                    if failing {
                        tracing::warn!(tenant = %ep.tenant_id, endpoint = %ep.id, "webhook endpoint failing for a day: deliveries stopped");
                    }
                    return Ok(());
                }
                first = false;
                pending.push(record);
                done = e.seq;
                sent += 1;
                if pending.len() >= FLUSH_EVERY || flushed.elapsed() >= FLUSH_AFTER {
                    if !self.flush(ep, owner, &mut pending, done, now_ms() + lease_ms).await? {
                        return Ok(());
                    }
                    flushed = Instant::now();
                }
            }
            at = last;
            done = done.max(last);
        }
        if !self.flush(ep, owner, &mut pending, done, now_ms() + lease_ms).await? {
            return Ok(());
        }
        self.store.release_endpoint(&ep.tenant_id, &ep.id, owner).await
    }

    /// Records `pending` deliveries and the endpoint's seq `done` (extending the lease) in one
    /// transaction; `false` when this instance no longer holds the endpoint (nothing recorded).
    async fn flush(
        &self,
        ep: &EndpointRecord,
        owner: &str,
        pending: &mut Vec<DeliveryRecord>,
        done: i64,
        lease_until: i64,
    ) -> DomainResult<bool> {
        let held = self.store.record_deliveries(&ep.tenant_id, &ep.id, owner, pending, done, lease_until).await?;
        pending.clear();
        Ok(held)
    }
}

/// Successful deliveries recorded together (see [`Worker::deliver`]).
const FLUSH_EVERY: usize = 50;
/// … or after this long.
const FLUSH_AFTER: Duration = Duration::from_millis(250);

fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::new_v4().simple())
}

/// The delivery log's row for one attempt.
fn delivery_record(
    id: &str,
    endpoint: &str,
    event: Option<&EventRecord>,
    view: &EventView,
    kind: &str,
    attempt: i64,
    r: &Sent,
) -> DeliveryRecord {
    DeliveryRecord {
        id: id.to_string(),
        endpoint_id: endpoint.to_string(),
        event_id: view.id.clone(),
        event_seq: event.map(|e| e.seq),
        event_type: view.kind.clone(),
        kind: kind.to_string(),
        attempt,
        at: now_ms(),
        ok: r.ok,
        status_code: r.status.map(i64::from),
        latency_ms: r.latency_ms,
        response: r.excerpt.clone(),
        error: r.error.clone(),
    }
}

/// A new signing secret.
fn new_secret() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!("whsec_{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40))
}

fn delivery_view(d: &DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        kind: d.kind.clone(),
        attempt: d.attempt,
        at: d.at,
        ok: d.ok,
        status_code: d.status_code,
        latency_ms: d.latency_ms,
        response: d.response.clone(),
        error: d.error.clone(),
    }
}

/// Deliveries the page shows per endpoint.
pub const DELIVERIES_SHOWN: i64 = 25;
/// Endpoints an organization may have.
pub const MAX_ENDPOINTS: usize = 20;

/// An endpoint as the page shows it.
async fn endpoint_view(
    store: &Store,
    tenant: &TenantId,
    e: &EndpointRecord,
    last_seq: i64,
) -> DomainResult<EndpointView> {
    let deliveries = store.tenant(tenant).deliveries(&e.id, DELIVERIES_SHOWN).await?;
    Ok(EndpointView {
        id: e.id.clone(),
        url: e.url.clone(),
        description: e.description.clone(),
        types: types_of(&e.types),
        enabled: e.enabled,
        failing: e.failing,
        attempts: e.attempts,
        next_attempt_at: (e.attempts > 0 && !e.failing).then_some(e.next_attempt_at),
        last_error: e.last_error.clone(),
        backlog: (last_seq - e.delivered_seq).max(0),
        deliveries: deliveries.iter().map(delivery_view).collect(),
    })
}

/// The organization's endpoints with their latest deliveries.
pub async fn endpoints(store: &Store, tenant: &TenantId) -> DomainResult<Vec<EndpointView>> {
    let t = store.tenant(tenant);
    let last_seq = t.last_event_seq().await?;
    let mut out = Vec::new();
    for e in t.endpoints().await? {
        out.push(endpoint_view(store, tenant, &e, last_seq).await?);
    }
    Ok(out)
}

/// The *Integrations* page: keys, endpoints with their latest deliveries.
pub async fn integrations(
    store: &Store,
    tenant: &TenantId,
    public_url: &str,
    retention_days: i64,
) -> DomainResult<Integrations> {
    let last_seq = store.tenant(tenant).last_event_seq().await?;
    Ok(Integrations {
        keys: super::api_keys::list(store, tenant).await?,
        endpoints: endpoints(store, tenant).await?,
        api_url: format!("{}/api/v1", public_url.trim_end_matches('/')),
        retention_days,
        last_seq,
    })
}

fn checked_description(text: &str) -> DomainResult<String> {
    let d = text.trim();
    if d.chars().count() > 200 {
        return Err(DomainError::Invalid("The description is longer than 200 characters.".into()));
    }
    Ok(d.to_string())
}

/// Adds an endpoint (it receives the events from now on); returns its id and signing secret
/// (shown once).
#[allow(clippy::too_many_arguments)]
pub async fn create(
    store: &Store,
    key: &SealKey,
    allow_loopback: bool,
    tenant: &TenantId,
    actor: &Actor,
    url: &str,
    description: &str,
    types: &[String],
) -> DomainResult<(String, String)> {
    let url = check_url(url, allow_loopback).map_err(DomainError::Invalid)?;
    let description = checked_description(description)?;
    let types = checked_types(types)?;
    let t = store.tenant(tenant);
    if t.endpoints().await?.len() >= MAX_ENDPOINTS {
        return Err(DomainError::Invalid(format!("An organization has at most {MAX_ENDPOINTS} webhook endpoints.")));
    }
    let id = format!("we_{}", uuid::Uuid::new_v4().simple());
    let secret = new_secret();
    let sealed = key.seal(&secret, &id)?;
    let now = now_ms();
    t.insert_endpoint(
        &NewEndpoint { id: &id, url: url.as_str(), description: &description, types: &types, secret_sealed: &sealed },
        now,
    )
    .await?;
    let summary = format!("added webhook endpoint {}", url.as_str());
    t.record_activity(&activity::action(actor, "Webhook", Some(&id), &summary, now)).await?;
    Ok((id, secret))
}

/// Changes an endpoint's URL, description, types, and whether it is on.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    store: &Store,
    allow_loopback: bool,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
    url: &str,
    description: &str,
    types: &[String],
    enabled: bool,
) -> DomainResult<()> {
    let url = check_url(url, allow_loopback).map_err(DomainError::Invalid)?;
    let description = checked_description(description)?;
    let types = checked_types(types)?;
    let now = now_ms();
    let t = store.tenant(tenant);
    if !t.update_endpoint(id, url.as_str(), &description, &types, enabled, now).await? {
        return Err(DomainError::NotFound);
    }
    let summary = format!("changed webhook endpoint {}{}", url.as_str(), if enabled { "" } else { " (off)" });
    t.record_activity(&activity::action(actor, "Webhook", Some(id), &summary, now)).await?;
    store.events_wake.notify_one();
    Ok(())
}

/// Deletes an endpoint and its delivery log.
pub async fn delete(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let t = store.tenant(tenant);
    let e = t.endpoint(id).await?.ok_or(DomainError::NotFound)?;
    if !t.delete_endpoint(id).await? {
        return Err(DomainError::NotFound);
    }
    let summary = format!("deleted webhook endpoint {}", e.url);
    t.record_activity(&activity::action(actor, "Webhook", Some(id), &summary, now_ms())).await
}

/// Ends an endpoint's failures: delivery resumes at once where it stopped.
pub async fn retry(store: &Store, tenant: &TenantId, actor: &Actor, id: &str) -> DomainResult<()> {
    let t = store.tenant(tenant);
    let e = t.endpoint(id).await?.ok_or(DomainError::NotFound)?;
    t.retry_endpoint(id, now_ms()).await?;
    let summary = format!("retried webhook endpoint {}", e.url);
    t.record_activity(&activity::action(actor, "Webhook", Some(id), &summary, now_ms())).await?;
    store.events_wake.notify_one();
    Ok(())
}

/// Sends a `webhook.test` event to an endpoint now; returns the delivery.
pub async fn send_test(
    store: &Store,
    key: &SealKey,
    sender: &Sender,
    tenant: &TenantId,
    actor: &Actor,
    id: &str,
) -> DomainResult<DeliveryView> {
    let t = store.tenant(tenant);
    let e = t.endpoint(id).await?.ok_or(DomainError::NotFound)?;
    let secret = key.open(&e.secret_sealed, &e.id)?;
    let now = now_ms();
    let view = EventView {
        id: super::events::new_id(),
        kind: TEST_EVENT.to_string(),
        tenant: tenant.to_string(),
        seq: 0,
        created_at: super::events::rfc3339(now),
        data: json!({"message": "A test event from Roster: this endpoint receives the organization's events."}),
        cause: json!({"kind": "admin", "actor": actor.name}),
    };
    let delivery = new_delivery_id();
    let sent = sender.post(&e.url, &secret, &view, &delivery).await;
    t.insert_delivery(&delivery_record(&delivery, &e.id, None, &view, "test", 1, &sent)).await?;
    let d = t.delivery(&delivery).await?.ok_or(DomainError::NotFound)?;
    Ok(delivery_view(&d))
}

/// Sends a delivery's event again now (its endpoint's order aside: a resend is a copy).
pub async fn resend(
    store: &Store,
    key: &SealKey,
    sender: &Sender,
    tenant: &TenantId,
    delivery: &str,
) -> DomainResult<DeliveryView> {
    let t = store.tenant(tenant);
    let d = t.delivery(delivery).await?.ok_or(DomainError::NotFound)?;
    let e = t.endpoint(&d.endpoint_id).await?.ok_or(DomainError::NotFound)?;
    let record = t.event(&d.event_id).await?.ok_or_else(|| {
        DomainError::Invalid("That event is no longer kept (or was a test event): it cannot be sent again.".into())
    })?;
    let secret = key.open(&e.secret_sealed, &e.id)?;
    let view = super::events::view(tenant, &record);
    let id = new_delivery_id();
    let sent = sender.post(&e.url, &secret, &view, &id).await;
    t.insert_delivery(&delivery_record(&id, &e.id, Some(&record), &view, "resend", 1, &sent)).await?;
    let logged = t.delivery(&id).await?.ok_or(DomainError::NotFound)?;
    Ok(delivery_view(&logged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_half_taken_off() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(3600));
        let full: Vec<u64> = (1..=12).map(|n| backoff(n, base, max, 0.0).as_secs()).collect();
        assert_eq!(full, vec![10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]);
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_secs(5));
        assert_eq!(backoff(500, base, max, 0.5), Duration::from_secs(2700));
        // A day of failures is about 30 attempts.
        let mut spent = Duration::ZERO;
        let mut n = 0;
        while spent < Duration::from_secs(86_400) {
            n += 1;
            spent += backoff(n, base, max, 0.0);
        }
        assert!((25..40).contains(&n), "{n}");
    }

    #[test]
    fn signatures_verify_only_with_the_secret_body_and_time() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign("whsec_abc", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_abc", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_abd", &header, body, 1_700_000_100, 300));
        assert!(!verify("whsec_abc", &header, br#"{"id":"evt_2"}"#, 1_700_000_100, 300));
        assert!(!verify("whsec_abc", &header, body, 1_700_001_000, 300));
        assert!(!verify("whsec_abc", "v1=00", body, 1_700_000_000, 300));
        // Known vector: printf '1.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(signature("secret", 1, b"{}"), "1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908");
    }

    #[test]
    fn only_public_https_urls_unless_loopback_is_allowed() {
        assert!(check_url("https://hooks.example.com/roster", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://10.0.0.8/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://[fd00::1]/x",
            "https://0.0.0.0/x",
            "https://user:pw@hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "not a url",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/x", true).is_ok());
        assert!(check_url("http://localhost:9000/x", true).is_ok());
        assert!(check_url("http://hooks.example.com/x", true).is_err());
        assert!(check_url("https://10.0.0.8/x", true).is_err());
    }

    #[tokio::test]
    async fn names_that_resolve_to_internal_addresses_are_refused() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = || reqwest::dns::Name::from_str("localhost").unwrap_or_else(|_| unreachable!());
        let strict = GuardedResolver { allow_loopback: false };
        let refused = strict.resolve(name()).await.err().map(|e| e.to_string());
        assert_eq!(refused.as_deref(), Some(REFUSED));
        let tests = GuardedResolver { allow_loopback: true };
        let addrs: Vec<SocketAddr> = tests.resolve(name()).await.map(|a| a.collect()).unwrap_or_default();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    #[test]
    fn event_types_are_checked_and_ordered() {
        assert_eq!(checked_types(&[]).ok().as_deref(), Some(""));
        let picked = vec!["user.deleted".to_string(), "user.created".to_string()];
        assert_eq!(checked_types(&picked).ok().as_deref(), Some("user.created,user.deleted"));
        assert!(checked_types(&["user.exploded".to_string()]).is_err());
        assert!(wants(&[], "user.created"));
        assert!(!wants(&["user.deleted".to_string()], "user.created"));
    }
}

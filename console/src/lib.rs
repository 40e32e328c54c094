//! riverwatch-console: the HTTP API, the live feed and access control of the duty officers'
//! console, served by `riverwatch console` and `riverwatch up`.
//!
//! The console is a view over what the services store: readings through the readings
//! store's reader, evaluations and events through analytics' reader, alerts with their
//! notifications, acknowledgements and audit trail through the alert service's reader; it
//! computes nothing of its own. Its only writes are an officer's acknowledgement and an
//! admin's silences (through `riverwatch_alerts::operator`, audited) and its own tokens and
//! sessions (tokens also through the API, for admins).
//!
//! Data flow: broker `{prefix}/readings/+`, `{prefix}/events/+`, `{prefix}/alerts/+` →
//! [`stream::source`] (core's acking subscriber) → [`stream::feed`] ring → [`stream::sse`]
//! clients; HTTP request → [`api`] router → [`api::auth`] ([`access`] tokens, sessions,
//! throttle) → handler → store readers → JSON or CSV.
//!
//! # Layout
//! - [`config`]: `[console]` settings and their validation.
//! - [`access`]: roles, principals and tokens; [`access::store`] the console database
//!   (token hashes, sessions); [`access::throttle`] slowing down repeated bad tokens.
//! - [`api`]: the router, shared state and response layer (errors in the configured
//!   language, security headers); [`api::auth`] the principal of a request and sign-in;
//!   [`api::error`], [`api::extract`]; the routes: [`api::stations`], [`api::readings`]
//!   (and dead letters), [`api::evaluations`] (and events), [`api::alerts`] (and the
//!   acknowledgement), [`api::silences`], [`api::tokens`] (admins' token management),
//!   [`api::standards`] (the standards' limits and AQI levels the pages draw),
//!   [`api::health`] (probes and metrics), [`api::openapi`].
//! - [`pages`]: the pages (overview, station, alert, sign-in) and their scripts and styles,
//!   embedded from `console/assets/`.
//! - [`stream`]: the live feed ([`stream::source`], [`stream::feed`], [`stream::sse`]).
//! - [`metrics`]: the console's counters in the process-wide registry, and the `# HELP`
//!   text of every metric of the process.
#![deny(missing_docs)]

pub mod access;
pub mod api;
pub mod config;
pub mod metrics;
pub mod pages;
pub mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use riverwatch_core::Lang;
use riverwatch_core::mqtt::MqttConfig;
use riverwatch_core::registry::Registry;
use riverwatch_core::time::Clock;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use api::Stores;
pub use config::ConsoleConfig;

use crate::access::{Throttle, TokenStore};
use crate::api::{AppState, Tokens};
use crate::metrics::Metrics;
use crate::stream::feed::Feed;
use crate::stream::source::BrokerState;

/// A console failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad `[console]` settings.
    #[error("console configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// Bad broker settings.
    #[error("broker configuration: {0}")]
    Mqtt(#[from] riverwatch_core::mqtt::MqttConfigError),
    /// The console database cannot be opened.
    #[error("{0}")]
    Tokens(#[from] access::TokenStoreError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed.
    #[error("HTTP server: {0}")]
    Serve(std::io::Error),
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the console needs.
#[derive(Debug, Clone)]
pub struct ConsoleArgs {
    /// `[console]`.
    pub config: ConsoleConfig,
    /// The broker of the live feed.
    pub mqtt: MqttConfig,
    /// The network.
    pub registry: Arc<Registry>,
    /// The services' stores.
    pub stores: Stores,
    /// Language of error messages.
    pub lang: Lang,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// A console bound to its address, not yet serving.
pub struct Console {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
    mqtt: MqttConfig,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Checks the settings, opens the console database and binds the address.
///
/// # Errors
/// Bad settings, a console database that cannot be opened, an address that cannot be
/// bound.
pub async fn bind(args: ConsoleArgs) -> Result<Console> {
    let addr = args.config.validate()?;
    riverwatch_core::mqtt::session::SessionOptions::new(&args.mqtt, &args.config.client_id)?;
    // The live feed shows only messages with a valid MAC: no key, no console.
    args.mqtt.verifier("console")?;
    let db = args.stores.data_dir.join(&args.config.database);
    let tokens = TokenStore::open(&db)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let metrics = Metrics::new();
    let epoch = args.clock.now().timestamp_millis().to_string();
    let state = Arc::new(AppState {
        feed: Arc::new(Feed::new(epoch, args.config.replay_events)),
        broker: BrokerState::new(metrics.clone()),
        throttle: Throttle::new(),
        tokens: Arc::new(Tokens::new(tokens)),
        config: args.config,
        lang: args.lang,
        registry: args.registry,
        stores: args.stores,
        clock: args.clock,
        metrics,
        stop: CancellationToken::new(),
    });
    Ok(Console {
        listener,
        addr,
        state,
        mqtt: args.mqtt,
    })
}

impl Console {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://address:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `shutdown` is cancelled: the live feed's subscription and the HTTP
    /// server; open streams end at shutdown.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        let Console {
            listener,
            addr,
            state,
            mqtt,
        } = self;
        let source = {
            let state = state.clone();
            let token = shutdown.clone();
            async move {
                stream::source::run(
                    &mqtt,
                    &state.config.client_id,
                    state.feed.clone(),
                    state.broker.clone(),
                    state.clock.clone(),
                    token,
                )
                .await
            }
        };
        let app = api::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        info!(url = %format!("http://{addr}"), "Console listening.");
        let stop = shutdown.clone();
        let streams = state.stop.clone();
        let server = async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    stop.cancelled().await;
                    streams.cancel();
                })
                .await
                .map_err(Error::Serve)
        };
        let (served, fed) = tokio::join!(server, source);
        fed?;
        served?;
        info!("Console stopped.");
        Ok(())
    }
}

/// Binds and serves until `shutdown` is cancelled.
///
/// # Errors
/// See [`bind`] and [`Console::run`].
pub async fn run(args: ConsoleArgs, shutdown: CancellationToken) -> Result<()> {
    bind(args).await?.run(shutdown).await
}

//! What every Rust service of a fleetwright workspace shares, so each service's crate holds
//! only what varies (its model, store, APIs, clients and hooks): serving REST and gRPC with
//! probes and graceful shutdown ([`server`], [`http`], [`grpc`]), one error type ([`error`]),
//! how field values travel ([`codec`]), settings ([`config`]), logs and traces
//! ([`telemetry`]), Prometheus metrics ([`metrics`]), calls to other services ([`clients`]),
//! the database with its migrations and transactions (`db`, feature `database`), and events
//! with a transactional outbox and an idempotent inbox (`events`, feature `events`).
//!
//! fleetwright writes this crate into every workspace it generates (`runtime/rust`) and
//! rewrites it on upgrade: it is managed code, built and tested in fleetwright's own
//! repository like any library.

#[cfg(feature = "auth")]
pub mod auth;
pub mod clients;
pub mod codec;
pub mod config;
#[cfg(feature = "database")]
pub mod db;
pub mod error;
#[cfg(feature = "events")]
pub mod events;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::AppError;

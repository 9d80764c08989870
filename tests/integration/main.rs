//! Integration tests: one binary, one module per concern. Slow tests that build generated
//! code are `#[ignore]`d for the fast loop; `.ci/run` runs them with `--include-ignored`.

mod broker;
mod build;
mod cli;
mod diagnostics;
mod e2e;
mod everyday;
mod filesystem;
mod formatting;
mod gateway;
mod generate;
mod k8s;
mod layering;
mod lock;
mod merge;
mod old_build;
mod openapi;
mod properties;
mod regenerate;
mod rollout;
mod scale;
mod schema;
mod support;
mod upgrade;
mod validate;

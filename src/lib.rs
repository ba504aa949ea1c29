//! EscaMap: where client escalations concentrate.
//!
//! Data flows one way: [`ingest`] turns bytes into [`domain::NewEscalation`]s, [`app`] commits
//! them through [`store`] and refreshes the [`analytics`] index, [`render`] draws what the index
//! answers, and [`cli`] sits on [`app`]. See `docs/ARCHITECTURE.md`.

pub mod analytics;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod ingest;
pub mod mail;
pub mod metrics;
pub mod query;
pub mod render;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhook;

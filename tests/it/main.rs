//! The one integration test binary. Each module drives EscaMap through a real interface: the
//! `escamap` executable, or the library's public API for property tests.

mod analysis;
mod architecture;
mod browser;
mod cli;
mod cluster;
mod dashboard;
mod exports;
mod hardening;
mod helpers;
mod hostile;
mod incremental;
mod insights;
mod mail;
mod mapping;
mod metrics;
mod notify;
mod properties;
mod scale;
mod security;
mod soak;
mod views;
mod web;

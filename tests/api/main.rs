//! End-to-end tests: roomgate over real HTTP, a real database and the sandbox as EnableX (so
//! they need the `sandbox` cargo feature, on by default).
#![cfg(feature = "sandbox")]

mod access;
mod auth;
mod browser;
mod changes;
mod cli;
mod common;
mod console;
mod crash;
mod hardening;
mod lifecycle;
mod operations;
mod ops;
mod process;
mod resilience;
mod sandbox;
mod secrets;
mod story;
mod upstream;
mod validation;

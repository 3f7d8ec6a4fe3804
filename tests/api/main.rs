//! End-to-end tests: roomgate over real HTTP, a real database and the sandbox as EnableX (so
//! they need the `sandbox` cargo feature, on by default).
#![cfg(feature = "sandbox")]

mod abuse;
mod access;
mod auth;
mod browser;
mod changes;
mod circuit;
mod cli;
mod common;
mod connections;
mod console;
mod crash;
mod deadline;
mod hardening;
mod identity;
mod lifecycle;
mod operations;
mod ops;
mod process;
mod resilience;
mod review;
mod sandbox;
mod scale;
mod secrets;
mod story;
mod upstream;
mod validation;
mod writes;

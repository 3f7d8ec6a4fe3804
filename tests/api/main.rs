//! End-to-end tests: roomgate over real HTTP, a real database and the sandbox as EnableX.

mod auth;
mod changes;
mod circuit;
mod cli;
mod common;
mod crash;
mod deadline;
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

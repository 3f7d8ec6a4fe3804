//! End-to-end tests: roomgate over real HTTP, a real database and the sandbox as EnableX.

mod changes;
mod cli;
mod common;
mod sandbox;
mod story;
mod upstream;
mod validation;

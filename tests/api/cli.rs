//! The real binary: configuration errors are one line naming the variable, and the key never
//! shows.

use crate::common::TempDir;
use std::process::Command;

fn roomgate(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let dir = TempDir::new("roomgate-cli");
    let mut command = Command::new(env!("CARGO_BIN_EXE_roomgate"));
    command.args(args).current_dir(&dir);
    for var in [
        "ENABLEX_APP_ID",
        "ENABLEX_APP_KEY",
        "ENABLEX_API_URL",
        "EMBED_SUBDOMAIN",
        "EMBED_PLAN",
        "EMBED_BASE_URL",
        "DATABASE_URL",
        "ROOMGATE_LISTEN",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("run roomgate")
}

fn one_line_error(output: &std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn serve_without_credentials_names_the_missing_variable() {
    let err = one_line_error(&roomgate(&["serve"], &[]));
    assert!(err.contains("ENABLEX_APP_ID"), "{err}");
    let err = one_line_error(&roomgate(
        &["serve"],
        &[("ENABLEX_APP_ID", "64a1b2c3d4e5f60718293a4b")],
    ));
    assert!(err.contains("ENABLEX_APP_KEY"), "{err}");
    let key = "K3yThatMustNeverBePrinted0123456789abcde";
    let output = roomgate(
        &[],
        &[
            ("ENABLEX_APP_ID", "64a1b2c3d4e5f60718293a4b"),
            ("ENABLEX_APP_KEY", key),
        ],
    );
    let err = one_line_error(&output);
    assert!(err.contains("EMBED_SUBDOMAIN"), "{err}");
    assert!(!err.contains(key));
}

#[test]
fn a_bad_value_is_named() {
    let err = one_line_error(&roomgate(
        &["serve", "--sandbox"],
        &[("EMBED_PLAN", "gold")],
    ));
    assert!(err.contains("EMBED_PLAN"), "{err}");
    let err = one_line_error(&roomgate(&["--sandbox"], &[("ROOMGATE_LISTEN", "nowhere")]));
    assert!(err.contains("ROOMGATE_LISTEN"), "{err}");
    let err = one_line_error(&roomgate(&["--sandbox"], &[("DATABASE_URL", "mysql://db")]));
    assert!(err.contains("DATABASE_URL"), "{err}");
}

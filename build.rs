// The migrations are embedded by `sqlx::migrate!`, which cannot tell cargo about a file added to
// their directories: without this a new migration is left out until something else changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

// Migrations are embedded at compile time (`sqlx::migrate!`); a new or
// changed migration file must trigger a rebuild.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

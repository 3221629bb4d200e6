//! Security regression tests: tokens.

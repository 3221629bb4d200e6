//! Security regression tests: intake.

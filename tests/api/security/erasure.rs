//! Security regression tests: erasure.

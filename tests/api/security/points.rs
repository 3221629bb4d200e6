//! Security regression tests: points.

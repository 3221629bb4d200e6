//! Property tests of the earning rules (filled in below).

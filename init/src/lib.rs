//! Stage 1 (being written).

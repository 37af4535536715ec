//! Dify client (being written).

//! Dify simulator (being written).

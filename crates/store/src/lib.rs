//! nuvola-store (being written).

//! nuvola-app (being written).

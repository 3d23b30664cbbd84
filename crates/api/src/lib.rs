//! nuvola-api (being written).

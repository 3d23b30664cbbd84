//! nuvola-placement (being written).

//! nuvola-tosca (being written).

//! The pure parts of nuvola's monitoring, with no I/O: availability and
//! reliability as EGI ARGO computes them ([`argo`]), a status-page
//! component's state derived from its probes with hysteresis ([`state`]),
//! where a scheduled maintenance stands and how it is announced
//! ([`maintenance`]), the OpenMetrics text that Prometheus scrapes
//! ([`openmetrics`]), the public status page's JSON in Atlassian
//! Statuspage's shape ([`statuspage`]) and its Atom and RSS feeds
//! ([`feed`]), the times those formats write ([`timestamp`]), and which of
//! a deployment's outputs are endpoints to check ([`endpoints`]) and when
//! a certificate they present expires ([`certificate`]); the alert engine
//! that decides who is told what and when ([`alerts`]); and the provider
//! canary's choice of VM, its phases and its verdict ([`canary`]).
//! Probes, their storage and the pages that show them build on these in
//! the store, app, API and dashboard crates.

pub mod alerts;
pub mod argo;
pub mod bulletin;
pub mod canary;
pub mod certificate;
pub mod endpoints;
pub mod feed;
pub mod maintenance;
pub mod openmetrics;
pub mod state;
pub mod statuspage;
pub mod timestamp;

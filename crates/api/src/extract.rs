//! Extractors: the authenticated caller, and JSON bodies whose rejections
//! become the API's own 400 with serde's message (field, line, column).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use nuvola_types::{Error, Principal};
use serde::de::DeserializeOwned;

use crate::{ApiError, ApiState};

/// The caller, authenticated from `Authorization: Bearer ...`.
pub struct Caller(pub Principal);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        let mut caller = state.app.authenticate(token).await?;
        // The peer address, when the server runs with connection info.
        caller.client_ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        Ok(Caller(caller))
    }
}

/// The token of `Authorization: Bearer ...`, if the request has one.
pub(crate) fn bearer_token(headers: &axum::http::HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(axum::http::header::AUTHORIZATION).map(|h| h.to_str()) {
        None => Ok(None),
        Some(Ok(value)) => match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
            _ => Err(Error::Unauthenticated("Authorization must be `Bearer <token>`".into()).into()),
        },
        Some(Err(_)) => Err(Error::Unauthenticated("Authorization header is not ASCII".into()).into()),
    }
}

/// A JSON body; any problem with it is a 400 naming what is wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(Error::invalid(rejection.body_text()).into()),
        }
    }
}

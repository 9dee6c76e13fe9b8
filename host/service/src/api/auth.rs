//! Who is calling: the operator (a token given at start-up, compared in
//! constant time) or a tenant (a token whose hash is stored). A tenant's
//! token reaches only that tenant's routes.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use super::ApiState;
use super::error::ApiError;
use crate::tokens::hash_token;

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Admits the operator only.
pub fn operator(state: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    if bool::from(hash_token(token).ct_eq(&state.operator_token_hash)) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// Admits the tenant `tenant` only: 401 without a valid token, 403 with
/// another tenant's (or the operator's).
pub fn tenant(state: &ApiState, headers: &HeaderMap, tenant: &str) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or_else(ApiError::unauthorized)?;
    if bool::from(hash_token(token).ct_eq(&state.operator_token_hash)) {
        return Err(ApiError::forbidden());
    }
    match state.hosting.authenticate(token)? {
        Some(owner) if owner == tenant => Ok(()),
        Some(_) => Err(ApiError::forbidden()),
        None => Err(ApiError::unauthorized()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bearer_tokens_count() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}

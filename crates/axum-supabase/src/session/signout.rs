//! `POST /api/auth/signout`: GoTrue's logout, then the session cookies cleared.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::{KEEP_UNAVAILABLE, SessionAccess, SessionCookies, codec, csrf, finish, unavailable_fault};
use crate::Fault;
use crate::bearer::bearer_token;
use crate::user::AuthContext;

impl SessionCookies {
    /// `POST` handler that signs out: GoTrue's `POST /auth/v1/logout` with the
    /// caller's access token (`?scope=global` or `others` widen it; `local` is
    /// the default), then 204 with the session cookies cleared. 503 with
    /// `Retry-After` if GoTrue cannot be reached, the cookies kept. Mount it
    /// under [`layer`](Self::layer), which authenticates and applies the CSRF rule.
    pub fn sign_out_route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let sessions = self.clone();
        axum::routing::post(move |request: Request| {
            let sessions = sessions.clone();
            async move { sessions.sign_out(request).await }
        })
    }

    /// The sign-out itself, for an application that mounts its own handler
    /// (to document it, say): what [`sign_out_route`](Self::sign_out_route) calls.
    pub async fn sign_out(&self, request: Request) -> Response {
        let auth = &self.inner.auth;
        let Some(context) = request.extensions().get::<AuthContext>() else {
            return auth.reject(Fault::MissingLayer.into());
        };
        if context.user.is_none() {
            return auth.reject(Fault::Missing.into());
        }
        let scope = match request.uri().query().unwrap_or("") {
            "" | "scope=local" => "local",
            "scope=global" => "global",
            "scope=others" => "others",
            _ => {
                let body = crate::ErrorBody::new("invalid_request", "scope must be local, global or others");
                return (StatusCode::BAD_REQUEST, body).into_response();
            }
        };
        let jar = codec::read(request.headers(), &self.inner.name);
        // The token the layer authenticated with: a refreshed one, the header's, or the cookie's.
        let token: Option<String> = match request.extensions().get::<SessionAccess>() {
            Some(SessionAccess(token)) => Some(token.to_string()),
            None => match bearer_token(request.headers(), auth.max_token_len()) {
                Ok(Some(token)) => Some(token.to_owned()),
                _ => jar.session.as_ref().map(|s| s.access_token.clone()),
            },
        };
        let Some(token) = token else {
            return auth.reject(Fault::Missing.into());
        };
        if self.inner.refresher.logout(&token, scope).await.is_err() {
            return auth.reject(unavailable_fault(KEEP_UNAVAILABLE));
        }
        let options = self.options(csrf::is_https(&request));
        let mut response = StatusCode::NO_CONTENT.into_response();
        finish(&mut response, codec::clear(&self.inner.name, &jar.names, options));
        response
    }
}

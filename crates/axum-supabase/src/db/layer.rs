//! [`DatabaseLayer`]: puts the [`Database`] in every request's extensions,
//! where [`Rls`](super::Rls) and [`RequireActiveSession`](super::RequireActiveSession)
//! find it.

use std::task::{Context, Poll};

use axum::extract::Request;
use tower::{Layer, Service};

use super::Database;

/// Made by [`Database::layer`].
#[derive(Debug, Clone)]
pub struct DatabaseLayer {
    db: Database,
}

impl DatabaseLayer {
    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }
}

impl<S> Layer<S> for DatabaseLayer {
    type Service = DatabaseService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DatabaseService {
            inner,
            db: self.db.clone(),
        }
    }
}

/// The service made by [`DatabaseLayer`].
#[derive(Debug, Clone)]
pub struct DatabaseService<S> {
    inner: S,
    db: Database,
}

impl<S: Service<Request>> Service<Request> for DatabaseService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        request.extensions_mut().insert(self.db.clone());
        self.inner.call(request)
    }
}

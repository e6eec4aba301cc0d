//! The API's routes as one list: every resource adds its routes here, one
//! method at a time, so the router and the list of what it serves come
//! from the same call. The OpenAPI document is checked against this list
//! (`api::routes`), so a route cannot be served without being described.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::request::MAX_BULK_BODY;
use super::state::ApiState;

/// A router being built, and the (method, path) pairs it serves.
pub(super) struct Routes {
    router: Router<ApiState>,
    served: Vec<(&'static str, &'static str)>,
}

impl Routes {
    pub(super) fn new() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<ApiState>,
    ) -> Self {
        self.served.push((method, path));
        // A path given again gets the new method next to its others.
        self.router = self.router.route(path, route);
        self
    }

    pub(super) fn get<H: Handler<T, ApiState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("get", path, on(MethodFilter::GET, h))
    }

    pub(super) fn post<H: Handler<T, ApiState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.add("post", path, on(MethodFilter::POST, h))
    }

    /// A `POST` taking a bulk body, up to [`MAX_BULK_BODY`].
    pub(super) fn post_bulk<H: Handler<T, ApiState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        let route = on(MethodFilter::POST, h).layer(DefaultBodyLimit::max(MAX_BULK_BODY));
        self.add("post", path, route)
    }

    pub(super) fn put<H: Handler<T, ApiState>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("put", path, on(MethodFilter::PUT, h))
    }

    pub(super) fn patch<H: Handler<T, ApiState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.add("patch", path, on(MethodFilter::PATCH, h))
    }

    pub(super) fn delete<H: Handler<T, ApiState>, T: 'static>(
        self,
        path: &'static str,
        h: H,
    ) -> Self {
        self.add("delete", path, on(MethodFilter::DELETE, h))
    }

    /// Both sets of routes; no path may be in both.
    pub(super) fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    pub(super) fn into_parts(self) -> (Router<ApiState>, Vec<(&'static str, &'static str)>) {
        (self.router, self.served)
    }
}

//! Role guards and the fail-closed behaviour of extractors without the layer.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum_supabase::{AuthUser, RequireRole, Role, RoleRequirement};
use tower::ServiceExt;

use crate::helpers::{TestApp, TestResponse};

#[tokio::test]
async fn admin_route_refuses_other_roles_with_403() {
    let app = TestApp::new();
    for role in ["authenticated", "service_role", "editor"] {
        let token = app.sign(app.token().role(role));
        app.get_bearer("/api/admin", &token).await.assert_bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the admin role is required",
        );
    }
}

#[tokio::test]
async fn admin_route_admits_admins() {
    let app = TestApp::new();
    let response = app
        .get_bearer("/api/admin", &app.sign(app.token().role("admin")))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.json()["ok"], true);
}

#[tokio::test]
async fn admin_route_without_token_is_401_not_403() {
    TestApp::new()
        .get("/api/admin")
        .await
        .assert_no_credentials("missing bearer token");
}

struct NotAnon;
impl RoleRequirement for NotAnon {
    const DESCRIPTION: &'static str = "sign in first";
    fn allows(role: &Role) -> bool {
        *role != Role::Anon
    }
}

#[test]
fn guards_are_plain_rules() {
    assert!(NotAnon::allows(&Role::Authenticated));
    assert!(!NotAnon::allows(&Role::Anon));
}

#[tokio::test]
async fn extractors_without_the_layer_fail_closed_with_500() {
    async fn needs_user(user: AuthUser) -> String {
        user.sub().to_string()
    }
    async fn maybe_user(user: Option<AuthUser>) -> String {
        format!("{}", user.is_some())
    }
    async fn guarded(_: RequireRole<NotAnon>) -> &'static str {
        "ok"
    }
    let app = TestApp::new();
    let token = app.valid_token();
    // Forgot AuthLayer: every request must fail, even with a valid token.
    let router = Router::new()
        .route("/user", get(needs_user))
        .route("/maybe", get(maybe_user))
        .route("/guarded", get(guarded));
    for path in ["/user", "/maybe", "/guarded"] {
        for auth in [None, Some(format!("Bearer {token}"))] {
            let mut request = Request::get(path);
            if let Some(a) = &auth {
                request = request.header("authorization", a);
            }
            let response = router
                .clone()
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let response = TestResponse::from(response).await;
            response.assert_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal server error",
            );
            assert!(response.header("www-authenticate").is_none());
        }
    }
}

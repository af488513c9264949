//! What a browser's cookie jar holds after our answers, `Set-Cookie` applied
//! in order: exactly the new session after a refresh, and no session at all
//! after a sign-out, whatever the refresh on the way did to the cookie's size.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::cookie_support::*;

/// The expired sessions a sign-out or a refresh may start from.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// One cookie, refreshed into one.
    Single,
    /// Chunks (large metadata), refreshed into chunks.
    Chunked,
    /// Chunks, refreshed into one cookie.
    Shrinks,
    /// One cookie, refreshed into chunks (the user's metadata grew meanwhile).
    Grows,
}

const STARTS: [Start; 4] = [Start::Single, Start::Chunked, Start::Shrinks, Start::Grows];

/// An app whose GoTrue issues expired sessions, and the cookie of one, set up as `start` says.
async fn expired(start: Start) -> (CookieApp, Value, Jar) {
    let t = cookie_app().await;
    t.gotrue.set(|k| k.sign_in_expires_in = -120);
    let big = json!({ "bio": "b".repeat(6000) });
    let mut session = match start {
        Start::Chunked => t.gotrue.sign_in("ada@example.com", big.clone()),
        _ => t.sign_in("ada@example.com"),
    };
    match start {
        Start::Shrinks => session["padding"] = json!("p".repeat(6000)),
        Start::Grows => t.gotrue.update_metadata("ada@example.com", big),
        Start::Single | Start::Chunked => {}
    }
    let jar = Jar::from_header(&cookie_header(&session));
    let chunked = jar.session_names().len() > 1;
    assert_eq!(
        chunked,
        matches!(start, Start::Chunked | Start::Shrinks),
        "{start:?}"
    );
    (t, session, jar)
}

#[tokio::test]
async fn a_refresh_leaves_exactly_the_new_session_in_the_jar() {
    for start in STARTS {
        let (t, old, mut jar) = expired(start).await;
        let response = t.get("/api/me", &jar.header()).await;
        assert_eq!(response.status, StatusCode::OK, "{start:?}: {}", response.text());
        jar.apply(&response);
        let new = jar
            .session()
            .unwrap_or_else(|| panic!("{start:?}: no session in {jar:?}"));
        assert_ne!(new["refresh_token"], old["refresh_token"], "{start:?}");
        assert_eq!(
            Some(new),
            session_from(&set_cookies(&response.headers)),
            "{start:?}"
        );
        let names = jar.session_names();
        let chunked = matches!(start, Start::Chunked | Start::Grows);
        if chunked {
            assert!(names.len() > 1 && !names.contains(&NAME), "{start:?}: {names:?}");
        } else {
            assert_eq!(names, [NAME], "{start:?}");
        }
        // And the jar is what the next request sends: the user, no further refresh.
        let again = t.get("/api/me", &jar.header()).await;
        assert_eq!(again.status, StatusCode::OK, "{start:?}");
        assert_eq!(t.gotrue.refresh_calls(), 1, "{start:?}");
    }
}

/// The layer refreshes the expired cookie before the sign-out handler runs;
/// the handler's deletions must be the last word, and GoTrue's logout must
/// get the refreshed token (it refuses an expired one), so that the session
/// really ends there.
#[tokio::test]
async fn a_sign_out_leaves_no_session_cookie_and_ends_the_session_at_gotrue() {
    for start in STARTS {
        let (t, old, mut jar) = expired(start).await;
        let response = t
            .post("/api/auth/signout", &jar.header(), &[("origin", ALLOWED)])
            .await;
        assert_eq!(
            response.status,
            StatusCode::NO_CONTENT,
            "{start:?}: {}",
            response.text()
        );
        jar.apply(&response);
        assert!(jar.session_names().is_empty(), "{start:?}: the jar keeps {jar:?}");
        assert_eq!(t.gotrue.refresh_calls(), 1, "{start:?}");
        assert!(
            !t.gotrue.is_active(old["refresh_token"].as_str().unwrap()),
            "{start:?}: the session lives on at GoTrue"
        );
        // The cleared jar is signed out here too.
        let after = t.get("/api/me", &jar.header()).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED, "{start:?}");
    }
}

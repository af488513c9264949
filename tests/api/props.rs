//! Property tests: whatever one Authorization header holds, the answer is a
//! well-formed 401 (never a 400, a panic or a 5xx), any single-byte change to a valid token is
//! refused, and claims of random types are judged exactly by the typed rules.

use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::helpers::{ISSUER, TestApp, TestResponse};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn send(rt: &Runtime, app: &TestApp, authorization: HeaderValue) -> TestResponse {
    let request = Request::get("/api/me")
        .header(header::AUTHORIZATION, authorization)
        .body(Body::empty())
        .unwrap();
    rt.block_on(app.request(request))
}

/// A rejection in the RFC 6750 shape: 401, JSON body, a Bearer challenge. A
/// 400 is only for two Authorization headers, and these requests carry one.
fn assert_clean_rejection(response: &TestResponse) -> Result<(), TestCaseError> {
    let status = response.status.as_u16();
    prop_assert!(status == 401, "status {status}: {}", response.text());
    prop_assert_eq!(response.header("content-type"), Some("application/json"));
    let body: Value =
        serde_json::from_slice(&response.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(
        body["error"].is_string() && body["error_description"].is_string(),
        "{}",
        body
    );
    let challenge = response.header("www-authenticate").unwrap_or("");
    prop_assert!(challenge.starts_with("Bearer realm=\"api\""), "{challenge}");
    Ok(())
}

#[test]
fn any_authorization_value_gets_a_clean_401() {
    let (rt, app) = (runtime(), TestApp::new());
    let values = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        "[ -~]{0,400}".prop_map(String::into_bytes),
        "(?i)bearer[ \t]{0,3}[ -~]{0,400}".prop_map(String::into_bytes),
    ];
    runner(768)
        .run(&values, |bytes| {
            // Bytes no HTTP header can carry never reach the server.
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                return Ok(());
            };
            assert_clean_rejection(&send(&rt, &app, value))
        })
        .unwrap();
}

#[test]
fn tokens_of_arbitrary_or_mutated_segments_get_a_clean_401() {
    let (rt, app) = (runtime(), TestApp::new());
    let valid = app.valid_token();
    let parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let segment = prop_oneof![
        "[A-Za-z0-9_-]{0,200}",
        Just(parts[0].clone()),
        Just(parts[1].clone()),
        Just(parts[2].clone()),
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(|b| crate::keys::b64(&b)),
        "\\{[ -~]{0,80}\\}".prop_map(|j| crate::keys::b64(j.as_bytes())),
    ];
    runner(768)
        .run(&proptest::collection::vec(segment, 1..5), |segments| {
            let token = segments.join(".");
            prop_assume!(token != valid && !token.is_empty());
            let value = HeaderValue::try_from(format!("Bearer {token}")).unwrap();
            let response = send(&rt, &app, value);
            assert_clean_rejection(&response)?;
            prop_assert_eq!(response.status.as_u16(), 401);
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_valid_token_with_any_single_byte_changed_is_rejected() {
    let (rt, app) = (runtime(), TestApp::new());
    let valid = app.valid_token();
    assert_eq!(
        send(
            &rt,
            &app,
            HeaderValue::try_from(format!("Bearer {valid}")).unwrap()
        )
        .status,
        200
    );
    let len = valid.len();
    runner(1024)
        .run(&(0..len, 0x21u8..0x7f), |(index, byte)| {
            let mut bytes = valid.clone().into_bytes();
            prop_assume!(bytes[index] != byte);
            bytes[index] = byte;
            let value = HeaderValue::from_bytes(&[b"Bearer ", &bytes[..]].concat()).unwrap();
            assert_clean_rejection(&send(&rt, &app, value))
        })
        .unwrap();
}

/// Each claim as valid, of a wrong JSON type, absent, or null.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Valid,
    WrongType(usize),
    Absent,
    Null,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        7 => Just(Shape::Valid),
        1 => (0usize..4).prop_map(Shape::WrongType),
        1 => Just(Shape::Absent),
        1 => Just(Shape::Null),
    ]
}

/// (claim, required, a valid value, values of wrong types)
fn claims() -> Vec<(&'static str, bool, Value, [Value; 4])> {
    let now = axum_supabase::testing::Token::user().claims()["iat"]
        .as_i64()
        .unwrap();
    vec![
        (
            "exp",
            true,
            json!(now + 3600),
            [json!("soon"), json!(true), json!([]), json!({})],
        ),
        (
            "sub",
            true,
            json!(uuid::Uuid::new_v4().to_string()),
            [json!(5), json!(true), json!([]), json!({})],
        ),
        (
            "aud",
            true,
            json!(["x", "authenticated"]),
            [json!(5), json!(true), json!({}), json!([5])],
        ),
        (
            "iss",
            true,
            json!(ISSUER),
            [json!(5), json!([ISSUER]), json!({}), json!(false)],
        ),
        (
            "role",
            true,
            json!("authenticated"),
            [json!(5), json!(true), json!([]), json!({})],
        ),
        (
            "email",
            false,
            json!("a@example.com"),
            [json!(5), json!(true), json!([]), json!({})],
        ),
        (
            "phone",
            false,
            json!("+15550100"),
            [json!(5), json!(true), json!([]), json!({})],
        ),
        (
            "iat",
            false,
            json!(now - 10),
            [json!("x"), json!(true), json!([]), json!({})],
        ),
        (
            "nbf",
            false,
            json!(now - 10),
            [json!("x"), json!(true), json!([]), json!({})],
        ),
        (
            "is_anonymous",
            false,
            json!(false),
            [json!("false"), json!(0), json!([]), json!({})],
        ),
        (
            "aal",
            false,
            json!("aal2"),
            [json!(1), json!(true), json!([]), json!({})],
        ),
        (
            "amr",
            false,
            json!([{"method": "otp", "timestamp": now}, "pwd"]),
            [json!("otp"), json!(5), json!({}), json!([5])],
        ),
        (
            "session_id",
            false,
            json!("s-1"),
            [json!(5), json!(true), json!([]), json!({})],
        ),
        (
            "app_metadata",
            false,
            json!({"provider": "email"}),
            [json!([]), json!("x"), json!(5), json!(true)],
        ),
        (
            "user_metadata",
            false,
            json!({}),
            [json!([]), json!("x"), json!(5), json!(true)],
        ),
    ]
}

#[test]
fn claims_of_random_types_are_judged_exactly_by_the_typed_rules() {
    let (rt, app) = (runtime(), TestApp::new());
    let table = claims();
    let (accepted, rejected) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner(768)
        .run(&proptest::collection::vec(shape(), table.len()), |shapes| {
            let mut token = app.token();
            let mut expect_ok = true;
            for ((name, required, valid, wrong), shape) in table.iter().zip(&shapes) {
                token = match shape {
                    Shape::Valid => token.claim(name, valid.clone()),
                    Shape::WrongType(i) => {
                        expect_ok = false;
                        token.claim(name, wrong[*i].clone())
                    }
                    Shape::Absent => {
                        expect_ok &= !required;
                        token.without(name)
                    }
                    Shape::Null => {
                        expect_ok &= !required;
                        token.claim(name, Value::Null)
                    }
                };
            }
            let value = HeaderValue::try_from(format!("Bearer {}", app.sign(token))).unwrap();
            let response = send(&rt, &app, value);
            if expect_ok {
                prop_assert_eq!(response.status.as_u16(), 200, "{:?}: {}", shapes, response.text());
                accepted.set(accepted.get() + 1);
            } else {
                assert_clean_rejection(&response)?;
                prop_assert_eq!(response.status.as_u16(), 401);
                rejected.set(rejected.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let (accepted, rejected) = (accepted.get(), rejected.get());
    assert!(
        accepted > 10 && rejected > 100,
        "accepted {accepted}, rejected {rejected}"
    );
}

/// Random `apikey` values (random bytes, `sb_secret_` plus noise, a real
/// key with one byte changed, cut or lengthened), with or without a random
/// Authorization header, on a service route and on `/api/me`: never a 5xx,
/// and a 200 only for a configured key with no (or a blank) Authorization header.
#[test]
fn any_apikey_value_gets_no_5xx_and_only_a_configured_key_gets_in() {
    let rt = runtime();
    let keys = [crate::service::make_key(), crate::service::make_key()];
    let app = TestApp::with_config(|c| {
        c.auth
            .secret_keys([("default", keys[0].clone()), ("cron", keys[1].clone())]);
    });
    let key = keys[0].clone();
    let mutated = (0..key.len(), any::<u8>(), 0u8..3).prop_map(move |(i, b, how)| {
        let mut k = key.clone().into_bytes();
        match how {
            0 => k[i] = b,
            1 => k.truncate(i),
            _ => k.push(b),
        }
        k
    });
    let apikeys = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        "sb_secret_[ -~]{0,60}".prop_map(String::into_bytes),
        "sb_publishable_[A-Za-z0-9_-]{0,40}".prop_map(String::into_bytes),
        mutated,
        Just(keys[0].clone().into_bytes()),
        Just(keys[1].clone().into_bytes()),
    ];
    let authorization = proptest::option::of(prop_oneof![
        "[ -~]{0,80}".prop_map(String::into_bytes),
        "Bearer [A-Za-z0-9._-]{0,80}".prop_map(String::into_bytes),
    ]);
    runner(512)
        .run(&(apikeys, authorization), |(apikey, authorization)| {
            let Ok(apikey) = HeaderValue::from_bytes(&apikey) else {
                return Ok(());
            };
            let authorization = match authorization.map(|a| HeaderValue::from_bytes(&a)) {
                Some(Err(_)) => return Ok(()),
                Some(Ok(v)) => Some(v),
                None => None,
            };
            for path in ["/api/service/whoami", "/api/me"] {
                let mut request = Request::get(path).header("apikey", apikey.clone());
                if let Some(a) = &authorization {
                    request = request.header(header::AUTHORIZATION, a.clone());
                }
                let response = rt.block_on(app.request(request.body(Body::empty()).unwrap()));
                let status = response.status.as_u16();
                prop_assert!(status < 500, "{path}: {status} {}", response.text());
                let configured = keys.iter().any(|k| k.as_bytes() == apikey.as_bytes());
                // A blank Authorization header is no header (the layer's rule).
                let no_authorization = authorization
                    .as_ref()
                    .is_none_or(|a| a.as_bytes().iter().all(|b| *b == b' ' || *b == b'\t'));
                let expected_in = path == "/api/service/whoami" && configured && no_authorization;
                prop_assert_eq!(
                    status == 200,
                    expected_in,
                    "{}: {} {}",
                    path,
                    status,
                    response.text()
                );
            }
            Ok(())
        })
        .unwrap();
}

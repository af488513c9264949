//! What the JWKS fetch and the GoTrue calls share: an answer's body, read within a bound.

/// Why a body could not be read.
pub(crate) enum BodyError {
    /// The connection failed while reading.
    Http(
        #[cfg_attr(
            not(feature = "jwks"),
            expect(dead_code, reason = "only the JWKS fetch reports why")
        )]
        reqwest::Error,
    ),
    /// The body is longer than the bound.
    TooLarge,
}

/// The whole body of `response`, refused once it is longer than `max` bytes,
/// whatever its `Content-Length` claims: a hostile server cannot exhaust memory.
pub(crate) async fn read_body(response: &mut reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Http)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

//! Directory markers: the zero-byte objects `dir/` that MKD writes and RMD
//! removes.
//!
//! Why requests of our own: object_store names objects by its `Path`,
//! which has no trailing slash, so it can neither write nor delete the key
//! `dir/` that the S3 consoles, rclone and s3fs use for an empty directory.
//! These two requests (PUT and DELETE of an empty body) are signed with
//! object_store's own SigV4 [`AwsAuthorizer`] and sent with its HTTP
//! client, so they share its TLS and proxy settings; everything else goes
//! through object_store.

use http::{Method, Request};
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::client::{HttpClient, HttpConnector, HttpRequestBody, ReqwestConnector};
use object_store::ClientOptions;

/// Writes and removes `dir/` markers in one bucket.
#[derive(Debug)]
pub struct Markers {
    client: HttpClient,
    /// `ENDPOINT/BUCKET`, path-style, without a trailing slash.
    base: String,
    region: String,
    credential: AwsCredential,
}

impl Markers {
    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        credential: AwsCredential,
        options: &ClientOptions,
    ) -> object_store::Result<Markers> {
        Ok(Markers {
            client: ReqwestConnector::default().connect(options)?,
            base: format!("{}/{}", endpoint.trim_end_matches('/'), encode(bucket)),
            region: region.to_string(),
            credential,
        })
    }

    /// Writes the empty object `key` (which ends in `/`).
    pub async fn put(&self, key: &str) -> Result<(), String> {
        self.send(Method::PUT, key).await
    }

    /// Removes the object `key`; S3 answers success for a missing one.
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.send(Method::DELETE, key).await
    }

    async fn send(&self, method: Method, key: &str) -> Result<(), String> {
        let url = format!("{}/{}", self.base, encode(key));
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(http::header::CONTENT_LENGTH, "0")
            .body(HttpRequestBody::empty())
            .map_err(|e| format!("building the {method} request for {url}: {e}"))?;
        AwsAuthorizer::new(&self.credential, "s3", &self.region)
            .try_authorize(&mut request, None)
            .map_err(|e| format!("signing the {method} request for {url}: {e}"))?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.into_body().bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        Err(format!(
            "{method} {url}: {status}: {}",
            body.chars().take(300).collect::<String>()
        ))
    }
}

/// Percent-encodes `key` for a URL path as SigV4 canonicalizes it: the
/// unreserved characters and `/` as they are, every other byte `%XX`.
pub fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn keys_are_encoded_once_with_slashes_kept() {
        assert_eq!(encode("a/b c/"), "a/b%20c/");
        assert_eq!(encode("50%+é"), "50%25%2B%C3%A9");
        assert_eq!(encode("x-y_z.~"), "x-y_z.~");
    }
}

//! An S3 bucket (AWS, or any S3-compatible engine) as a [`Storage`]:
//! `serv --storage s3://BUCKET[/PREFIX]`.
//!
//! Objects under `PREFIX` are the served tree (see [`keys`] for the
//! mapping): directories are key prefixes, with or without a zero-byte
//! `dir/` marker; MKD writes one, RMD removes it when nothing else is under
//! the prefix, and a prefix with objects but no marker is a directory all
//! the same. Listings are ListObjectsV2 pages ([`list`]), RETR a streamed
//! GET (ranged after REST: [`read`]), STOR a bounded multipart upload
//! completed at commit ([`upload`]), SIZE and MDTM a HEAD. RNFR/RNTO of a
//! file is a server-side copy and a delete (not atomic: a reader may see
//! both names for a moment); a directory is not renamed (550 with the
//! reason): on an object store that means copying every object under it,
//! one by one.
//!
//! Several servers may share one bucket: nothing here is kept between
//! requests but this process's own multipart uploads, which
//! [`Storage::abort_active_uploads`] aborts at shutdown; uploads another
//! server started are never touched ([`Storage::remove_stale_uploads`]
//! removes nothing; the bucket's lifecycle rule expires what a killed
//! server left).
//!
//! The seam is synchronous and object_store is async: every call goes
//! through one shared runtime ([`runtime`]).
//!
//! What this does not do: MFMT (objects keep the time they were written),
//! atomic renames, symbolic links, or keys the seam cannot name (with an
//! empty segment such as `a//b`, or a segment `.` or `..`): a listing page
//! holding one fails with an error naming the directory.

mod keys;
mod list;
mod marker;
mod read;
pub mod runtime;
mod upload;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use object_store::path::Path;
use object_store::{ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use tokio::runtime::Handle;

use super::{
    Entries, Features, Keep, Metadata, ReadFile, Storage, StorageError, Upload, VirtualPath,
};
use keys::{fail, Keys};
use list::{dir_meta, file_meta, Listing};
use marker::Markers;
use read::ObjectReader;
use runtime::run;
use upload::{Claim, Destination, Kept, ObjectUpload};

/// This process's multipart uploads in progress, by upload number: the
/// object and the upload id, so that shutdown can abort them.
type Registry = Arc<Mutex<HashMap<u64, (Path, String)>>>;

const ROOT_FIXED: &str = "the root directory cannot be replaced";

/// Why RNFR/RNTO of a directory is refused on objects.
const DIRECTORY_RENAME: &str = "directories cannot be renamed on this object store \
     (it would copy every object under it, one by one, and not atomically); \
     create the new directory and move the files";

/// Longest a single request (HEAD, a listing page, an 8 MiB part, a copy)
/// may take, retries included: an 8 MiB part at 30 KB/s still fits, and a
/// store that hangs frees the session that waits on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest a connection to the store may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the bucket is and how to sign requests to it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix of the served tree (empty: the whole bucket).
    pub prefix: String,
    /// `http://host:port` of an S3-compatible engine; `None`: AWS.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret or the token.
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Why `--storage s3://` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{0:?} is not s3://BUCKET[/PREFIX]")]
    BadUrl(String),
    #[error("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials,
    #[error("cannot use bucket {bucket:?} at {endpoint}: {cause}")]
    Access {
        bucket: String,
        endpoint: String,
        cause: String,
    },
}

impl S3Config {
    /// `s3://BUCKET[/PREFIX]` with the endpoint given, and credentials and
    /// region from `env` (the standard `AWS_*` names; nothing else is
    /// read: `AWS_CA_BUNDLE`, profiles and instance roles are not used).
    pub fn from_url(
        url: &str,
        endpoint: Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, S3Error> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| S3Error::BadUrl(url.to_string()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(S3Error::BadUrl(url.to_string()));
        }
        let nonempty = |name: &str| env(name).filter(|v| !v.is_empty());
        let (Some(access_key_id), Some(secret_access_key)) = (
            nonempty("AWS_ACCESS_KEY_ID"),
            nonempty("AWS_SECRET_ACCESS_KEY"),
        ) else {
            return Err(S3Error::NoCredentials);
        };
        Ok(S3Config {
            bucket: bucket.to_string(),
            prefix: Keys::new(prefix).prefix().to_string(),
            endpoint: endpoint.or_else(|| nonempty("AWS_ENDPOINT_URL")),
            region: nonempty("AWS_REGION").unwrap_or_else(|| "us-east-1".to_string()),
            access_key_id,
            secret_access_key,
            session_token: nonempty("AWS_SESSION_TOKEN"),
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint_url(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

/// The served tree in a bucket.
#[derive(Clone)]
pub struct S3Storage {
    /// Requests with an answer of bounded size, under [`REQUEST_TIMEOUT`].
    store: Arc<AmazonS3>,
    /// GETs whose bodies are streamed as fast as an FTP client reads them,
    /// which may take hours: no overall timeout (connecting has one).
    streams: Arc<AmazonS3>,
    markers: Arc<Markers>,
    handle: Handle,
    keys: Keys,
    active: Registry,
    /// For messages: `s3://bucket/prefix at endpoint`.
    name: Arc<str>,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("at", &self.name)
            .finish_non_exhaustive()
    }
}

impl S3Storage {
    /// Connects to the bucket and proves access with one listing request:
    /// a missing bucket, a wrong endpoint or bad credentials fail here.
    pub fn connect(config: &S3Config) -> Result<S3Storage, S3Error> {
        let endpoint = config.endpoint_url();
        let access = |cause: String| S3Error::Access {
            bucket: config.bucket.clone(),
            endpoint: endpoint.clone(),
            cause,
        };
        let options = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        // Built field by field, never from the environment: this machine's
        // kind of environment (AWS_CA_BUNDLE, AWS_PROFILE...) must not
        // change where or how requests go.
        let build = |options: &ClientOptions| {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&config.bucket)
                .with_region(&config.region)
                .with_endpoint(&endpoint)
                .with_virtual_hosted_style_request(false)
                .with_access_key_id(&config.access_key_id)
                .with_secret_access_key(&config.secret_access_key)
                .with_client_options(options.clone());
            if let Some(token) = &config.session_token {
                builder = builder.with_token(token);
            }
            builder.build().map_err(|e| access(e.to_string()))
        };
        let store = build(&options)?;
        let streams = build(&options.clone().with_timeout_disabled())?;
        let credential = AwsCredential {
            key_id: config.access_key_id.clone(),
            secret_key: config.secret_access_key.clone(),
            token: config.session_token.clone(),
        };
        let markers = Markers::new(
            &endpoint,
            &config.bucket,
            &config.region,
            credential,
            &options,
        )
        .map_err(|e| access(e.to_string()))?;
        let handle = runtime::handle().map_err(|e| access(format!("starting the runtime: {e}")))?;
        let storage = S3Storage {
            store: Arc::new(store),
            streams: Arc::new(streams),
            markers: Arc::new(markers),
            handle,
            keys: Keys::new(&config.prefix),
            active: Registry::default(),
            name: format!(
                "s3://{}/{} at {endpoint}",
                config.bucket,
                config.prefix.trim_end_matches('/')
            )
            .into(),
        };
        list::page(
            &storage.store,
            &storage.handle,
            storage.keys.prefix(),
            None,
            1,
        )
        .map_err(|e| access(describe(&e)))?;
        Ok(storage)
    }

    /// What `serv` says it serves.
    pub fn describe(&self) -> &str {
        &self.name
    }

    fn head(&self, v: &VirtualPath) -> Result<Option<object_store::ObjectMeta>, StorageError> {
        let location = self.keys.file(v)?;
        let store = Arc::clone(&self.store);
        match run(&self.handle, async move { store.head(&location).await }) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(fail(v, e)),
        }
    }

    /// The directory `v`'s metadata if anything is under its prefix (its
    /// marker included).
    fn dir_stat(&self, v: &VirtualPath) -> Result<Option<Metadata>, StorageError> {
        if v.is_root() {
            return Ok(Some(dir_meta(SystemTime::UNIX_EPOCH)));
        }
        let prefix = self.keys.dir_prefix(v);
        let page =
            list::page(&self.store, &self.handle, &prefix, None, 1).map_err(|e| fail(v, e))?;
        let marker = self.keys.dir(v)?;
        let modified = page
            .result
            .objects
            .iter()
            .find(|o| o.location == marker)
            .map(|o| SystemTime::from(o.last_modified))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let found = !page.result.objects.is_empty() || !page.result.common_prefixes.is_empty();
        Ok(found.then(|| dir_meta(modified)))
    }

    /// `v` must be an existing directory.
    fn require_dir(&self, v: &VirtualPath) -> Result<(), StorageError> {
        if self.dir_stat(v)?.is_some() {
            return Ok(());
        }
        match self.head(v)? {
            Some(_) => Err(StorageError::NotADirectory(v.clone())),
            None => Err(StorageError::NotFound(v.clone())),
        }
    }
}

/// A start-up failure in words: object_store's errors nest their cause.
fn describe(e: &object_store::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

impl Storage for S3Storage {
    fn features(&self) -> Features {
        Features {
            read_at_offset: true,
            resume_upload: true,
            set_modified: false,
        }
    }

    fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        if !path.is_root() {
            if let Some(meta) = self.head(path)? {
                return Ok(file_meta(&meta));
            }
        }
        self.dir_stat(path)?
            .ok_or_else(|| StorageError::NotFound(path.clone()))
    }

    fn lstat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.stat(path)
    }

    fn list(&self, path: &VirtualPath) -> Result<Entries, StorageError> {
        let prefix = self.keys.dir_prefix(path);
        let first = list::page(&self.store, &self.handle, &prefix, None, list::PAGE_KEYS)
            .map_err(|e| fail(path, e))?;
        let empty = first.result.objects.is_empty() && first.result.common_prefixes.is_empty();
        if empty && !path.is_root() {
            return Err(match self.head(path)? {
                Some(_) => StorageError::NotADirectory(path.clone()),
                None => StorageError::NotFound(path.clone()),
            });
        }
        let mut listing = Listing {
            store: Arc::clone(&self.store),
            handle: self.handle.clone(),
            prefix,
            marker: self.keys.dir(path)?,
            path: path.clone(),
            entries: Vec::new().into_iter(),
            token: None,
            done: false,
        };
        listing.absorb(first);
        Ok(Box::new(listing))
    }

    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<Box<dyn ReadFile>, StorageError> {
        let location = self.keys.file(path)?;
        let not_a_file = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => match self.dir_stat(path) {
                Ok(Some(_)) => StorageError::IsADirectory(path.clone()),
                Ok(None) => StorageError::NotFound(path.clone()),
                Err(e) => e,
            },
            e => fail(path, e),
        };
        let reader = |result: Option<object_store::GetResult>, size| ObjectReader {
            body: result.map(|r| runtime::pump(&self.handle, r.into_stream())),
            chunk: Default::default(),
            size,
            path: path.clone(),
        };
        let at = location.clone();
        if offset == 0 {
            let store = Arc::clone(&self.streams);
            let result =
                run(&self.handle, async move { store.get(&at).await }).map_err(not_a_file)?;
            let size = result.meta.size;
            return Ok(Box::new(reader(Some(result), size)));
        }
        // A ranged GET past the end is an error (416), so the size comes
        // first; the GET is then pinned to the object HEAD saw.
        let store = Arc::clone(&self.store);
        let meta = run(&self.handle, async move { store.head(&at).await }).map_err(not_a_file)?;
        let size = meta.size;
        if offset > size {
            return Err(StorageError::BadOffset {
                path: path.clone(),
                offset,
                size,
            });
        }
        if offset == size {
            return Ok(Box::new(reader(None, size)));
        }
        let options = GetOptions {
            if_match: meta.e_tag.clone(),
            range: Some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let store = Arc::clone(&self.streams);
        let result = run(&self.handle, async move {
            store.get_opts(&location, options).await
        })
        .map_err(not_a_file)?;
        Ok(Box::new(reader(Some(result), size)))
    }

    fn begin_upload(
        &self,
        path: &VirtualPath,
        keep: Keep,
        no_clobber: bool,
    ) -> Result<Box<dyn Upload>, StorageError> {
        if path.is_root() {
            return Err(StorageError::InvalidName(ROOT_FIXED));
        }
        let location = self.keys.file(path)?;
        self.require_dir(&path.parent())?;
        if self.dir_stat(path)?.is_some() {
            return Err(StorageError::IsADirectory(path.clone()));
        }
        let kept = match keep {
            Keep::Nothing => None,
            Keep::First(_) | Keep::All => {
                let claim = Claim::take(&self.keys.file_key(path))
                    .ok_or_else(|| StorageError::Busy(path.clone()))?;
                let old = self.head(path)?;
                let size = old.as_ref().map_or(0, |m| m.size);
                let len = match keep {
                    Keep::First(offset) if offset > size => {
                        return Err(StorageError::BadOffset {
                            path: path.clone(),
                            offset,
                            size,
                        })
                    }
                    Keep::First(offset) => offset,
                    _ => size,
                };
                Some(Kept {
                    len,
                    e_tag: old.and_then(|m| m.e_tag),
                    placed: false,
                    _claim: claim,
                })
            }
        };
        Ok(Box::new(ObjectUpload::new(
            [Arc::clone(&self.store), Arc::clone(&self.streams)],
            self.handle.clone(),
            Arc::clone(&self.active),
            Destination {
                location,
                path: path.clone(),
                no_clobber,
                kept,
            },
        )))
    }

    fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::AlreadyExists(path.clone()));
        }
        self.keys.dir(path)?;
        self.require_dir(&path.parent())?;
        if self.head(path)?.is_some() || self.dir_stat(path)?.is_some() {
            return Err(StorageError::AlreadyExists(path.clone()));
        }
        let markers = Arc::clone(&self.markers);
        let key = self.keys.dir_prefix(path);
        run(&self.handle, async move { markers.put(&key).await }).map_err(|e| StorageError::Io {
            path: path.clone(),
            source: io::Error::other(e),
        })
    }

    fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::InvalidName(ROOT_FIXED));
        }
        let prefix = self.keys.dir_prefix(path);
        let page =
            list::page(&self.store, &self.handle, &prefix, None, 2).map_err(|e| fail(path, e))?;
        let marker = self.keys.dir(path)?;
        let has_marker = page.result.objects.iter().any(|o| o.location == marker);
        let others = page.result.common_prefixes.len()
            + page
                .result
                .objects
                .iter()
                .filter(|o| o.location != marker)
                .count();
        if others > 0 {
            return Err(StorageError::NotEmpty(path.clone()));
        }
        if !has_marker {
            return Err(match self.head(path)? {
                Some(_) => StorageError::NotADirectory(path.clone()),
                None => StorageError::NotFound(path.clone()),
            });
        }
        let markers = Arc::clone(&self.markers);
        run(&self.handle, async move { markers.delete(&prefix).await }).map_err(|e| {
            StorageError::Io {
                path: path.clone(),
                source: io::Error::other(e),
            }
        })
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::InvalidName(ROOT_FIXED));
        }
        if self.head(path)?.is_none() {
            return Err(match self.dir_stat(path)? {
                Some(_) => StorageError::IsADirectory(path.clone()),
                None => StorageError::NotFound(path.clone()),
            });
        }
        let location = self.keys.file(path)?;
        let store = Arc::clone(&self.store);
        run(&self.handle, async move { store.delete(&location).await }).map_err(|e| fail(path, e))
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::InvalidName(ROOT_FIXED));
        }
        let source = self.keys.file(from)?;
        let target = self.keys.file(to)?;
        if self.head(from)?.is_none() {
            return Err(match self.dir_stat(from)? {
                // Renaming a directory means copying every object under
                // it, one request each, and is not atomic: refused.
                Some(_) => StorageError::Refused {
                    path: from.clone(),
                    reason: DIRECTORY_RENAME,
                },
                None => StorageError::NotFound(from.clone()),
            });
        }
        if from == to {
            return Ok(());
        }
        self.require_dir(&to.parent())?;
        if self.dir_stat(to)?.is_some() {
            return Err(StorageError::IsADirectory(to.clone()));
        }
        let store = Arc::clone(&self.store);
        let copied = source.clone();
        run(
            &self.handle,
            async move { store.copy(&copied, &target).await },
        )
        .map_err(|e| fail(from, e))?;
        let store = Arc::clone(&self.store);
        run(&self.handle, async move { store.delete(&source).await }).map_err(|e| fail(from, e))
    }

    fn unique_name(&self, dir: &VirtualPath, stem: &str) -> Result<VirtualPath, StorageError> {
        self.require_dir(dir)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = if n == 0 {
                stem.to_string()
            } else {
                format!("{stem}.{n}")
            };
            let candidate = dir.join(&name)?;
            if self.head(&candidate)?.is_none() && self.dir_stat(&candidate)?.is_none() {
                return Ok(candidate);
            }
        }
    }

    /// Nothing: incomplete multipart uploads in a shared bucket may be
    /// another server's, live. The bucket's lifecycle rule expires them.
    fn remove_stale_uploads(&self) -> Result<usize, StorageError> {
        Ok(0)
    }

    fn abort_active_uploads(&self) -> usize {
        upload::abort_all(&self.store, &self.handle, &self.active)
    }

    fn subtree(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, StorageError> {
        self.require_dir(home)?;
        let mut view = self.clone();
        view.keys = self.keys.subtree(home);
        view.name = format!("{} (home {home})", self.name).into();
        Ok(Arc::new(view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    const KEYS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "id"), ("AWS_SECRET_ACCESS_KEY", "sk")];

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        let c = S3Config::from_url("s3://b", None, env(&KEYS)).unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", ""));
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.endpoint_url(), "https://s3.us-east-1.amazonaws.com");
        let c = S3Config::from_url(
            "s3://b/team/ftp/",
            Some("http://127.0.0.1:9000".into()),
            env(&KEYS),
        )
        .unwrap();
        assert_eq!(c.prefix, "team/ftp/");
        assert_eq!(c.endpoint_url(), "http://127.0.0.1:9000");
        for bad in ["b", "s3://", "s3:///x", "http://b"] {
            assert!(
                matches!(
                    S3Config::from_url(bad, None, env(&KEYS)),
                    Err(S3Error::BadUrl(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn settings_come_from_the_standard_names_only() {
        let vars = [
            KEYS[0],
            KEYS[1],
            ("AWS_SESSION_TOKEN", "tok"),
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ENDPOINT_URL", "http://env:1"),
        ];
        let c = S3Config::from_url("s3://b", None, env(&vars)).unwrap();
        assert_eq!(c.session_token.as_deref(), Some("tok"));
        assert_eq!(c.region, "eu-west-3");
        assert_eq!(c.endpoint_url(), "http://env:1");
        // The flag wins over the variable.
        let c = S3Config::from_url("s3://b", Some("http://flag:2".into()), env(&vars)).unwrap();
        assert_eq!(c.endpoint_url(), "http://flag:2");
        assert!(matches!(
            S3Config::from_url("s3://b", None, env(&KEYS[..1])),
            Err(S3Error::NoCredentials)
        ));
        // The secret never shows in debug output.
        assert!(!format!("{c:?}").contains("sk"));
    }
}

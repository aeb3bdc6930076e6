//! Directories on an object store: ListObjectsV2 with the delimiter `/`,
//! one page (up to [`PAGE_KEYS`] keys) at a time, so that LIST of a prefix
//! with a million objects holds one page, never the whole listing.
//!
//! Common prefixes are directories, objects are files, and the directory's
//! own `dir/` marker is not an entry of itself. Objects have no modes or
//! inodes: files are listed `0o644`, directories `0o755`, with no MLSx
//! `unique` fact; a common prefix has no time of its own (the epoch).

use std::sync::Arc;
use std::time::SystemTime;

use object_store::aws::AmazonS3;
use object_store::list::{PaginatedListOptions, PaginatedListResult, PaginatedListStore};
use object_store::path::Path;
use object_store::ObjectMeta;
use tokio::runtime::Handle;

use super::keys::{fail, name_of};
use super::runtime::run;
use crate::storage::{Entry, Kind, Metadata, StorageError, VirtualPath};

/// Keys asked for per ListObjectsV2 request (S3's own maximum).
pub const PAGE_KEYS: usize = 1000;

/// One page of the entries directly under `prefix`.
pub fn page(
    store: &Arc<AmazonS3>,
    handle: &Handle,
    prefix: &str,
    token: Option<String>,
    max_keys: usize,
) -> object_store::Result<PaginatedListResult> {
    let options = PaginatedListOptions {
        delimiter: Some("/".into()),
        max_keys: Some(max_keys),
        page_token: token,
        ..PaginatedListOptions::default()
    };
    let prefix = prefix.to_string();
    let store = Arc::clone(store);
    run(handle, async move {
        let prefix = (!prefix.is_empty()).then_some(prefix.as_str());
        store.list_paginated(prefix, options).await
    })
}

/// Metadata of a file from its object.
pub fn file_meta(meta: &ObjectMeta) -> Metadata {
    Metadata {
        kind: Kind::File,
        len: meta.size,
        modified: SystemTime::from(meta.last_modified),
        mode: 0o644,
        nlink: 1,
        unique: None,
    }
}

/// Metadata of a directory (a prefix, with or without a marker).
pub fn dir_meta(modified: SystemTime) -> Metadata {
    Metadata {
        kind: Kind::Dir,
        len: 0,
        modified,
        mode: 0o755,
        nlink: 1,
        unique: None,
    }
}

/// A directory being listed, page by page.
pub struct Listing {
    pub store: Arc<AmazonS3>,
    pub handle: Handle,
    /// The directory's key prefix (`a/b/`, or the root's).
    pub prefix: String,
    /// The directory's marker as object_store names it (to skip).
    pub marker: Path,
    pub path: VirtualPath,
    /// Entries of the current page not handed out yet.
    pub entries: std::vec::IntoIter<Entry>,
    /// The next page's token; `None` after the last page.
    pub token: Option<String>,
    pub done: bool,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Listing {
    /// Takes in one page's entries.
    pub fn absorb(&mut self, page: PaginatedListResult) {
        let mut entries =
            Vec::with_capacity(page.result.common_prefixes.len() + page.result.objects.len());
        for prefix in &page.result.common_prefixes {
            entries.push(Entry {
                name: name_of(prefix),
                meta: dir_meta(SystemTime::UNIX_EPOCH),
                link_target: None,
            });
        }
        for object in &page.result.objects {
            if object.location == self.marker {
                continue;
            }
            entries.push(Entry {
                name: name_of(&object.location),
                meta: file_meta(object),
                link_target: None,
            });
        }
        self.entries = entries.into_iter();
        self.done = page.page_token.is_none();
        self.token = page.page_token;
    }
}

impl Iterator for Listing {
    type Item = Result<Entry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.entries.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match page(
                &self.store,
                &self.handle,
                &self.prefix,
                self.token.take(),
                PAGE_KEYS,
            ) {
                Ok(next) => self.absorb(next),
                Err(e) => {
                    self.done = true;
                    return Some(Err(fail(&self.path, e)));
                }
            }
        }
    }
}

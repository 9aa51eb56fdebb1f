//! The blob store: fetched attachments, kept by the SHA-256 of their bytes (so one file posted
//! twice is stored once, and a stored blob never changes). A directory under `DATA_DIR` by
//! default; S3-compatible object storage (`BLOB_STORE_URL=s3://bucket/prefix`) when several
//! machines serve the same blobs. Both through `object_store`, so the code that stores and serves
//! blobs is the same for either.

use std::sync::Arc;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::config::BlobStoreTarget;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("cannot open the blob store: {0}")]
    Open(String),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
}

#[derive(Clone, Debug)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

/// The hex SHA-256 of `bytes`: a blob's name.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where a blob lives: `sha256/ab/cd/abcd…` (two levels keep directories small).
fn path(sha: &str) -> Option<Path> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    Some(Path::from(format!("sha256/{}/{}/{sha}", &sha[..2], &sha[2..4])))
}

impl BlobStore {
    pub fn open(target: &BlobStoreTarget) -> Result<Self, BlobError> {
        let store: Arc<dyn ObjectStore> = match target {
            BlobStoreTarget::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| BlobError::Open(format!("{}: {e}", dir.display())))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(|e| BlobError::Open(e.to_string()))?)
            }
            BlobStoreTarget::S3 { bucket, prefix } => {
                let s3 = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| BlobError::Open(e.to_string()))?;
                if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                }
            }
        };
        Ok(Self { store })
    }

    /// Stores `bytes` and returns their SHA-256. Storing the same bytes again writes nothing new.
    pub async fn put(&self, bytes: Bytes) -> Result<String, BlobError> {
        let sha = digest(&bytes);
        let at = path(&sha).expect("a digest is a valid name");
        if self.store.head(&at).await.is_err() {
            self.store.put(&at, PutPayload::from(bytes)).await?;
        }
        Ok(sha)
    }

    /// The blob named `sha`, or `None` when there is none (or the name is not a digest).
    pub async fn get(&self, sha: &str) -> Result<Option<Bytes>, BlobError> {
        let Some(at) = path(sha) else { return Ok(None) };
        match self.store.get(&at).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_are_named_by_their_digest_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&BlobStoreTarget::Local(dir.path().join("blobs"))).unwrap();
        let sha = store.put(Bytes::from_static(b"chart")).await.unwrap();
        assert_eq!(sha, digest(b"chart"));
        assert_eq!(store.put(Bytes::from_static(b"chart")).await.unwrap(), sha);
        assert_eq!(store.get(&sha).await.unwrap().unwrap(), Bytes::from_static(b"chart"));
        assert!(
            dir.path()
                .join("blobs/sha256")
                .join(&sha[..2])
                .join(&sha[2..4])
                .join(&sha)
                .is_file()
        );
        assert_eq!(store.get(&digest(b"other")).await.unwrap(), None);
        for bad in ["../../etc/passwd", "ABC", &sha.to_uppercase()] {
            assert_eq!(store.get(bad).await.unwrap(), None, "{bad}");
        }
    }
}

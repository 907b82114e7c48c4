//! Uploads: streamed to a temporary file while hashed, size-limited, their
//! type checked from the bytes themselves, then renamed to their blake3
//! hash. Anything refused leaves nothing behind.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use smart_contracts::model::DocumentType;
use smart_ledger::Hash;
use tokio::io::AsyncWriteExt;

/// Why an upload is refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Over the size limit (413).
    #[error("the upload is larger than {0} bytes")]
    TooLarge(u64),
    /// Empty body.
    #[error("the upload is empty")]
    Empty,
    /// The bytes are not of a type the gateway takes (415).
    #[error("unsupported content: {0}")]
    Unsupported(String),
    /// The client went away or the body broke off.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The disk failed.
    #[error("storing the upload: {0}")]
    Io(#[from] std::io::Error),
}

/// Document types a client may upload.
pub const CLIENT_TYPES: [DocumentType; 5] = [
    DocumentType::ClientPo,
    DocumentType::MaterialCert,
    DocumentType::CertificateOfConformance,
    DocumentType::Feedback,
    DocumentType::ClientApproval,
];

/// The document type named in a query (`client_po`, `material_cert`, …).
pub fn parse_type(name: &str) -> Option<DocumentType> {
    let name = name.trim();
    CLIENT_TYPES.into_iter().find(|t| type_name(*t) == name)
}

/// The name of a client document type in the API.
pub fn type_name(t: DocumentType) -> &'static str {
    match t {
        DocumentType::ClientPo => "client_po",
        DocumentType::MaterialCert => "material_cert",
        DocumentType::CertificateOfConformance => "certificate_of_conformance",
        DocumentType::Feedback => "feedback",
        DocumentType::ClientApproval => "client_approval",
        _ => "other",
    }
}

/// What the bytes are, from their first bytes: PDF, PNG, JPEG, or UTF-8
/// text (plain, CSV, JSON). Anything else is refused.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if !head.is_empty() && is_text(head) {
        Some("text/plain")
    } else {
        None
    }
}

fn is_text(head: &[u8]) -> bool {
    // A multi-byte character may be cut at the end of the sniffed prefix.
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    };
    valid
        && !head
            .iter()
            .any(|b| *b == 0 || (*b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t')))
}

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Stored {
    /// blake3 of the bytes.
    pub hash: Hash,
    /// Size.
    pub bytes: u64,
    /// Sniffed type.
    pub content_type: &'static str,
    /// Where it is.
    pub path: PathBuf,
}

/// Deletes the temporary file unless the upload completed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Streams `body` into `dir`, refusing it past `max` bytes or when its
/// bytes are of no accepted type. Stored as `dir/<blake3 hex>`.
pub async fn store(dir: &Path, body: axum::body::Body, max: u64) -> Result<Stored, UploadError> {
    tokio::fs::create_dir_all(dir).await?;
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp_path = dir.join(format!(".upload-{}", hex::encode(nonce)));
    let mut guard = TempFile(Some(tmp_path.clone()));
    let mut file = tokio::fs::File::create(&tmp_path).await?;
    let mut hasher = blake3::Hasher::new();
    let mut head: Vec<u8> = Vec::with_capacity(512);
    let mut total = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            let text = e.to_string();
            if text.contains("length limit") {
                UploadError::TooLarge(max)
            } else {
                UploadError::Body(text)
            }
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(UploadError::TooLarge(max));
        }
        if head.len() < 512 {
            let take = (512 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    if total == 0 {
        return Err(UploadError::Empty);
    }
    let content_type = sniff(&head).ok_or_else(|| {
        UploadError::Unsupported("not a PDF, PNG, JPEG or UTF-8 text document".into())
    })?;
    file.sync_all().await?;
    drop(file);
    let hash = Hash(*hasher.finalize().as_bytes());
    let path = dir.join(hash.to_string());
    tokio::fs::rename(&tmp_path, &path).await?;
    guard.0 = None;
    Ok(Stored {
        hash,
        bytes: total,
        content_type,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_takes_documents_and_refuses_binaries() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"PO 4471\nqty 120\n"), Some("text/plain"));
        assert_eq!(sniff("Prüfbericht".as_bytes()), Some("text/plain"));
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), None);
        assert_eq!(sniff(b"MZ\x90\0\x03"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn only_client_types_parse() {
        assert_eq!(parse_type("client_po"), Some(DocumentType::ClientPo));
        assert_eq!(parse_type("procedure"), None);
        assert_eq!(parse_type("../../x"), None);
    }

    #[tokio::test]
    async fn an_oversized_upload_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let body = axum::body::Body::from(vec![b'a'; 2048]);
        let r = store(dir.path(), body, 1024).await;
        assert!(matches!(r, Err(UploadError::TooLarge(1024))), "{r:?}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
        let ok = store(dir.path(), axum::body::Body::from("PO 4471"), 1024)
            .await
            .expect("stored");
        assert_eq!(ok.hash, Hash::of(b"PO 4471"));
        assert_eq!(std::fs::read(&ok.path).expect("read"), b"PO 4471");
    }
}

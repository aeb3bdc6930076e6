//! One error type for everything a command can fail on, and the one place
//! where failures become reply codes (RFC 959 §4.2).
//!
//! The code tells a client what kind of failure it was (syntax 50x, file
//! 55x, local 45x, data connection 425/426); the text says what failed and
//! why in words a user can act on. Nothing else in the server chooses a
//! failure code: the session and the transfer code produce [`Failure`]s and
//! call [`Failure::reply`].

use std::io;

use crate::protocol::{CommandError, Reply, ReplyCode};
use crate::storage::{StorageError, VirtualPath};
use crate::transport::data::DataError;

/// Why a command or a transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line could not be understood.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A storage operation outside a transfer.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No data connection could be set up.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The account lacks the permission for this (550, naming it).
    #[error(transparent)]
    Denied(#[from] crate::server::accounts::Denied),
    /// A rename that would move a subtree with permissions of its own (550).
    #[error(transparent)]
    CarriesOverride(#[from] crate::server::accounts::CarriesOverride),
    /// MLSD of something that is not a directory (RFC 3659 §7.2.1: 501).
    #[error("MLSD lists directories and {0} is not one; use MLST for a file")]
    MlsdOfAFile(VirtualPath),
    /// A transfer that started (150 was sent) and did not end well.
    #[error("transfer of {path} {error}")]
    Transfer {
        path: VirtualPath,
        error: TransferError,
    },
}

/// How a transfer failed after its 150 reply.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// ABOR cut it before it completed.
    #[error("aborted by ABOR")]
    Aborted,
    /// The data connection never opened.
    #[error("failed: {0}")]
    NoConnection(DataError),
    /// The data connection failed: the peer closed, reset or stalled.
    #[error("failed: {}", network_text(.0))]
    Network(io::Error),
    /// The storage failed while the data moved (a full disk, a quota).
    #[error("failed: {}", storage_text(.0))]
    Storage(StorageError),
    /// Everything arrived but the upload could not be put in place.
    #[error("failed: the upload could not be put in place: {0}")]
    Commit(StorageError),
}

impl TransferError {
    /// The outcome as the transfer log line states it.
    pub fn log_text(&self) -> String {
        match self {
            TransferError::Aborted => "aborted by ABOR".to_string(),
            TransferError::NoConnection(e) => e.to_string(),
            TransferError::Network(e) => network_text(e),
            TransferError::Storage(e) => storage_text(e),
            TransferError::Commit(e) => format!("the upload could not be put in place: {e}"),
        }
    }
}

/// Words for a failed data connection that a user can act on.
fn network_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "the data connection stalled and timed out".to_string()
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => {
            "the data connection was closed by the client before the end".to_string()
        }
        _ => e.to_string(),
    }
}

/// Words for a storage failure in the middle of a transfer.
fn storage_text(e: &StorageError) -> String {
    match e {
        StorageError::NoSpace { .. } => {
            "no space left on the server's disk; nothing was kept".to_string()
        }
        StorageError::OverQuota { .. } => {
            "the disk quota or the file-size limit is exceeded; nothing was kept".to_string()
        }
        e => e.to_string(),
    }
}

/// The code of a storage failure.
fn storage_code(e: &StorageError) -> ReplyCode {
    match e {
        StorageError::InvalidName(_) => ReplyCode::BAD_FILE_NAME,
        StorageError::NoSpace { .. } => ReplyCode::INSUFFICIENT_STORAGE,
        StorageError::OverQuota { .. } => ReplyCode::EXCEEDED_STORAGE,
        StorageError::Io { .. } => ReplyCode::LOCAL_ERROR,
        StorageError::Unsupported(_) => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
        // 450, a transient refusal: the same command succeeds later.
        StorageError::Busy(_) => ReplyCode::FILE_BUSY,
        StorageError::BadOffset { .. }
        | StorageError::NotFound(_)
        | StorageError::PermissionDenied(_)
        | StorageError::NotADirectory(_)
        | StorageError::IsADirectory(_)
        | StorageError::NotAFile(_)
        | StorageError::AlreadyExists(_)
        | StorageError::NotEmpty(_)
        | StorageError::Refused { .. } => ReplyCode::FILE_UNAVAILABLE,
    }
}

impl Failure {
    /// The reply code of this failure.
    pub fn code(&self) -> ReplyCode {
        match self {
            Failure::Command(e) => match e {
                CommandError::UnknownVerb(_) if e.is_not_implemented() => {
                    ReplyCode::NOT_IMPLEMENTED
                }
                CommandError::Syntax | CommandError::UnknownVerb(_) => ReplyCode::SYNTAX_ERROR,
                CommandError::MissingArgument(_) | CommandError::BadArgument { .. } => {
                    ReplyCode::ARGUMENT_ERROR
                }
                CommandError::UnsupportedParameter { .. } => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            },
            Failure::Storage(e) => storage_code(e),
            Failure::MlsdOfAFile(_) => ReplyCode::ARGUMENT_ERROR,
            Failure::Denied(_) | Failure::CarriesOverride(_) => ReplyCode::FILE_UNAVAILABLE,
            Failure::Data(_) => ReplyCode::CANT_OPEN_DATA,
            Failure::Transfer { error, .. } => match error {
                TransferError::Aborted | TransferError::Network(_) => ReplyCode::TRANSFER_ABORTED,
                TransferError::NoConnection(_) => ReplyCode::CANT_OPEN_DATA,
                // A disk that fails mid-upload is the server's trouble, not
                // the network's: 452/552 for space, 451 for the rest.
                TransferError::Storage(e) => match storage_code(e) {
                    code @ (ReplyCode::INSUFFICIENT_STORAGE | ReplyCode::EXCEEDED_STORAGE) => code,
                    _ => ReplyCode::LOCAL_ERROR,
                },
                TransferError::Commit(_) => ReplyCode::LOCAL_ERROR,
            },
        }
    }

    /// The reply: the code and what failed, and why.
    pub fn reply(&self) -> Reply {
        let code = self.code();
        let text = match self {
            Failure::Command(e) if code == ReplyCode::NOT_IMPLEMENTED => {
                format!("{e}: not implemented by this server")
            }
            Failure::Transfer {
                error: TransferError::NoConnection(e),
                ..
            } => e.to_string(),
            other => other.to_string(),
        };
        Reply::new(code, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    fn transfer(error: TransferError) -> Failure {
        Failure::Transfer {
            path: v("f"),
            error,
        }
    }

    #[test]
    fn disk_failures_during_uploads_are_never_426() {
        let full = transfer(TransferError::Storage(StorageError::NoSpace {
            path: v("f"),
        }));
        assert_eq!(full.code(), ReplyCode::INSUFFICIENT_STORAGE);
        let quota = transfer(TransferError::Storage(StorageError::OverQuota {
            path: v("f"),
        }));
        assert_eq!(quota.code(), ReplyCode::EXCEEDED_STORAGE);
        let eio = transfer(TransferError::Storage(StorageError::Io {
            path: v("f"),
            source: io::Error::other("EIO"),
        }));
        assert_eq!(eio.code(), ReplyCode::LOCAL_ERROR);
        let commit = transfer(TransferError::Commit(StorageError::NotFound(v("f"))));
        assert_eq!(commit.code(), ReplyCode::LOCAL_ERROR);
    }

    #[test]
    fn network_failures_are_426_and_say_why() {
        let reset = transfer(TransferError::Network(
            io::ErrorKind::ConnectionReset.into(),
        ));
        assert_eq!(reset.code(), ReplyCode::TRANSFER_ABORTED);
        assert_eq!(
            reset.reply().text(),
            "transfer of /f failed: the data connection was closed by the client before the end"
        );
        let aborted = transfer(TransferError::Aborted);
        assert_eq!(aborted.reply().text(), "transfer of /f aborted by ABOR");
    }

    #[test]
    fn command_errors_keep_their_codes() {
        let unknown = Failure::from(CommandError::UnknownVerb("SITE".into()));
        assert_eq!(unknown.code(), ReplyCode::NOT_IMPLEMENTED);
        assert!(unknown
            .reply()
            .text()
            .ends_with("not implemented by this server"));
        let bogus = Failure::from(CommandError::UnknownVerb("BOGUS".into()));
        assert_eq!(bogus.code(), ReplyCode::SYNTAX_ERROR);
        let missing = Failure::from(CommandError::MissingArgument("RETR"));
        assert_eq!(missing.code(), ReplyCode::ARGUMENT_ERROR);
        let name = Failure::from(StorageError::InvalidName("x"));
        assert_eq!(name.code(), ReplyCode::BAD_FILE_NAME);
    }
}

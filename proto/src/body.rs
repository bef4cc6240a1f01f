//! Facts about message kinds that both ends need: which are sequenced, which are requests, and
//! their names for logs.

use crate::v1::envelope::Body;

impl Body {
    /// True for reliable kinds, which carry a sequence number and are replayed after a resume.
    /// Handshake, heartbeats, acks, close and path information are unsequenced (PROTOCOL.md §4).
    pub fn is_sequenced(&self) -> bool {
        !matches!(
            self,
            Body::Hello(_)
                | Body::Welcome(_)
                | Body::Ping(_)
                | Body::Pong(_)
                | Body::AckOnly(_)
                | Body::Close(_)
                | Body::PathQuery(_)
                | Body::PathInfo(_)
        )
    }

    /// The request id of a request or answer, if this kind has one (0 is "none").
    pub fn request_id(&self) -> Option<u64> {
        let id = match self {
            Body::Error(m) => m.request_id,
            Body::AgentList(m) => m.request_id,
            Body::AgentListResult(m) => m.request_id,
            Body::FsList(m) => m.request_id,
            Body::FsListResult(m) => m.request_id,
            Body::FsStat(m) => m.request_id,
            Body::FsStatResult(m) => m.request_id,
            Body::FsRead(m) => m.request_id,
            Body::FsReadResult(m) => m.request_id,
            Body::FsWrite(m) => m.request_id,
            Body::FsWriteResult(m) => m.request_id,
            Body::FsDelete(m) => m.request_id,
            Body::FsRename(m) => m.request_id,
            Body::FsMkdir(m) => m.request_id,
            Body::FsDone(m) => m.request_id,
            Body::FsWatch(m) => m.request_id,
            Body::SyncPull(m) => m.request_id,
            Body::SyncPatch(m) => m.request_id,
            Body::SyncResult(m) => m.request_id,
            Body::GitStatus(m) => m.request_id,
            Body::GitStatusResult(m) => m.request_id,
            Body::GitDiff(m) => m.request_id,
            Body::GitDiffResult(m) => m.request_id,
            Body::GitLog(m) => m.request_id,
            Body::GitLogResult(m) => m.request_id,
            Body::GitStage(m) => m.request_id,
            Body::GitCommit(m) => m.request_id,
            Body::GitCommitResult(m) => m.request_id,
            Body::GitDone(m) => m.request_id,
            Body::SessionList(m) => m.request_id,
            Body::SessionListResult(m) => m.request_id,
            Body::PathQuery(m) => m.request_id,
            Body::PathInfo(m) => m.request_id,
            _ => return None,
        };
        (id != 0).then_some(id)
    }

    /// The kind's name as in `devtail.proto`'s `Envelope.body` (for logs and errors).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Hello(_) => "hello",
            Body::Welcome(_) => "welcome",
            Body::Ping(_) => "ping",
            Body::Pong(_) => "pong",
            Body::Error(_) => "error",
            Body::Close(_) => "close",
            Body::AckOnly(_) => "ack_only",
            Body::TermOpen(_) => "term_open",
            Body::TermOpened(_) => "term_opened",
            Body::TermData(_) => "term_data",
            Body::TermResize(_) => "term_resize",
            Body::TermExit(_) => "term_exit",
            Body::TermSnapshot(_) => "term_snapshot",
            Body::TermTitle(_) => "term_title",
            Body::TermClipboard(_) => "term_clipboard",
            Body::TermClose(_) => "term_close",
            Body::TermSignal(_) => "term_signal",
            Body::AgentStart(_) => "agent_start",
            Body::AgentStarted(_) => "agent_started",
            Body::AgentEvent(_) => "agent_event",
            Body::AgentPermissionAnswer(_) => "agent_permission_answer",
            Body::AgentSend(_) => "agent_send",
            Body::AgentInterrupt(_) => "agent_interrupt",
            Body::AgentStop(_) => "agent_stop",
            Body::AgentList(_) => "agent_list",
            Body::AgentListResult(_) => "agent_list_result",
            Body::FsList(_) => "fs_list",
            Body::FsListResult(_) => "fs_list_result",
            Body::FsStat(_) => "fs_stat",
            Body::FsStatResult(_) => "fs_stat_result",
            Body::FsRead(_) => "fs_read",
            Body::FsReadResult(_) => "fs_read_result",
            Body::FileChunk(_) => "file_chunk",
            Body::FsWrite(_) => "fs_write",
            Body::FsWriteResult(_) => "fs_write_result",
            Body::FsDelete(_) => "fs_delete",
            Body::FsRename(_) => "fs_rename",
            Body::FsMkdir(_) => "fs_mkdir",
            Body::FsDone(_) => "fs_done",
            Body::FsWatch(_) => "fs_watch",
            Body::FsUnwatch(_) => "fs_unwatch",
            Body::FsChanges(_) => "fs_changes",
            Body::SyncPull(_) => "sync_pull",
            Body::SyncPatch(_) => "sync_patch",
            Body::SyncResult(_) => "sync_result",
            Body::GitStatus(_) => "git_status",
            Body::GitStatusResult(_) => "git_status_result",
            Body::GitDiff(_) => "git_diff",
            Body::GitDiffResult(_) => "git_diff_result",
            Body::GitLog(_) => "git_log",
            Body::GitLogResult(_) => "git_log_result",
            Body::GitStage(_) => "git_stage",
            Body::GitCommit(_) => "git_commit",
            Body::GitCommitResult(_) => "git_commit_result",
            Body::GitDone(_) => "git_done",
            Body::SessionList(_) => "session_list",
            Body::SessionListResult(_) => "session_list_result",
            Body::Attach(_) => "attach",
            Body::Detach(_) => "detach",
            Body::PathQuery(_) => "path_query",
            Body::PathInfo(_) => "path_info",
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::v1;
    use crate::v1::envelope::Body;

    #[test]
    fn handshake_and_heartbeats_are_unsequenced() {
        assert!(!Body::Ping(v1::Ping { nonce: 1 }).is_sequenced());
        assert!(!Body::Hello(v1::Hello::default()).is_sequenced());
        assert!(Body::TermData(v1::TermData::default()).is_sequenced());
        assert!(Body::Error(v1::Error::default()).is_sequenced());
    }

    #[test]
    fn request_ids_are_found() {
        assert_eq!(
            Body::FsStat(v1::FsStat {
                request_id: 4,
                ..Default::default()
            })
            .request_id(),
            Some(4)
        );
        assert_eq!(
            Body::GitStatus(v1::GitStatus { request_id: 0 }).request_id(),
            None
        );
        assert_eq!(Body::TermData(v1::TermData::default()).request_id(), None);
        assert_eq!(Body::TermData(v1::TermData::default()).kind(), "term_data");
    }
}

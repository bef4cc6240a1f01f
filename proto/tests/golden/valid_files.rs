//! Golden vectors of files, sync and git.

use super::*;

pub(super) fn push(v: &mut Vec<Valid>) {
    // ───── files and sync ─────
    v.push(one(
        "fs_list",
        "List src/ (request 42).",
        env(
            12,
            17,
            0,
            Body::FsList(FsList {
                request_id: 42,
                path: "src".into(),
                recursive: false,
                include_hidden: false,
            }),
        ),
    ));
    v.push(one(
        "fs_list_result",
        "A directory and a file.",
        env(
            18,
            12,
            0,
            Body::FsListResult(FsListResult {
                request_id: 42,
                entries: vec![
                    file("src/bin", FileKind::Dir, 0, None),
                    file("src/main.rs", FileKind::File, 1834, None),
                ],
                truncated: false,
            }),
        ),
    ));
    v.push(one(
        "fs_stat",
        "Stat a file with its hash (request 43).",
        env(
            13,
            18,
            0,
            Body::FsStat(FsStat {
                request_id: 43,
                path: "src/main.rs".into(),
                with_hash: true,
            }),
        ),
    ));
    v.push(one(
        "fs_stat_result",
        "The file's metadata and SHA-256.",
        env(
            19,
            13,
            0,
            Body::FsStatResult(FsStatResult {
                request_id: 43,
                info: Some(file("src/main.rs", FileKind::File, 1834, Some(1))),
            }),
        ),
    ));
    v.push(one(
        "fs_read",
        "Read a whole file on new channel 5 (request 44).",
        env(
            14,
            19,
            5,
            Body::FsRead(FsRead {
                request_id: 44,
                path: "src/main.rs".into(),
                offset: 0,
                length: 0,
            }),
        ),
    ));
    v.push(one(
        "fs_read_result",
        "The read begins: FileChunk frames follow on channel 5.",
        env(
            20,
            14,
            5,
            Body::FsReadResult(FsReadResult {
                request_id: 44,
                info: Some(file("src/main.rs", FileKind::File, 1834, Some(1))),
            }),
        ),
    ));
    v.push(one(
        "file_chunk",
        "The last chunk of a transfer.",
        env(
            21,
            14,
            5,
            Body::FileChunk(FileChunk {
                offset: 1792,
                data: Bytes::from_static(b"    Ok(())\n}\n"),
                eof: true,
            }),
        ),
    ));
    v.push(one(
        "fs_write",
        "Write a file on channel 7 if it still has the given hash; 13 bytes follow.",
        env(
            15,
            21,
            7,
            Body::FsWrite(FsWrite {
                request_id: 45,
                path: "notes.txt".into(),
                precondition: Some(fs_write::Precondition::BaseSha256(sha(2))),
                size: 13,
                mode: 0,
                create_parents: false,
            }),
        ),
    ));
    v.push(one(
        "fs_write_result",
        "The file was written atomically.",
        env(
            22,
            16,
            7,
            Body::FsWriteResult(FsWriteResult {
                request_id: 45,
                info: Some(file("notes.txt", FileKind::File, 13, Some(3))),
            }),
        ),
    ));
    v.push(one(
        "fs_delete",
        "Delete a directory tree.",
        env(
            17,
            22,
            0,
            Body::FsDelete(FsDelete {
                request_id: 46,
                path: "build/tmp".into(),
                recursive: true,
                base_sha256: Bytes::new(),
            }),
        ),
    ));
    v.push(one(
        "fs_rename",
        "Rename without overwriting.",
        env(
            18,
            22,
            0,
            Body::FsRename(FsRename {
                request_id: 47,
                from: "notes.txt".into(),
                to: "docs/notes.txt".into(),
                overwrite: false,
            }),
        ),
    ));
    v.push(one(
        "fs_mkdir",
        "Create a directory and its parents.",
        env(
            19,
            22,
            0,
            Body::FsMkdir(FsMkdir {
                request_id: 48,
                path: "docs/img".into(),
                parents: true,
            }),
        ),
    ));
    v.push(one(
        "fs_done",
        "The mkdir succeeded.",
        env(
            23,
            19,
            0,
            Body::FsDone(FsDone {
                request_id: 48,
                info: Some(file("docs/img", FileKind::Dir, 0, None)),
            }),
        ),
    ));
    v.push(one(
        "fs_watch",
        "Watch the workspace recursively on channel 9, leaving out target/.",
        env(
            20,
            23,
            9,
            Body::FsWatch(FsWatch {
                request_id: 49,
                path: String::new(),
                recursive: true,
                ignore: vec!["target/**".into()],
            }),
        ),
    ));
    v.push(one(
        "fs_unwatch",
        "Stop the watch on channel 9.",
        env(21, 23, 9, Body::FsUnwatch(FsUnwatch {})),
    ));
    v.push(one(
        "fs_changes",
        "A batch of changes: one file modified, one renamed.",
        env(
            24,
            20,
            9,
            Body::FsChanges(FsChanges {
                changes: vec![
                    FsChange {
                        kind: ChangeKind::Modified as i32,
                        path: "src/main.rs".into(),
                        from: String::new(),
                        info: Some(file("src/main.rs", FileKind::File, 1840, None)),
                    },
                    FsChange {
                        kind: ChangeKind::Renamed as i32,
                        path: "docs/notes.txt".into(),
                        from: "notes.txt".into(),
                        info: Some(file("docs/notes.txt", FileKind::File, 13, None)),
                    },
                ],
            }),
        ),
    ));
    v.push(one(
        "sync_pull",
        "Ask for src/main.rs relative to the copy the client holds.",
        env(
            22,
            24,
            0,
            Body::SyncPull(SyncPull {
                request_id: 50,
                path: "src/main.rs".into(),
                base_sha256: sha(1),
            }),
        ),
    ));
    v.push(one(
        "sync_patch",
        "The new content as a delta: copy 1800 bytes of the base, insert 7, copy the last 34.",
        env(
            25,
            22,
            0,
            Body::SyncPatch(SyncPatch {
                request_id: 50,
                path: "src/main.rs".into(),
                base_sha256: sha(1),
                new_sha256: sha(4),
                content: Some(sync_patch::Content::Delta(Delta {
                    ops: vec![
                        DeltaOp {
                            op: Some(delta_op::Op::Copy(CopyRange {
                                offset: 0,
                                len: 1800,
                            })),
                        },
                        DeltaOp {
                            op: Some(delta_op::Op::Insert(Bytes::from_static(b"// done\n"))),
                        },
                        DeltaOp {
                            op: Some(delta_op::Op::Copy(CopyRange {
                                offset: 1800,
                                len: 34,
                            })),
                        },
                    ],
                })),
                mode: 0o644,
            }),
        ),
    ));
    v.push(one(
        "sync_result",
        "A pushed patch was applied.",
        env(
            26,
            23,
            0,
            Body::SyncResult(SyncResult {
                request_id: 51,
                info: Some(file("src/lib.rs", FileKind::File, 4021, Some(5))),
            }),
        ),
    ));

    // ───── git ─────
    v.push(one(
        "git_status",
        "Ask for git status.",
        env(24, 26, 0, Body::GitStatus(GitStatus { request_id: 52 })),
    ));
    v.push(one(
        "git_status_result",
        "On main, one commit ahead, one staged and one untracked file.",
        env(
            27,
            24,
            0,
            Body::GitStatusResult(GitStatusResult {
                request_id: 52,
                branch: "main".into(),
                head: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
                upstream: "origin/main".into(),
                ahead: 1,
                behind: 0,
                files: vec![
                    GitFileStatus {
                        path: "src/status.rs".into(),
                        old_path: String::new(),
                        staged: GitChange::Modified as i32,
                        unstaged: GitChange::Unmodified as i32,
                    },
                    GitFileStatus {
                        path: "notes.txt".into(),
                        old_path: String::new(),
                        staged: GitChange::Unmodified as i32,
                        unstaged: GitChange::Untracked as i32,
                    },
                ],
            }),
        ),
    ));
    v.push(one(
        "git_diff",
        "Staged diff of one path.",
        env(
            25,
            27,
            0,
            Body::GitDiff(GitDiff {
                request_id: 53,
                paths: vec!["src/status.rs".into()],
                staged: true,
                context_lines: 0,
            }),
        ),
    ));
    v.push(one(
        "git_diff_result",
        "The diff and its counts.",
        env(28, 25, 0, Body::GitDiffResult(GitDiffResult {
            request_id: 53,
            unified_diff: "diff --git a/src/status.rs b/src/status.rs\n--- a/src/status.rs\n+++ b/src/status.rs\n@@ -1,2 +1,3 @@\n struct Args {\n+    json: bool,\n }\n".into(),
            files_changed: 1,
            insertions: 1,
            deletions: 0,
        })),
    ));
    v.push(one(
        "git_log",
        "The last 2 commits.",
        env(
            26,
            28,
            0,
            Body::GitLog(GitLog {
                request_id: 54,
                limit: 2,
                rev: String::new(),
                path: String::new(),
            }),
        ),
    ));
    v.push(one(
        "git_log_result",
        "One commit with its parent.",
        env(
            29,
            26,
            0,
            Body::GitLogResult(GitLogResult {
                request_id: 54,
                commits: vec![GitCommitInfo {
                    id: "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
                    summary: "Add status --json".into(),
                    author_name: "Ada Lovelace".into(),
                    author_email: "ada@example.com".into(),
                    time_unix_s: 1_795_000_000,
                    parents: vec!["4b825dc642cb6eb9a060e54bf8d69288fbee4904".into()],
                }],
            }),
        ),
    ));
    v.push(one(
        "git_stage",
        "Stage everything.",
        env(
            27,
            29,
            0,
            Body::GitStage(GitStage {
                request_id: 55,
                paths: vec![],
                all: true,
                unstage: false,
            }),
        ),
    ));
    v.push(one(
        "git_done",
        "Staging succeeded.",
        env(30, 27, 0, Body::GitDone(GitDone { request_id: 55 })),
    ));
    v.push(one(
        "git_commit",
        "Commit the index.",
        env(
            28,
            30,
            0,
            Body::GitCommit(GitCommit {
                request_id: 56,
                message: "Update notes".into(),
                amend: false,
            }),
        ),
    ));
    v.push(one(
        "git_commit_result",
        "The new commit's id.",
        env(
            31,
            28,
            0,
            Body::GitCommitResult(GitCommitResult {
                request_id: 56,
                commit_id: "1a410efbd13591db07496601ebc7a059dd55cfe9".into(),
            }),
        ),
    ));
}

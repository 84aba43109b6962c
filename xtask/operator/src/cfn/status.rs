//! What a stack's status says, as the SDK's `StackStatus` (pure). A status
//! this SDK does not know yet (`Unknown`) is read by its name.

use aws_sdk_cloudformation::types::StackStatus;

/// Whether no operation runs on a stack in `status`. `REVIEW_IN_PROGRESS` is
/// settled too: a stack waiting for a change set to be executed (or whose
/// execution was refused) stays there.
pub fn is_settled(status: &StackStatus) -> bool {
    use StackStatus as S;
    match status {
        S::CreateInProgress
        | S::DeleteInProgress
        | S::ImportInProgress
        | S::ImportRollbackInProgress
        | S::RollbackInProgress
        | S::UpdateCompleteCleanupInProgress
        | S::UpdateInProgress
        | S::UpdateRollbackCompleteCleanupInProgress
        | S::UpdateRollbackInProgress => false,
        S::ReviewInProgress => true,
        other => !other.as_str().ends_with("_IN_PROGRESS"),
    }
}

/// A stack that holds no resources and cannot be updated: a failed first
/// create (`ROLLBACK_COMPLETE`), or a create change set never executed
/// (`REVIEW_IN_PROGRESS`). It can only be deleted and created again.
pub fn holds_nothing(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::RollbackComplete | StackStatus::ReviewInProgress
    )
}

/// A failure kept as it failed (`--no-rollback`): `CREATE_FAILED`,
/// `UPDATE_FAILED`.
pub fn kept_failure(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::CreateFailed | StackStatus::UpdateFailed
    )
}

/// Whether the status means something failed (or was rolled back).
pub fn failed(status: &StackStatus) -> bool {
    let name = status.as_str();
    name.contains("FAILED") || name.contains("ROLLBACK")
}

/// Whether the last operation completed (`…_COMPLETE`, rollbacks included).
pub fn complete(status: &StackStatus) -> bool {
    status.as_str().ends_with("_COMPLETE")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_in_progress_are_waited_for() {
        for status in [
            StackStatus::CreateInProgress,
            StackStatus::UpdateCompleteCleanupInProgress,
            StackStatus::DeleteInProgress,
            StackStatus::from("SOMETHING_NEW_IN_PROGRESS"),
        ] {
            assert!(!is_settled(&status), "{status}");
        }
        for status in [
            StackStatus::CreateComplete,
            StackStatus::RollbackComplete,
            StackStatus::ReviewInProgress,
            StackStatus::DeleteComplete,
        ] {
            assert!(is_settled(&status), "{status}");
        }
    }

    #[test]
    fn failures_and_completions() {
        assert!(failed(&StackStatus::UpdateRollbackComplete));
        assert!(failed(&StackStatus::CreateFailed));
        assert!(!failed(&StackStatus::UpdateComplete));
        assert!(complete(&StackStatus::UpdateRollbackComplete));
        assert!(!complete(&StackStatus::UpdateInProgress));
        assert!(holds_nothing(&StackStatus::RollbackComplete));
        assert!(!holds_nothing(&StackStatus::UpdateRollbackComplete));
        assert!(kept_failure(&StackStatus::UpdateFailed));
        assert!(!kept_failure(&StackStatus::RollbackFailed));
    }
}

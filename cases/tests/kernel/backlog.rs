//! The cases of `netcase_cases::backlog`.

//! The cases of `netcase_cases::time_wait`.

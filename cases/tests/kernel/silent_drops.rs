//! The cases of `netcase_cases::silent_drops`.

//! The cases of `netcase_cases::keepalive`.
